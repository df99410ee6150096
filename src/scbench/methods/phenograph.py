"""PhenoGraph (PyPI ``phenograph`` 1.5.7) on the scanpy standard pipeline's 50-PC PCA.

``phenograph.cluster`` with its defaults (k=30, Jaccard-weighted kNN graph, min_cluster_size 10)
except the community detection, which is ``clustering_algo="leiden"`` with ``seed`` so runs are
reproducible: the package's default ``"louvain"`` runs bundled C++ binaries with unseeded random
restarts (set ``clustering_algo`` to ``"louvain"`` to use them). Cells in clusters smaller than
``min_cluster_size`` get PhenoGraph's -1 ("outlier"), declared as ``extra["unassigned_label"]``.
Runs in a temporary working directory (the Louvain path writes scratch files into the cwd).
Embedding: the PCA.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from ._common import resolve_params
from ._scanpy import PIPELINE_DEFAULTS, pca
from .registry import MethodOutput

REQUIRES = ("phenograph", "scanpy", "leidenalg")  # missing -> unavailable

DEFAULTS = {key: PIPELINE_DEFAULTS[key] for key in ("target_sum", "n_top_genes", "scale_max",
                                                     "n_pcs")}
DEFAULTS.update({"k": 30, "clustering_algo": "leiden", "min_cluster_size": 10,
                 "resolution_parameter": 1.0})


@contextlib.contextmanager
def _in_tempdir():
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="scbench_phenograph_") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(cwd)


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import phenograph

    settings = resolve_params("phenograph", DEFAULTS, params)
    data = pca(adata, seed=seed, settings=settings)
    with _in_tempdir():
        communities, _, modularity = phenograph.cluster(
            data.obsm["X_pca"], clustering_algo=settings["clustering_algo"], k=settings["k"],
            min_cluster_size=settings["min_cluster_size"], n_jobs=threads,
            resolution_parameter=settings["resolution_parameter"], seed=seed)
    labels = np.asarray(communities, dtype=np.int64)
    extra = {"settings": settings, "modularity": float(modularity), "unassigned_label": -1,
             "n_unassigned": int((labels == -1).sum())}
    return MethodOutput(labels=labels, embedding=data.obsm["X_pca"], extra=extra)
