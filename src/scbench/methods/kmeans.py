"""K-means on the scanpy standard pipeline's PCA, with the true number of types (needs k).

scikit-learn ``KMeans(n_clusters=k, n_init=10, random_state=seed)``. Embedding: the PCA.
"""

from __future__ import annotations

from ._common import resolve_params
from ._scanpy import PIPELINE_DEFAULTS, pca
from .registry import MethodOutput

REQUIRES = ("scanpy", "sklearn")  # missing -> unavailable

DEFAULTS = {key: PIPELINE_DEFAULTS[key] for key in ("target_sum", "n_top_genes", "scale_max",
                                                     "n_pcs")}
DEFAULTS["n_init"] = 10


def run(adata, *, seed, threads, device, n_clusters, params):
    from sklearn.cluster import KMeans

    if not n_clusters:
        raise ValueError("kmeans needs n_clusters (the true number of types)")
    settings = resolve_params("kmeans", DEFAULTS, params)
    data = pca(adata, seed=seed, settings=settings)
    model = KMeans(n_clusters=n_clusters, n_init=settings["n_init"], random_state=seed)
    labels = model.fit_predict(data.obsm["X_pca"])
    return MethodOutput(labels=labels, embedding=data.obsm["X_pca"], extra={"settings": settings})
