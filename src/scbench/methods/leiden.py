"""Leiden (scanpy): the scanpy standard pipeline, then Leiden at resolution 1.0 (leidenalg, seeded).

Embedding: the PCA. Params: ``resolution`` and the pipeline's (see ``_scanpy``).
"""

from __future__ import annotations

from ._common import resolve_params
from ._scanpy import PIPELINE_DEFAULTS, leiden, neighbors, pca
from .registry import MethodOutput

REQUIRES = ("scanpy", "leidenalg", "igraph")  # missing -> unavailable

DEFAULTS = {**PIPELINE_DEFAULTS, "resolution": 1.0}


def run(adata, *, seed, threads, device, n_clusters, params):
    settings = resolve_params("leiden", DEFAULTS, params)
    data = pca(adata, seed=seed, settings=settings)
    neighbors(data, seed=seed, settings=settings)
    labels = leiden(data, seed=seed, resolution=settings["resolution"])
    settings["backend"] = "leidenalg (scanpy flavor='leidenalg', weighted, n_iterations=-1)"
    return MethodOutput(labels=labels, embedding=data.obsm["X_pca"], extra={"settings": settings})
