"""scGAC (Cheng & Ma, Bioinformatics 2022), re-implemented in PyTorch; also SCEA's engine.

Written from the paper and the facts of Joye9285/scGAC@893909a (TensorFlow 1.12 / Keras 2.1;
no code copied). Steps, with the original's defaults:

1. cells outside 3 IQR of detected genes or of total counts are dropped, then genes seen in
   fewer than 3 cells (``preprocess.py``); per cell to 1e5 and log2(1 + x);
2. the cell graph (:mod:`._scgac_graph`): Pearson r, cut where network enhancement is weak,
   then K-NN with K = (n // k) // 10 clipped to [6, 20];
3. features: PCA to 512 (the 512 most variable genes when there are at most 512 cells or
   genes), standardised by the global mean and sd. SCEA (``features="random_tanh"``): SCEA's
   published code (SAkbari93/SCEA@a13ef01) is scGAC's code with one change: PCA is replaced by
   a genes -> 4096 -> 2048 -> 1024 tanh network (Glorot-uniform weights, zero biases) that is
   never trained, i.e. a random non-linear projection, seeded here;
4. four graph-attention layers (64 x 4 heads concatenated, 16 x 4 = the 64-d embedding,
   64 x 4, input size averaged over 4 heads; ELU), each after dropout 0.4 and with dropout 0.4
   on its attention and features. Attention over the graph's edges only: score
   exp(-(a1.h_i - a2.h_j)^2), softmax over i's neighbours (an edge list, not an n x n matrix);
5. pretraining: mean absolute error, Adam 2e-4, 200 full-batch epochs;
6. KMeans (true k, n_init 10) on the embedding gives the centres; then MAE + KL(P || Q)
   (Student-t Q on the dropout-perturbed embedding, DEC's P recomputed every 2 iterations),
   Adam 5e-4, at most 5000 iterations, stopped when the mean silhouette of the last 30 checks
   is within 0.02 of the 30 before or falls by 0.05 from one check to the next;
7. labels: those of the check with the highest silhouette of the embedding.

The centres are never updated: the original's clustering layer holds KMeans' centres as a
constant (not a weight), and the line that recomputes them runs after Q is built and is never
used again, so training moves the embedding towards fixed centres. The same here.

Deviations: cells the filter drops (and cells left without counts) are not clustered: they get
label -1 (``unassigned_label``) and NaN embedding rows, where the original removes them from
its input; PCA is seeded (randomized solver, the original's unseeded default at these sizes);
NE's symmetric matrix uses ``eigh``; a run whose silhouettes are all negative (the original
then has no labels and fails) returns the labels of the best check; the embedding returned is
the one of the chosen check (the original writes the last one); the second graph cut (L = 0)
is not reproduced (a no-op below 10,000 cells).
"""

from __future__ import annotations

from typing import Any

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ("torch", "sklearn", "scipy")  # missing -> unavailable

DEFAULTS: dict[str, Any] = {
    "features": "pca",
    "pca_dim": 512,
    "projection_dims": [4096, 2048, 1024],
    "hidden1": 64,
    "hidden2": 16,
    "heads": 4,
    "dropout": 0.4,
    "lr_pretrain": 2e-4,
    "epochs_pretrain": 200,
    "lr": 5e-4,
    "max_iter": 5000,
    "update_interval": 2,
    "c1": 1.0,
    "c2": 1.0,
}

FEATURES = ("pca", "random_tanh")
MIN_CELLS = 20


def run(adata, *, seed, threads, device, n_clusters, params):
    return run_as("scgac", DEFAULTS, adata, seed=seed, device=device, n_clusters=n_clusters,
                  params=params)


def run_as(name: str, defaults: dict[str, Any], adata, *, seed: int, device: str,
           n_clusters: int | None, params: dict[str, Any]) -> MethodOutput:
    """The whole method for registry entry ``name`` (scgac or scea) with its defaults."""
    import numpy as np
    import scipy.sparse as sp

    settings = resolve_params(name, defaults, params)
    if not n_clusters or n_clusters < 2:
        raise ValueError(f"{name} needs n_clusters >= 2 (the true number of types), "
                         f"got {n_clusters!r}")
    if settings["features"] not in FEATURES:
        raise ValueError(f"{name}: features must be one of {FEATURES}, "
                         f"got {settings['features']!r}")
    counts = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    counts = counts.astype(np.float64)
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"{name} needs raw counts: the input has negative, NaN or Inf values")
    labels, embedding, info = cluster(counts, n_clusters, seed=seed, device=device,
                                      settings=settings, name=name)
    return MethodOutput(labels=labels, embedding=embedding,
                        extra={"settings": settings, "unassigned_label": -1, **info})


def cluster(counts, n_clusters: int, *, seed: int, device: str, settings: dict[str, Any],
            name: str = "scgac"):
    """Labels (-1 for cells not clustered), embedding (NaN rows there) and run details."""
    import numpy as np
    import torch

    from . import _scgac_graph as graph
    from ._scgac_model import GATAutoencoder, train

    cells, genes = graph.filter_cells_genes(counts)
    cells[cells] &= counts[cells][:, genes].sum(1) > 0
    n = int(cells.sum())
    if n < max(MIN_CELLS, 2 * n_clusters):
        raise ValueError(f"{name}: only {n} cells pass the 3-IQR filter and have counts; "
                         f"needs at least {max(MIN_CELLS, 2 * n_clusters)} for k={n_clusters}")
    normalized = graph.log_normalize(counts[cells][:, genes], 1e5)
    k = graph.neighbours_k(n, n_clusters)
    src, dst = np.nonzero(graph.cell_graph(normalized, k))
    torch.manual_seed(seed)
    x = torch.as_tensor(input_features(normalized, seed, settings), dtype=torch.float32,
                        device=device)
    edges = torch.as_tensor(np.stack([src, dst]), dtype=torch.long, device=device)
    model = GATAutoencoder(x.shape[1], settings).to(device)
    chosen, hidden, fit = train(model, x, edges, n_clusters, seed, settings)
    labels = np.full(len(counts), -1, dtype=np.int64)
    labels[cells] = chosen
    embedding = np.full((len(counts), hidden.shape[1]), np.nan, dtype=np.float32)
    embedding[cells] = hidden
    info = {"n_unassigned": int((~cells).sum()), "n_genes_used": int(genes.sum()),
            "graph_k": k, "n_edges": int(len(src)), "input_dim": int(x.shape[1]), **fit}
    return labels, embedding, info


def input_features(normalized, seed: int, settings: dict[str, Any]):
    """PCA-512 (scGAC) or the untrained tanh network (SCEA), then global standardisation."""
    import numpy as np

    if settings["features"] == "random_tanh":
        features = random_tanh(normalized, settings["projection_dims"], seed)
    elif min(normalized.shape) > settings["pca_dim"]:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=settings["pca_dim"], svd_solver="randomized", random_state=seed)
        features = pca.fit_transform(normalized)
    else:  # the original: genes with the largest variances, in their order, at most pca_dim
        variance = normalized.var(0)
        cut = np.sort(variance)[-min(settings["pca_dim"], len(variance))]
        features = normalized[:, variance >= cut][:, : settings["pca_dim"]]
    return (features - features.mean()) / features.std()


def random_tanh(normalized, dims: list[int], seed: int):
    """SCEA's never-trained Dense tanh layers: Glorot-uniform weights (seeded), zero biases."""
    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(seed)
    h = torch.as_tensor(normalized, dtype=torch.float32)
    for width in dims:
        limit = (6.0 / (h.shape[1] + width)) ** 0.5
        weight = (torch.rand(h.shape[1], width, generator=generator) * 2 - 1) * limit
        h = torch.tanh(h @ weight)
    return h.numpy().astype(np.float64)
