"""Clustering scores: external (ARI, NMI against true labels) and internal (on an embedding)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)


def clustering_scores(
    labels: np.ndarray,
    *,
    true_labels: np.ndarray | None = None,
    embedding: np.ndarray | None = None,
) -> dict[str, float]:
    """ARI, NMI (sklearn, arithmetic mean), silhouette (ASW, Euclidean) and Davies-Bouldin.

    Cells whose predicted label is missing (NaN/None/-1 as an int) or whose true label is
    missing are left out and counted in ``n_cells_scored``. Internal scores need an embedding
    and 2..n-1 clusters; otherwise they are NaN.
    """
    labels = np.asarray(labels, dtype=object)
    keep = np.array([not _missing(v) for v in labels])
    if true_labels is not None:
        true_labels = np.asarray(true_labels, dtype=object)
        if len(true_labels) != len(labels):
            raise ValueError(f"{len(labels)} predicted labels but {len(true_labels)} true labels")
        keep &= np.array([not _missing(v) for v in true_labels])
    predicted = labels[keep].astype(str)
    n_clusters = len(np.unique(predicted))
    scores = {"n_clusters": float(n_clusters), "n_cells_scored": float(keep.sum()),
              "ari": math.nan, "nmi": math.nan, "asw": math.nan, "db": math.nan}
    if true_labels is not None and keep.any():
        truth = true_labels[keep].astype(str)
        scores["ari"] = float(adjusted_rand_score(truth, predicted))
        scores["nmi"] = float(normalized_mutual_info_score(truth, predicted))
    if embedding is not None and 2 <= n_clusters < keep.sum():
        points = np.asarray(embedding, dtype=np.float64)[keep]
        if np.isfinite(points).all():
            scores["asw"] = float(silhouette_score(points, predicted))
            scores["db"] = float(davies_bouldin_score(points, predicted))
    return scores


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, (int, np.integer)) and value < 0
