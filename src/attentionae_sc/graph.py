"""Cell graphs: scanpy neighbours with an adaptive Gaussian kernel, GCN normalisation, Leiden."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scanpy as sc
import scipy.sparse as sp
import torch
from anndata import AnnData

from .validation import InputError

#: Adjacencies denser than this are handed to torch as dense tensors (faster matmul).
DENSE_ABOVE = 0.25


@dataclass(frozen=True)
class CellGraph:
    """Symmetric Gaussian-kernel connectivities and the kNN distances they came from."""

    connectivities: sp.csr_matrix
    distances: sp.csr_matrix


def neighbor_graph(
    features: np.ndarray,
    *,
    n_neighbors: int,
    method: str,
    knn: bool,
    metric: str,
    seed: int,
    n_pcs: int = 0,
) -> CellGraph:
    """``scanpy.pp.neighbors`` on ``features`` (cells x dims); PCA first when ``n_pcs > 0``."""
    adata = AnnData(np.ascontiguousarray(features, dtype=np.float32))
    if n_pcs:
        n_comps = min(n_pcs, min(adata.shape) - 1)
        sc.pp.pca(adata, n_comps=n_comps, random_state=seed)
        rep = "X_pca"
    else:
        rep = "X"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*high n_obs without `knn=True`.*")
        # Exact kNN (sklearn) for kNN graphs of any size: deterministic, and it avoids
        # scanpy 1.11's approximate path, which fails on scipy 1.17 sparse arrays (>= 4096 cells).
        # scanpy only accepts its default transformer with knn=False (a dense kernel).
        sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep=rep, knn=knn, method=method,
                        metric=metric, random_state=seed,
                        transformer="sklearn" if knn else None)
    connectivities = sp.csr_matrix(adata.obsp["connectivities"], dtype=np.float32)
    coo = connectivities.tocoo()
    undefined = np.unique(coo.row[np.isnan(coo.data)])
    if len(undefined):
        # scanpy's adaptive kernel width is 0 for a cell whose typical neighbour distance is 0,
        # and its weights are then 0/0
        raise InputError(
            f"the Gaussian kernel is undefined for {len(undefined)} cells: most of their "
            f"{n_neighbors} nearest neighbours are identical to them. Remove duplicated or "
            "near-empty cells (e.g. scanpy.pp.filter_cells(adata, min_genes=...)) and retry"
        )
    return CellGraph(
        connectivities=connectivities,
        distances=sp.csr_matrix(adata.obsp["distances"], dtype=np.float32),
    )


def with_unit_diagonal(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """The adjacency with A_ii = 1, as the Gaussian kernel of eq. 1 gives (exp(0) = 1).

    scanpy's kNN connectivities leave the diagonal empty; its dense kernel has it already.
    """
    adjacency = sp.csr_matrix(adjacency, dtype=np.float32)
    diagonal = sp.diags(1.0 - adjacency.diagonal(), dtype=np.float32)
    return sp.csr_matrix(adjacency + diagonal, dtype=np.float32)


def gcn_normalize(adjacency: sp.spmatrix, mode: str = "symmetric") -> sp.csr_matrix:
    """D^-1/2 A D^-1/2 with A's unit diagonal (eq. 2 of the paper), or A itself (``"none"``).

    Eq. 1 gives each cell a self-loop of weight 1, so each cell keeps its own features. The
    kNN kernel lacks it and gets it here (then this is Kipf & Welling's D^-1/2 (A + I) D^-1/2);
    the dense kernel has it already.
    """
    if mode == "none":
        return sp.csr_matrix(adjacency, dtype=np.float32)
    if mode != "symmetric":
        raise ValueError(f"unknown GCN normalisation {mode!r}")
    with_loops = with_unit_diagonal(adjacency).astype(np.float64)
    inv_sqrt = 1.0 / np.sqrt(np.asarray(with_loops.sum(axis=1)).ravel())
    scale = sp.diags(inv_sqrt)
    return sp.csr_matrix(scale @ with_loops @ scale, dtype=np.float32)


def to_torch(matrix: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """A torch sparse CSR tensor, or a dense one when more than a quarter of entries are set."""
    n_rows, n_cols = matrix.shape
    if matrix.nnz > DENSE_ABOVE * n_rows * n_cols:
        return torch.from_numpy(matrix.toarray()).to(device)
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data),
            size=matrix.shape,
            check_invariants=True,
        ).to(device)


def leiden(
    connectivities: sp.spmatrix, *, resolution: float, seed: int
) -> np.ndarray:
    """Leiden (leidenalg, RB-configuration, weighted) on a cell graph; integer labels."""
    adata = AnnData(np.zeros((connectivities.shape[0], 1), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*default backend for leiden.*")
        sc.tl.leiden(adata, resolution=resolution, random_state=seed, flavor="leidenalg",
                     adjacency=sp.csr_matrix(connectivities), key_added="leiden")
    return adata.obs["leiden"].astype(int).to_numpy()
