"""scbench: a Snakemake benchmark of single-cell clustering methods around AttentionAE-sc.

This package is imported inside every method environment, including old stacks (numpy<2,
anndata<0.11): keep this file free of imports.
"""
