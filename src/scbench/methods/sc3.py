"""SC3 (Kiselev et al., Nat Methods 2017): a NumPy/SciPy/scikit-learn port of its consensus
clustering, with k estimated by its Tracy-Widom bound (``estkTW``), as the AttentionAE-sc paper
ran it (does not need k).

Written from the paper and from facts read in the authors' R package (hemberg-lab/SC3
@5f5161b: ``R/CoreMethods.R``, ``R/CoreFunctions.R``, ``src/cppFunctions.cpp``); no code copied.

- Genes: kept when 10 % < share of zero counts < 90 % (``gene_filter``). Data: log2(x / s + 1)
  with s = library size / mean library size (scater's ``logNormCounts``; SC3 itself takes the
  user's ``logcounts``).
- k: the number of eigenvalues of X^T X above mu + 3.273 sigma of the Tracy-Widom law, X the
  gene x cell data with every cell z-scored over genes (at least 2).
- Cell-cell distances: Euclidean, 1 - Pearson, 1 - Spearman. Transformations of each: PCA
  (eigenvectors of the correlation matrix of the distance matrix's columns, i.e. ``prcomp``'s
  rotation, centred and scaled) and the normalised Laplacian I - D^-1/2 A D^-1/2 of
  A = exp(-dist / max dist) (eigenvectors by increasing eigenvalue).
- k-means on the first d eigenvectors for d from floor(0.04 N) to ceil(0.07 N) (15 of them
  drawn at random when there are more), for each of the 6 transformations; ``nstart`` 1000
  restarts, 50 above 2000 cells.
- Consensus: the share of those clusterings that put two cells together; Euclidean distances
  between its rows; complete-linkage hierarchical clustering cut at k.
- Above 5000 cells (``svm_max``) the above runs on 5000 random cells and a linear SVM
  (features z-scored, C 1, as e1071's defaults) labels the others.

Deviations: scikit-learn's Lloyd k-means (max 300 iterations, tol 1e-4) instead of R's
Hartigan-Wong with ``iter.max`` 1e9; the random draws (dimensions, restarts, SVM cells) use
numpy seeded with ``seed``, not R's ``rand_seed``; SC3's optional biology (marker genes,
outliers) is not computed.
"""

from __future__ import annotations

from ._common import resolve_params
from ._reimpl import dense_counts, require_k
from .registry import MethodOutput

REQUIRES = ("sklearn", "scipy")  # missing -> unavailable

DEFAULTS = {
    "k": None,
    "pct_dropout_min": 10.0,
    "pct_dropout_max": 90.0,
    "d_region_min": 0.04,
    "d_region_max": 0.07,
    "max_dims": 15,
    "kmeans_nstart": None,
    "kmeans_max_iter": 300,
    "svm_max": 5000,
}


def log_data(counts, pct_min: float, pct_max: float):
    """Cells x kept genes: log2 of library-size-normalised counts, after the dropout filter."""
    import numpy as np

    dropouts = 100.0 * (counts == 0).mean(axis=0)
    keep = (dropouts > pct_min) & (dropouts < pct_max)
    if not keep.any():
        raise ValueError(f"sc3: no gene has between {pct_min} % and {pct_max} % zero counts")
    totals = counts.sum(axis=1)
    return np.log2(counts[:, keep] / (totals / totals.mean())[:, None] + 1.0)


def estimate_k(data) -> int:
    """SC3's ``estkTW`` on cells x genes ``data``: eigenvalues above the Tracy-Widom bound."""
    import numpy as np

    n_genes, n_cells = data.shape[1], data.shape[0]
    std = data.std(axis=1, ddof=1, keepdims=True)
    scaled = (data - data.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    mu = (np.sqrt(n_genes - 1) + np.sqrt(n_cells)) ** 2
    sigma = (np.sqrt(n_genes - 1) + np.sqrt(n_cells)) * (
        1 / np.sqrt(n_genes - 1) + 1 / np.sqrt(n_cells)) ** (1 / 3)
    eigenvalues = np.linalg.eigvalsh(scaled @ scaled.T)
    return int((eigenvalues > 3.273 * sigma + mu).sum())


def distances(data) -> dict:
    """Euclidean, Pearson and Spearman cell-cell distances of cells x genes ``data``."""
    import numpy as np
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import rankdata

    ranks = rankdata(data, axis=1)
    return {"euclidean": squareform(pdist(data)),
            "pearson": 1.0 - np.corrcoef(data),
            "spearman": 1.0 - np.corrcoef(ranks)}


def transformations(dist, n_vectors: int) -> dict:
    """The first ``n_vectors`` eigenvectors of SC3's PCA and Laplacian transforms of ``dist``."""
    import numpy as np
    from scipy.linalg import eigh

    n = dist.shape[0]
    std = dist.std(axis=0, ddof=1)
    scaled = (dist - dist.mean(axis=0)) / np.where(std > 0, std, 1.0)
    _, pca = eigh(scaled.T @ scaled, subset_by_index=[n - n_vectors, n - 1])
    affinity = np.exp(-dist / dist.max())
    inv_sqrt = affinity.sum(axis=0) ** -0.5
    laplacian = np.eye(n) - inv_sqrt[:, None] * affinity * inv_sqrt[None, :]
    _, lap = eigh(laplacian, subset_by_index=[0, n_vectors - 1])
    return {"pca": pca[:, ::-1], "laplacian": lap}


def dimensions(n_cells: int, settings: dict, rng) -> list[int]:
    """SC3's range of eigenvector counts, at most ``max_dims`` of them drawn at random."""
    import numpy as np

    low = max(1, int(np.floor(settings["d_region_min"] * n_cells)))
    high = max(low, int(np.ceil(settings["d_region_max"] * n_cells)))
    dims = list(range(low, min(high, n_cells - 1) + 1)) or [1]
    if len(dims) > settings["max_dims"]:
        dims = sorted(rng.choice(dims, settings["max_dims"], replace=False).tolist())
    return dims


def consensus_labels(clusterings, k: int):
    """Complete-linkage clusters (cut at k) of the Euclidean distances between the rows of the
    consensus matrix of ``clusterings`` (one label vector per row)."""
    import numpy as np
    from scipy.cluster.hierarchy import cut_tree, linkage
    from scipy.spatial.distance import pdist

    clusterings = np.asarray(clusterings)
    n = clusterings.shape[1]
    consensus = np.zeros((n, n))
    for labels in clusterings:
        consensus += labels[:, None] == labels[None, :]
    consensus /= len(clusterings)
    tree = linkage(pdist(consensus), method="complete")
    return cut_tree(tree, n_clusters=k).ravel(), consensus


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    from sklearn.cluster import KMeans

    settings = resolve_params("sc3", DEFAULTS, params)
    data = log_data(dense_counts(adata, "sc3"), settings["pct_dropout_min"],
                    settings["pct_dropout_max"])
    k_estimated = max(2, estimate_k(data))
    k = require_k("sc3", settings["k"], adata.n_obs) if settings["k"] else k_estimated
    rng = np.random.default_rng(seed)
    n = data.shape[0]
    train = np.arange(n)
    if n > settings["svm_max"]:
        train = np.sort(rng.choice(n, settings["svm_max"], replace=False))
    nstart = settings["kmeans_nstart"] or (50 if len(train) > 2000 else 1000)
    dims = dimensions(len(train), settings, rng)
    clusterings = []
    for dist in distances(data[train]).values():
        for vectors in transformations(dist, max(dims)).values():
            for d in dims:
                model = KMeans(n_clusters=k, n_init=nstart, max_iter=settings["kmeans_max_iter"],
                               random_state=int(rng.integers(2**31 - 1)))
                clusterings.append(model.fit_predict(vectors[:, :d]))
    train_labels, _ = consensus_labels(clusterings, k)
    labels = np.empty(n, dtype=np.int64)
    labels[train] = train_labels
    if len(train) < n:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        study = np.setdiff1d(np.arange(n), train)
        svm = make_pipeline(StandardScaler(), SVC(kernel="linear", C=1.0))
        labels[study] = svm.fit(data[train], train_labels).predict(data[study])
    extra = {"settings": settings, "k_estimated": k_estimated, "k_used": k,
             "n_genes_used": int(data.shape[1]), "dims": dims, "kmeans_nstart": nstart,
             "n_clusterings": len(clusterings), "n_svm_train": int(len(train))}
    return MethodOutput(labels=labels, extra=extra)
