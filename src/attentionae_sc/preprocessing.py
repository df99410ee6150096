"""Section 2.1 of the paper: filtering, size factors, log-normalisation, HVGs and z-scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

from .validation import InputError, warn


@dataclass(frozen=True)
class GeneSpace:
    """What is learnt from the training cells and reused to place new cells in the same space."""

    genes: np.ndarray  # selected gene names, in model input order
    mean: np.ndarray  # per-gene mean of the log-normalised training cells
    std: np.ndarray  # per-gene standard deviation (1 where a gene is constant)
    n_input_genes: int  # genes of the training data, over which library sizes were taken

    def scale(self, log_norm: np.ndarray) -> np.ndarray:
        """Z-score ``log_norm`` (cells x ``genes``) with the training statistics."""
        return ((log_norm - self.mean) / self.std).astype(np.float32)


@dataclass(frozen=True)
class Cells:
    """Cells prepared for the model: the selected genes only, all dense float32."""

    index: np.ndarray  # positions of these cells in the caller's AnnData
    log_norm: np.ndarray  # log1p(counts / library size * target_sum), selected genes
    counts: np.ndarray  # raw counts of the selected genes (the ZINB target)
    library_size: np.ndarray  # total counts over all genes

    @property
    def n_cells(self) -> int:
        return len(self.index)

    def subset(self, rows: np.ndarray) -> Cells:
        return Cells(self.index[rows], self.log_norm[rows], self.counts[rows],
                     self.library_size[rows])


def _dense(matrix: np.ndarray | sp.spmatrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)


def _nonzero_cells(matrix: np.ndarray | sp.spmatrix) -> np.ndarray:
    return np.flatnonzero(np.asarray(matrix.sum(axis=1)).ravel() > 0)


def _log_normalize(matrix: np.ndarray | sp.spmatrix, target_sum: float) -> AnnData:
    """Scanpy's per-cell normalisation to ``target_sum`` then log1p, on a float32 copy."""
    adata = AnnData(matrix.astype(np.float32, copy=True))
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    return adata


def select_genes(
    matrix: np.ndarray | sp.csr_matrix,
    var_names: np.ndarray,
    *,
    n_hvg: int,
    target_sum: float,
    min_cells: int,
) -> tuple[Cells, np.ndarray]:
    """Filter empty cells and genes, log-normalise, and keep the top ``n_hvg`` variable genes.

    Returns the prepared cells (selected genes only) and the selected gene names. With fewer
    genes than ``n_hvg`` all genes are used and a warning says so.
    """
    cells = _nonzero_cells(matrix)
    if len(cells) < min_cells:
        raise InputError(
            f"only {len(cells)} cell(s) with any counts; at least {min_cells} are needed "
            "(more than n_neighbors)"
        )
    matrix = matrix[cells]
    genes = np.flatnonzero(np.asarray(matrix.sum(axis=0)).ravel() > 0)
    if len(genes) < 2:
        raise InputError(f"only {len(genes)} gene(s) with any counts after filtering")
    matrix = matrix[:, genes]
    names = np.asarray(var_names)[genes]
    log_norm = _log_normalize(matrix, target_sum)
    if len(genes) <= n_hvg:
        warn(f"data has {len(genes)} expressed genes, not more than n_hvg={n_hvg}: "
             "using all of them")
        keep = np.arange(len(genes))
    else:
        sc.pp.highly_variable_genes(log_norm, n_top_genes=n_hvg)
        keep = np.flatnonzero(log_norm.var["highly_variable"].to_numpy())
    library_size = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    prepared = Cells(
        index=cells,
        log_norm=_dense(log_norm.X[:, keep]),
        counts=_dense(matrix[:, keep]),
        library_size=library_size,
    )
    return prepared, names[keep]


def fit_gene_space(cells: Cells, genes: np.ndarray, n_input_genes: int) -> GeneSpace:
    """Per-gene z-score statistics of ``cells`` (population standard deviation, as sklearn)."""
    mean = cells.log_norm.mean(axis=0, dtype=np.float64)
    std = cells.log_norm.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return GeneSpace(genes=np.asarray(genes), mean=mean.astype(np.float32),
                     std=std.astype(np.float32), n_input_genes=n_input_genes)


def cells_in_gene_space(
    matrix: np.ndarray | sp.csr_matrix, var_names: np.ndarray, space: GeneSpace,
    target_sum: float,
) -> Cells:
    """Prepare new cells on the fitted gene list (library size over all of their genes)."""
    genes = space.genes
    if len(var_names) < space.n_input_genes:
        warn(f"the data has {len(var_names)} genes, the training data had "
             f"{space.n_input_genes}: each cell is normalised by its counts over all genes, so "
             "a smaller gene set shifts the embedding and labels; pass the full gene set")
    position = {name: i for i, name in enumerate(np.asarray(var_names))}
    missing = [g for g in genes if g not in position]
    if missing:
        raise InputError(
            f"{len(missing)} of the model's {len(genes)} genes are missing from the data, "
            f"e.g. {missing[:5]}"
        )
    cells = _nonzero_cells(matrix)
    if len(cells) == 0:
        raise InputError("no cell has any counts")
    matrix = matrix[cells]
    columns = np.array([position[g] for g in genes])
    log_norm = _log_normalize(matrix, target_sum)
    return Cells(
        index=cells,
        log_norm=_dense(log_norm.X[:, columns]),
        counts=_dense(matrix[:, columns]),
        library_size=np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel(),
    )


def size_factors(library_size: np.ndarray) -> np.ndarray:
    """Library size over its median (section 2.1), float32."""
    return (library_size / np.median(library_size)).astype(np.float32)
