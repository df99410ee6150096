"""scGNN (Wang et al., Nat Commun 2021), its clustering path re-implemented in PyTorch.

Written from the paper and the facts of juexinwang/scGNN@09ac50b (``scGNN.py`` and its helpers;
no code copied), with its defaults:

1. preprocessing (``PreprocessingscGNN.py``, CSV path): genes non-zero in >= 1 % of cells, then
   cells non-zero in >= 1 % of those genes, the 2000 genes with the largest variance of the
   counts, log(1 + x) (no library-size normalisation);
2. feature autoencoder dim -> 512 -> 128 -> 512 -> dim (ReLU on every layer, the output too),
   summed squared error + 1.0 x the L1 norm of all weights, Adam 1e-3, full batch (the
   original's batch of 12,800 cells holds every dataset here), 500 epochs; the embedding is
   the 128-d code of the last epoch;
3. the cell graph (:mod:`._scgnn_graph`): 10 nearest neighbours (Euclidean) on the embedding,
   neighbours farther than mean + 1 sd of the 10 distances pruned;
4. EM iterations (at most 10): "LouvainK" (Louvain on the graph only counts the communities;
   KMeans with k = int(count x resolution) on the embedding, resolution 0.8 below 2000 cells,
   else 0.5), then the cluster autoencoders (200 epochs per cluster) and 200 more feature
   autoencoder epochs, a new graph from the new embedding; stop when the labels agree with the
   previous iteration's at ARI > 0.99. Labels: the last iteration's.

What the published code actually trains (read in ``scGNN.py``): its ``train`` function takes the
data loader as a default argument bound when the function is defined, and the EM loop calls it
without one. So every "cluster autoencoder" epoch and every EM epoch trains the one feature
autoencoder on the whole input matrix, not on a cluster's or on the reconstructed matrix (the
cluster autoencoders' reconstructions are then written to the wrong cells and never used for
training). That is what runs here: ``cluster_epochs`` x (number of clusters) + ``em_epochs``
more epochs of the feature autoencoder on the input per EM iteration.

Deviations: LTMG is left out (an R package outside every registry; ``scGNN.py``'s default
``--regulized-type noregu`` does not use it either). The graph autoencoder (32 -> 16) is used by
``scGNN.py`` only with ``--useGAEembedding``, off by default, and the graph and cell-type
regularisers only in the imputation stage that runs after the labels are fixed: none of the
three changes the default labels, and they are not re-implemented. KMeans is seeded with the
run's seed (the original: 0) and Louvain through Python's ``random``. Cells the filter drops get
label -1 (``unassigned_label``) and NaN embedding rows. The embedding returned is the one the
final labels were computed from (the original writes the one after the last EM epochs).

Cost: the defaults train (500 + 10 x (200 x clusters + 200)) epochs at most; about 1 s per
epoch on one CPU thread at 2700 cells, i.e. hours. ``QUICK`` holds the settings of the
graph-sc authors' rerun of scGNN (``--EM-iteration 2 --EM-epochs 20 --quickmode``, 500 first
epochs), which gave the published numbers this re-implementation is compared with.
"""

from __future__ import annotations

from typing import Any

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ("torch", "sklearn", "scipy", "igraph")  # missing -> unavailable

DEFAULTS: dict[str, Any] = {
    "n_top_genes": 2000,
    "min_nonzero_fraction": 0.01,
    "epochs": 500,
    "em_iterations": 10,
    "em_epochs": 200,
    "cluster_autoencoders": True,
    "cluster_epochs": 200,
    "lr": 1e-3,
    "l1": 1.0,
    "k": 10,
    "resolution": "auto",
    "converge_ari": 0.99,
    "max_clusters": 30,
    "min_members": 5,
}

QUICK: dict[str, Any] = {"em_iterations": 2, "em_epochs": 20, "cluster_autoencoders": False}


def preprocess(counts, settings: dict[str, Any]):
    """Masks of the kept cells and genes and the log(1 + x) matrix (kept cells x genes)."""
    import numpy as np

    fraction = settings["min_nonzero_fraction"]
    genes = (counts > 0).mean(0) >= fraction
    cells = (counts[:, genes] > 0).mean(1) >= fraction
    kept = counts[cells][:, genes]
    variance = kept.var(0, ddof=1)
    top = np.sort(np.argsort(variance, kind="stable")[-settings["n_top_genes"]:])
    selected = np.zeros_like(genes)
    selected[np.flatnonzero(genes)[top]] = True
    return cells, selected, np.log1p(kept[:, top])


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import scipy.sparse as sp

    settings = resolve_params("scgnn", DEFAULTS, params)
    if settings["em_iterations"] < 1 or settings["epochs"] < 1:
        raise ValueError("scgnn: epochs and em_iterations must be >= 1")
    counts = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    counts = counts.astype(np.float64)
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("scgnn needs raw counts: the input has negative, NaN or Inf values")
    cells, genes, x = preprocess(counts, settings)
    if cells.sum() <= settings["k"] + 1 or genes.sum() < 2:
        raise ValueError(f"scgnn: only {int(cells.sum())} cells and {int(genes.sum())} genes "
                         f"pass its 1 % non-zero filters; needs more than {settings['k'] + 1} "
                         "cells and 2 genes")
    chosen, z, info = cluster(x, seed=seed, device=device, settings=settings)
    labels = np.full(len(counts), -1, dtype=np.int64)
    labels[cells] = chosen
    embedding = np.full((len(counts), z.shape[1]), np.nan, dtype=np.float32)
    embedding[cells] = z
    extra = {"settings": settings, "unassigned_label": -1, "n_unassigned": int((~cells).sum()),
             "n_genes_used": int(genes.sum()), **info}
    return MethodOutput(labels=labels, embedding=embedding, extra=extra)


def cluster(x, *, seed: int, device: str, settings: dict[str, Any]):
    """The feature autoencoder, the pruned graph and the EM iterations on log data ``x``."""
    import random

    import numpy as np
    import torch
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from . import _scgnn_graph as graph

    torch.manual_seed(seed)
    random.seed(seed)
    data = torch.as_tensor(x, dtype=torch.float32, device=device)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 512), torch.nn.ReLU(), torch.nn.Linear(512, 128),
        torch.nn.ReLU(), torch.nn.Linear(128, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, x.shape[1]), torch.nn.ReLU()).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])

    def fit(epochs: int):
        z = None
        for _ in range(epochs):
            optimizer.zero_grad()
            z = model[:4](data)
            loss = ((model[4:](z) - data) ** 2).sum()
            loss = loss + settings["l1"] * sum(p.abs().sum() for p in model.parameters())
            loss.backward()
            optimizer.step()
        return z.detach().double().cpu().numpy() if z is not None else None

    z = fit(settings["epochs"])
    n = len(x)
    resolution = settings["resolution"]
    if resolution == "auto":
        resolution = 0.8 if n < 2000 else 0.5
    edges = graph.pruned_knn(z, settings["k"])
    previous, history = np.ones(n, dtype=np.int64), []
    for iteration in range(settings["em_iterations"]):
        communities = graph.louvain_count(n, *edges)
        k = graph.louvain_k(communities, float(resolution))
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z).predict(z)
        n_found = len(np.unique(labels))
        if n_found > settings["max_clusters"] or n_found <= 1:
            labels = graph.trim_clusters(labels, settings["min_members"],
                                         settings["max_clusters"])
        chosen_z = z
        extra_epochs = settings["em_epochs"]
        if settings["cluster_autoencoders"]:  # what the original trains: see the docstring
            extra_epochs += settings["cluster_epochs"] * len(np.unique(labels))
        z = fit(extra_epochs) if extra_epochs else z
        edges = graph.pruned_knn(z, settings["k"])
        agreement = float(adjusted_rand_score(previous, labels))
        history.append({"louvain_communities": communities, "kmeans_k": k,
                        "ari_to_previous": agreement})
        if agreement > settings["converge_ari"]:
            break
        previous = labels
    info = {"em_iterations_run": iteration + 1, "em_history": history,
            "resolution_used": resolution}
    return labels, chosen_z.astype(np.float32), info
