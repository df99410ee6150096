"""Louvain (scanpy): the scanpy standard pipeline, then Louvain.

Backend: ``sc.tl.louvain(flavor="igraph")`` = igraph's ``community_multilevel`` (Blondel et al.'s
Louvain), unweighted like scanpy's default (``use_weights=False``), modularity at resolution 1.
The ``louvain`` package (scanpy's default flavor "vtraag") needs igraph<0.12 and cannot share the
project environment (igraph 1.0). igraph draws from Python's ``random``, which is seeded here.
Embedding: the PCA.
"""

from __future__ import annotations

import random

from ._common import resolve_params
from ._scanpy import PIPELINE_DEFAULTS, neighbors, pca
from .registry import MethodOutput

REQUIRES = ("scanpy", "igraph")  # missing -> unavailable

DEFAULTS = dict(PIPELINE_DEFAULTS)


def run(adata, *, seed, threads, device, n_clusters, params):
    import scanpy as sc

    settings = resolve_params("louvain", DEFAULTS, params)
    data = pca(adata, seed=seed, settings=settings)
    neighbors(data, seed=seed, settings=settings)
    random.seed(seed)
    sc.tl.louvain(data, flavor="igraph", key_added="cluster")
    settings["backend"] = "igraph community_multilevel (scanpy flavor='igraph', unweighted)"
    labels = data.obs["cluster"].astype(int).to_numpy()
    return MethodOutput(labels=labels, embedding=data.obsm["X_pca"], extra={"settings": settings})
