"""The scanpy standard pipeline shared by leiden, louvain, kmeans and phenograph.

normalize_total (1e4) -> log1p -> highly variable genes (scanpy default "seurat" flavor on the
log data; 2500 genes, the number AttentionAE-sc uses and the reference Leiden measurement in
shared/paper/REFERENCE_CODE_FACTS.md used; scanpy's tutorial uses 2000) -> scale (max 10) ->
PCA (50 components, arpack, seeded) -> kNN graph (15 neighbours, umap connectivities).
"""

from __future__ import annotations

import warnings
from typing import Any

PIPELINE_DEFAULTS: dict[str, Any] = {
    "target_sum": 1e4,
    "n_top_genes": 2500,
    "scale_max": 10.0,
    "n_pcs": 50,
    "n_neighbors": 15,
}


def log_normalize(adata, target_sum: float = 1e4):
    """A copy of ``adata`` (raw counts) with zero-count genes dropped, normalised and log1p'ed."""
    import scanpy as sc

    adata = adata.copy()
    sc.pp.filter_genes(adata, min_counts=1)
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    return adata


def select_hvg(adata, n_top_genes: int):
    """Subset log-normalised ``adata`` to its ``n_top_genes`` HVGs (all genes if fewer)."""
    import scanpy as sc

    if adata.n_vars <= n_top_genes:
        return adata
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes)
    return adata[:, adata.var["highly_variable"].to_numpy()].copy()


def pca(adata, *, seed: int, settings: dict[str, Any]):
    """Log-normalised, HVG-subset, scaled AnnData with ``obsm["X_pca"]``; records what was used."""
    import scanpy as sc

    adata = select_hvg(log_normalize(adata, settings["target_sum"]), settings["n_top_genes"])
    settings["n_hvg_used"] = int(adata.n_vars)
    sc.pp.scale(adata, max_value=settings["scale_max"])
    n_pcs = min(settings["n_pcs"], adata.n_obs - 1, adata.n_vars - 1)
    settings["n_pcs_used"] = int(n_pcs)
    sc.pp.pca(adata, n_comps=n_pcs, svd_solver="arpack", random_state=seed)
    return adata


def neighbors(adata, *, seed: int, settings: dict[str, Any], use_rep: str = "X_pca") -> None:
    import scanpy as sc

    sc.pp.neighbors(adata, n_neighbors=settings["n_neighbors"], use_rep=use_rep,
                    random_state=seed)


def leiden(adata, *, seed: int, resolution: float) -> Any:
    """Leiden via scanpy with the leidenalg backend (scanpy <= 1.11's default), seeded."""
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*default backend for leiden.*")
        sc.tl.leiden(adata, resolution=resolution, random_state=seed, flavor="leidenalg",
                     key_added="cluster")
    return adata.obs["cluster"].astype(int).to_numpy()
