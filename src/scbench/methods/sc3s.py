"""SC3s (PyPI ``sc3s`` 0.1.1, the SC3 authors' Python successor) in its own environment ``sc3s``.

Preprocessing is the "minimal barebones workflow" of SC3s's README (hemberg-lab/sc3s): genes
seen in at least 10 cells (``sc.pp.filter_genes(min_cells=10)``), ``sc.pp.log1p`` of the raw
counts (no library-size normalisation, no HVG selection, no scaling), then ``sc.tl.pca`` with
``svd_solver="arpack"`` and scanpy's 50 components (fewer when the data has fewer), seeded.
Then ``sc3s.tl.consensus`` with the true k (SC3s has no k estimate of its own) and its
documented defaults: the first 25 PCs (``d_range``), 5 runs, 3 x k microclusters ("facilities"),
mini-batch k-means with batch 100 (at most the number of cells), ``random_state`` = ``seed``.
Labels: ``obs["sc3s_<k>"]``; embedding: the PCs SC3s clusters (the first ``max(d_range)``).
"""

from __future__ import annotations

from ._common import resolve_params
from ._reimpl import dense_counts, require_k
from .registry import MethodOutput

REQUIRES = ("sc3s", "scanpy")  # missing -> unavailable

DEFAULTS = {
    "min_cells": 10,
    "n_pcs": 50,
    "d_range": 25,
    "n_runs": 5,
    "multiplier_facility": 3,
    "batch_size": 100,
}


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import sc3s
    import scanpy as sc

    settings = resolve_params("sc3s", DEFAULTS, params)
    dense_counts(adata, "sc3s")  # raw counts or a clear error
    k = require_k("sc3s", n_clusters, adata.n_obs)
    data = adata.copy()
    sc.pp.filter_genes(data, min_cells=settings["min_cells"])
    if data.n_vars < 2:
        raise ValueError(f"sc3s: fewer than 2 genes are seen in {settings['min_cells']} cells")
    sc.pp.log1p(data)
    n_pcs = min(settings["n_pcs"], data.n_obs - 1, data.n_vars - 1)
    sc.tl.pca(data, n_comps=n_pcs, svd_solver="arpack", random_state=seed)
    d = min(settings["d_range"], n_pcs)
    batch_size = min(settings["batch_size"], data.n_obs)
    sc3s.tl.consensus(data, n_clusters=k, d_range=d, n_runs=settings["n_runs"],
                      multiplier_facility=settings["multiplier_facility"],
                      batch_size=batch_size, random_state=seed)
    labels = data.obs[f"sc3s_{k}"].astype(int).to_numpy()
    extra = {"settings": settings, "n_genes_used": int(data.n_vars), "n_pcs_used": int(n_pcs),
             "d_used": int(d), "batch_size_used": int(batch_size),
             "n_facility": int(min(k * settings["multiplier_facility"], data.n_obs - 1))}
    return MethodOutput(labels=np.asarray(labels, dtype=np.int64),
                        embedding=data.obsm["X_pca"][:, :d], extra=extra)
