"""scGAC's cell filter, normalisation and cell graph (NumPy), as read in Joye9285/scGAC@893909a.

Used by :mod:`scbench.methods.scgac` (and so by SCEA). Written from the paper and the facts of
``preprocess.py`` and ``utils.py``; every step keeps the original's rule, quirks included (each
one is named where it happens). The graph is dense n x n here as in the original: network
enhancement (NE) needs the full similarity matrix and its eigendecomposition.
"""

from __future__ import annotations

import numpy as np


def iqr_keep(values: np.ndarray, factor: float = 3.0) -> np.ndarray:
    """Boolean mask of values inside [Q1 - factor*IQR, Q3 + factor*IQR] (numpy's percentiles)."""
    q1, q3 = np.percentile(values, 25), np.percentile(values, 75)
    spread = factor * (q3 - q1)
    return (values >= q1 - spread) & (values <= q3 + spread)


def filter_cells_genes(counts: np.ndarray, min_cells: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``preprocess.py``: cells whose detected-gene count and total count are both inside 3 IQR,
    then genes detected (> 0) in at least ``min_cells`` of those cells. Returns both masks."""
    cells = iqr_keep((counts > 0).sum(1)) & iqr_keep(counts.sum(1))
    genes = (counts[cells] > 0).sum(0) >= min_cells
    return cells, genes


def log_normalize(x: np.ndarray, scale: float) -> np.ndarray:
    """Each cell divided by its total, times ``scale``, then log2(1 + x) (``normalization``)."""
    return np.log2(x / x.sum(1, keepdims=True) * scale + 1.0)


def neighbours_k(n_cells: int, n_clusters: int) -> int:
    """The original's K: (n // k) // 10, clipped to [6, 20] (its ``--k`` option is ignored)."""
    return int(min(max((n_cells // n_clusters) // 10, 6), 20))


def _row_normalize(w: np.ndarray, eps: float) -> np.ndarray:
    return w / (np.abs(w).sum(1, keepdims=True) + eps)


def _dominant_set(aff: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's entries >= its k-th largest, then symmetrise by the mean."""
    threshold = np.sort(aff, axis=1)[:, -k]
    kept = np.where(aff >= threshold[:, None], aff, 0.0)
    return (kept + kept.T) / 2


def network_enhancement(w_in: np.ndarray, alpha: float = 0.9, order: int = 3,
                        eps: float = 1e-20) -> np.ndarray:
    """Network enhancement (Wang et al., Nat Commun 2018) with scGAC's settings
    (K = min(20, n // 10), alpha 0.9, order 3). The diffusion matrix is symmetric, so it is
    diagonalised with ``eigh`` (the original calls the general ``eig``)."""
    n = len(w_in)
    k = min(20, n // 10, n - 1)
    w0 = w_in * (1 - np.eye(n))
    w = _row_normalize(w0 * n, eps)
    w = (w + w.T) / 2
    col_mass = np.abs(w0).sum(0)
    p = _dominant_set(np.abs(w), k) * np.sign(w)
    p = p + np.eye(n) + np.diag(np.abs(p).sum(1))
    p = _row_normalize(p * n**2, eps)  # TransitionFields: it scales by n twice
    p = p / np.sqrt(np.abs(p).sum(0) + eps)[None, :]
    p = p @ p.T
    values, vectors = np.linalg.eigh((p + p.T) / 2)
    values = values - eps
    values = (1 - alpha) * values / (1 - alpha * values**order)
    w = (vectors * values) @ vectors.T
    w = (w * (1 - np.eye(n))) / (1 - np.diag(w))[:, None]
    w = col_mass[:, None] * w
    w[w < 0] = 0
    return (w + w.T) / 2


def histogram_threshold(values: np.ndarray) -> float:
    """scGAC's cut on the NE weights: drop the top 2 %, split the remaining range into 100 bins and
    take the centre of the first local minimum among the first 20 bin counts (open intervals);
    without one, the last bin whose count is under half the previous one's; else 0.3."""
    data = np.sort(values.ravel())
    data = data[: len(data) - int(len(data) * 0.02)]
    low, delta = data[0], (data[-1] - data[0]) / 100
    starts = low + delta * np.arange(20)
    counts = np.array([np.count_nonzero((data > s) & (data < s + delta)) for s in starts])
    centres = starts + delta / 2
    for i in range(1, 19):
        if counts[i] < counts[i + 1] and counts[i] < counts[i - 1]:
            return float(centres[i])
    candidate = -1.0
    for i in range(1, 20):
        if counts[i] * 2 < counts[i - 1]:
            candidate = float(centres[i])
    return candidate if candidate != -1.0 else 0.3


def knn_mask(similarity: np.ndarray, k: int) -> np.ndarray:
    """Row i links to every j with similarity[i, j] >= the row's k-th largest value (ties all
    join, the diagonal included: Pearson's r_ii = 1)."""
    threshold = np.sort(similarity, axis=1)[:, -k]
    return similarity >= threshold[:, None]


def cell_graph(normalized: np.ndarray, k: int) -> np.ndarray:
    """scGAC's default graph (``getGraph(method='NE')``): Pearson r between cells, with the
    entries cut where the NE-enhanced graph is weak, then the K-NN mask of what is left.

    NE runs on the Pearson r of the already normalised data normalised once more (per cell to
    1e6, log2), as the original does. Row i keeps r_ij where NE_ij exceeds the row's
    ``int(n * propor)``-th largest NE value, ``propor`` being the share of NE entries above
    :func:`histogram_threshold`. The original's second cut (``L = 0``) removes nothing below
    10,000 cells and is left out.
    """
    n = len(normalized)
    pearson = np.corrcoef(normalized)
    enhanced = network_enhancement(np.corrcoef(log_normalize(normalized, 1e6)))
    np.fill_diagonal(enhanced, enhanced.max(1))
    cut = histogram_threshold(enhanced)
    keep = int(n * (1 - np.count_nonzero(enhanced <= cut) / n**2))
    row_threshold = np.sort(enhanced, axis=1)[:, -keep] if keep > 0 else enhanced.min(1)
    pearson[enhanced <= row_threshold[:, None]] = 0
    return knn_mask(pearson, k)
