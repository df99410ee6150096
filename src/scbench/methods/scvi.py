"""scvi-tools: SCVI latent space -> kNN graph (15 neighbours) -> Leiden at resolution 1.0.

Genes: the same 2500 highly variable genes as the scanpy baselines (scanpy "seurat" flavor on
log-normalised data), with their raw counts as SCVI's input. Model and training are scvi-tools'
defaults (n_latent 10, max_epochs from scvi's size heuristic, batch 128) unless overridden by
params (tests use a small ``max_epochs``). Seeded via ``scvi.settings.seed``; torch threads =
``threads``; GPU when ``device == "cuda"``. Embedding: the SCVI latent mean.
"""

from __future__ import annotations

import logging
import warnings

from ._common import resolve_params
from ._scanpy import leiden, log_normalize, neighbors, select_hvg
from .registry import MethodOutput

REQUIRES = ("scvi", "torch", "scanpy", "leidenalg")  # missing -> unavailable

DEFAULTS = {
    "n_top_genes": 2500,
    "n_latent": 10,
    "max_epochs": None,
    "batch_size": 128,
    "n_neighbors": 15,
    "resolution": 1.0,
}


def run(adata, *, seed, threads, device, n_clusters, params):
    import scanpy as sc
    import scvi
    import torch

    settings = resolve_params("scvi", DEFAULTS, params)
    scvi.settings.seed = seed
    scvi.settings.dl_num_workers = 0
    torch.set_num_threads(threads)
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "scvi"):
        logging.getLogger(name).setLevel(logging.WARNING)

    counts = adata.copy()
    sc.pp.filter_genes(counts, min_counts=1)
    genes = select_hvg(log_normalize(counts), settings["n_top_genes"]).var_names
    counts = counts[:, genes].copy()
    settings["n_hvg_used"] = int(counts.n_vars)

    scvi.model.SCVI.setup_anndata(counts)
    model = scvi.model.SCVI(counts, n_latent=settings["n_latent"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(max_epochs=settings["max_epochs"], batch_size=settings["batch_size"],
                    accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                    enable_progress_bar=False)
    settings["epochs_run"] = int(len(model.history["elbo_train"]))
    counts.obsm["X_scVI"] = model.get_latent_representation()
    neighbors(counts, seed=seed, settings=settings, use_rep="X_scVI")
    labels = leiden(counts, seed=seed, resolution=settings["resolution"])
    return MethodOutput(labels=labels, embedding=counts.obsm["X_scVI"],
                        extra={"settings": settings})
