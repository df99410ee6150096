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

#: The group that unassigned cells form for ARI and NMI.
UNASSIGNED_GROUP = "\x00unassigned"


def clustering_scores(
    labels: np.ndarray,
    *,
    true_labels: np.ndarray | None = None,
    embedding: np.ndarray | None = None,
) -> dict[str, float]:
    """ARI, NMI (sklearn, arithmetic mean), silhouette (ASW, Euclidean) and Davies-Bouldin.

    A cell whose predicted label is missing (NaN/None, or a negative integer such as -1) is
    unassigned. ARI and NMI count every cell with a true label, the unassigned ones as one group
    of their own, so leaving cells out costs score instead of hiding them. ``n_clusters``,
    ASW and DB use the assigned cells only (ASW and DB need an embedding with finite rows there
    and 2..n-1 clusters, else NaN). ``n_unassigned`` and ``n_cells_scored`` (cells with a true
    label) say how many cells each part saw.
    """
    labels = np.asarray(labels, dtype=object)
    assigned = np.array([not _missing(v) for v in labels], dtype=bool)
    predicted = np.where(assigned, labels.astype(str), UNASSIGNED_GROUP)
    n_clusters = len(np.unique(predicted[assigned]))
    scores = {"n_clusters": float(n_clusters), "n_unassigned": float((~assigned).sum()),
              "n_cells_scored": math.nan,
              "ari": math.nan, "nmi": math.nan, "asw": math.nan, "db": math.nan}
    if true_labels is not None:
        true_labels = np.asarray(true_labels, dtype=object)
        if len(true_labels) != len(labels):
            raise ValueError(f"{len(labels)} predicted labels but {len(true_labels)} true labels")
        known = np.array([not _missing(v) for v in true_labels], dtype=bool)
        scores["n_cells_scored"] = float(known.sum())
        if known.any():
            truth = true_labels[known].astype(str)
            scores["ari"] = float(adjusted_rand_score(truth, predicted[known]))
            scores["nmi"] = float(normalized_mutual_info_score(truth, predicted[known]))
    if embedding is not None and 2 <= n_clusters < assigned.sum():
        points = np.asarray(embedding, dtype=np.float64)[assigned]
        if np.isfinite(points).all():
            scores["asw"] = float(silhouette_score(points, predicted[assigned]))
            scores["db"] = float(davies_bouldin_score(points, predicted[assigned]))
    return scores


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, (int, np.integer)) and value < 0
