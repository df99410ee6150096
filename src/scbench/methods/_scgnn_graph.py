"""scGNN's pruned K-NN cell graph and its "LouvainK" cluster count (NumPy/igraph).

Facts from juexinwang/scGNN@09ac50b (``graph_function.py``, ``util_function.py``); no code copied.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1024  # rows of the distance matrix at a time (never n x n)


def pruned_knn(z: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``KNNgraphStatsSingleThread``: for each cell i, the k cells at the next k places of its
    Euclidean distance ranking (place 0, normally i itself, is skipped), each kept (weight 1) when
    its distance is at most mean + sd (population sd) of those k distances, else weight 0.

    Returns the directed edges (src, dst, weight) in the original's order (by i, then rank).
    """
    from scipy.spatial.distance import cdist

    n = len(z)
    k = min(k, n - 1)
    dst = np.empty((n, k), dtype=np.int64)
    keep = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, CHUNK):
        dist = cdist(z[start:start + CHUNK], z, "euclidean")
        order = np.argsort(dist, axis=1, kind="stable")[:, 1:k + 1]
        near = np.take_along_axis(dist, order, axis=1)
        bound = near.mean(1, keepdims=True) + near.std(1, keepdims=True)
        dst[start:start + CHUNK], keep[start:start + CHUNK] = order, near <= bound
    return np.repeat(np.arange(n), k), dst.ravel(), keep.ravel()


def undirected_edges(src: np.ndarray, dst: np.ndarray, weight: np.ndarray):
    """The original's networkx graph of the directed edges: one edge per pair, carrying the
    weight of the pair's last-listed direction (that of the higher-indexed cell when both list
    each other); self-loops and weight-0 edges dropped, as igraph's weighted adjacency does."""
    low, high = np.minimum(src, dst), np.maximum(src, dst)
    pair = low * (int(max(src.max(), dst.max())) + 1) + high
    reversed_first = np.unique(pair[::-1], return_index=True)[1]
    last = len(pair) - 1 - reversed_first
    kept = last[(weight[last] > 0) & (low[last] != high[last])]
    return low[kept], high[kept]


def louvain_count(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> int:
    """Number of Louvain communities (igraph multilevel; isolated cells count as their own).
    igraph draws from Python's ``random``, which the caller seeds."""
    import igraph

    low, high = undirected_edges(src, dst, weight)
    graph = igraph.Graph(n=n, edges=list(zip(low.tolist(), high.tolist())))
    return len(graph.community_multilevel(weights=[1.0] * len(low)))


def louvain_k(n_communities: int, resolution: float) -> int:
    """LouvainK's k for KMeans: int(count * resolution), or 2 when that is below 3."""
    k = int(n_communities * resolution)
    return k if k >= 3 else 2


def trim_clusters(labels: np.ndarray, min_members: int = 5, max_clusters: int = 30) -> np.ndarray:
    """The original's ``trimClustering`` (applied when there are more than ``max_clusters`` or at
    most one cluster): clusters with at most ``min_members`` cells (its count starts at 0 for the
    first member) or a label >= ``max_clusters`` are merged into one cluster ``max_clusters``."""
    values, counts = np.unique(labels, return_counts=True)
    small = values[(counts - 1 < min_members) | (values >= max_clusters)]
    return np.where(np.isin(labels, small), max_clusters, labels)
