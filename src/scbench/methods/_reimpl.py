"""Input checks shared by the re-implemented baselines (scDeepCluster, graph-sc, SC3).

Each raises ``ValueError`` naming the method and the problem, which the runner records as a
``failed`` run with that reason (the contract's clear error).
"""

from __future__ import annotations

from typing import Any


def dense_counts(adata: Any, method: str, *, min_cells: int = 10) -> Any:
    """``adata.X`` as a dense float64 array after checking it holds raw counts.

    Raises for fewer than ``min_cells`` cells, fewer than 2 genes, NaN/Inf, negative or
    non-integer values, and cells without any count.
    """
    import numpy as np
    import scipy.sparse as sp

    if adata.n_obs < min_cells or adata.n_vars < 2:
        raise ValueError(f"{method} needs at least {min_cells} cells and 2 genes, got "
                         f"{adata.n_obs} cells x {adata.n_vars} genes")
    matrix = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    matrix = matrix.astype(np.float64)
    if not np.isfinite(matrix).all():
        raise ValueError(f"{method} needs raw counts; adata.X contains NaN/Inf")
    if matrix.min() < 0 or not np.array_equal(matrix, np.round(matrix)):
        raise ValueError(f"{method} needs raw counts; adata.X has negative or non-integer "
                         "values (it looks normalised)")
    empty = int((matrix.sum(axis=1) == 0).sum())
    if empty:
        raise ValueError(f"{method}: {empty} cell(s) have no counts; remove them first")
    return matrix


def require_k(method: str, n_clusters: int | None, n_cells: int) -> int:
    """The given number of clusters, checked to lie in 2..n_cells."""
    if not n_clusters or not 2 <= int(n_clusters) <= n_cells:
        raise ValueError(f"{method} needs n_clusters (the true number of types) between 2 and "
                         f"the number of cells ({n_cells}), got {n_clusters!r}")
    return int(n_clusters)
