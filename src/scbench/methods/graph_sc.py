"""graph-sc (Ciortan & Defrance, Bioinformatics 2022), re-implemented with plain torch sparse
products instead of DGL (Leiden by default: does not need k).

Written from the paper and from facts read in the authors' code (ciortanmadalina/graph-sc
@cda360b: ``train.py``, ``models.py``, ``notebooks/Benchmark_real_data.ipynb``); no code copied.

- Genes: total count >= 3; counts normalised to the median total, log1p, then the 3000 most
  variable genes (scanpy ``highly_variable_genes``, flavor "seurat"). The graph uses the raw
  counts of those genes.
- Graph: one node per gene and per cell; an edge gene -> cell for every non-zero count, with
  weight w = log1p(x) / (sum of log1p(x) over the cell's genes + 1e-6), then rescaled so that
  each cell's in-weights sum to its number of in-edges ("edge_norm"); a self-loop of weight 1 on
  every node. Genes receive no edges from cells (the original graph is directed).
- Node features: genes: PCA-50 (``random_state=1``, as the original) of the gene x cell matrix
  of the weights before rescaling, z-scored per gene; cells: weights x gene features.
- Encoder: dropout 0.1 on the input features, one weighted GraphConv 50 -> 200 (ReLU, DGL's
  "both" normalisation), then a linear layer 200 -> 300 (no activation): the embedding.
- Training: the original samples mini-batches of 128 cells (shuffled, DGL's full-neighbour
  sampler), so every batch is a bipartite block of its cells and their genes. The degree
  normalisation is that block's: a gene's features are scaled by (number of cells of the batch
  that express it)^-1/2, a cell's own features (its self-loop) by 1, and a cell's sum by
  (its number of genes + 1)^-1/2. The decoder is the inner product Z Z^T of the batch's
  embeddings after dropout 0.1 (applied even at evaluation, as in the original, where it only
  touches the loss). Its target is the original's ``adj[dstnodes]`` of the block: the edges
  among the batch's cells, which are only the self-loops, i.e. the identity. Loss:
  norm * BCE-with-logits(Z Z^T, I, pos_weight = (b^2 - sum I) / sum I), with
  norm = b^2 / (2 (b^2 - sum I)). Adam lr 1e-5, 10 epochs.
- Embedding: computed batch by batch in evaluation mode over a shuffled order, as the original
  does with its shuffled loader. Clustering: Leiden (resolution 1.0) on scanpy's kNN graph of
  the embedding with 300 neighbours (``cluster="leiden"``, the paper's setting), or KMeans
  (``cluster="kmeans"``, n_init 10, needs ``n_clusters`` in the params).

Deviations: every cell is kept (the original drops cells without counts in the kept genes;
such a cell here has only its self-loop); Leiden, KMeans, torch and the batch order are seeded
with ``seed`` (the original fixes KMeans' ``random_state=5``); the input of DGL's per-block
dropout is drawn for all gene nodes, not only the block's (same distribution).
"""

from __future__ import annotations

from ._common import resolve_params
from ._reimpl import dense_counts, require_k
from .registry import MethodOutput

REQUIRES = ("torch", "scanpy", "sklearn", "leidenalg", "igraph")  # missing -> unavailable

DEFAULTS = {
    "n_top_genes": 3000,
    "min_gene_counts": 3,
    "pca_size": 50,
    "hidden_dim": 200,
    "embedding_dim": 300,
    "dropout": 0.1,
    "epochs": 10,
    "batch_size": 128,
    "lr": 1e-5,
    "cluster": "leiden",
    "resolution": 1.0,
    "n_neighbors": 300,
    "n_clusters": None,
}


def select_genes(counts, n_top_genes: int, min_gene_counts: int):
    """Column indices of the genes graph-sc keeps (see the module docstring)."""
    import anndata as ad
    import numpy as np
    import scanpy as sc

    keep = np.flatnonzero(counts.sum(axis=0) >= min_gene_counts)
    data = ad.AnnData(counts[:, keep].astype(np.float32))
    sc.pp.normalize_total(data)
    sc.pp.log1p(data)
    if data.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(data, n_top_genes=n_top_genes, flavor="seurat")
        keep = keep[data.var["highly_variable"].to_numpy()]
    return keep


def build_graph(counts):
    """(edge weights, log-per-cell weights): both cells x genes, CSR.

    The first holds the gene -> cell edge weights after graph-sc's edge normalisation (without
    the self-loops, which all weigh 1); the second the weights before it, used for the features.
    """
    import numpy as np
    import scipy.sparse as sp

    matrix = sp.csr_matrix(counts, dtype=np.float64)
    matrix.eliminate_zeros()
    logged = matrix.copy()
    logged.data = np.log1p(logged.data)
    row_sums = np.asarray(logged.sum(axis=1)).ravel()
    per_cell = sp.diags(1.0 / (row_sums + 1e-6)) @ logged
    in_degree = np.diff(per_cell.indptr)
    weight_sums = np.asarray(per_cell.sum(axis=1)).ravel()
    scale = np.divide(in_degree, weight_sums, out=np.zeros_like(weight_sums),
                      where=weight_sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ per_cell), sp.csr_matrix(per_cell)


def node_features(per_cell, size: int):
    """(gene features, cell features) from the log-per-cell weights (genes: PCA of z-scores)."""
    import numpy as np
    from sklearn.decomposition import PCA

    dense = per_cell.toarray()
    std = dense.std(axis=0)
    scaled = (dense - dense.mean(axis=0)) / np.where(std > 0, std, 1.0)
    size = min(size, *scaled.shape)
    genes = PCA(size, random_state=1).fit_transform(scaled.T)
    return genes, dense @ genes


def batch_loss(z, dropout: float):
    """graph-sc's weighted BCE of Z Z^T against the batch's identity target."""
    import torch
    import torch.nn.functional as F

    b = z.shape[0]
    dropped = F.dropout(z, dropout, training=True)
    logits = dropped @ dropped.T
    target = torch.eye(b, device=z.device)
    negatives = float(b * b - b)
    pos_weight = torch.tensor([negatives / b], device=z.device)
    norm = b * b / (2 * negatives) if negatives else 1.0
    return norm * F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import torch
    from torch import nn

    settings = resolve_params("graph_sc", DEFAULTS, params)
    if settings["cluster"] not in ("leiden", "kmeans"):
        raise ValueError(f"graph_sc: cluster must be 'leiden' or 'kmeans', got "
                         f"{settings['cluster']!r}")
    counts = dense_counts(adata, "graph_sc")
    genes = select_genes(counts, settings["n_top_genes"], settings["min_gene_counts"])
    if len(genes) < 2:
        raise ValueError(f"graph_sc: only {len(genes)} gene(s) have at least "
                         f"{settings['min_gene_counts']} counts")
    weights, per_cell = build_graph(counts[:, genes])
    gene_feat, cell_feat = node_features(per_cell, settings["pca_size"])

    torch.manual_seed(seed)
    to_device = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    gene_x, cell_x = to_device(gene_feat), to_device(cell_feat)
    coo = weights.tocoo()
    edges = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data,
                                    weights.shape, dtype=torch.float32, device=device,
                                    check_invariants=True).coalesce()
    ones = torch.sparse_coo_tensor(edges.indices(), torch.ones_like(edges.values()),
                                   weights.shape, check_invariants=True).coalesce()
    dst_norm = (to_device(np.diff(weights.indptr)) + 1.0).pow(-0.5)

    conv = nn.Linear(gene_x.shape[1], settings["hidden_dim"]).to(device)
    nn.init.xavier_uniform_(conv.weight)
    nn.init.zeros_(conv.bias)
    head = nn.Linear(settings["hidden_dim"], settings["embedding_dim"]).to(device)
    drop = nn.Dropout(settings["dropout"])
    modules = nn.ModuleList([conv, head, drop])

    def embed(batch):
        block, present = edges.index_select(0, batch), ones.index_select(0, batch)
        gene_degree = torch.sparse.sum(present, dim=0).to_dense()
        src_norm = gene_degree.clamp(min=1).pow(-0.5)[:, None]
        from_genes = torch.sparse.mm(block, drop(gene_x) * src_norm @ conv.weight.T)
        own = drop(cell_x[batch]) @ conv.weight.T
        hidden = torch.relu((from_genes + own) * dst_norm[batch, None] + conv.bias)
        return head(hidden)

    n, size = cell_x.shape[0], settings["batch_size"]
    optimizer = torch.optim.Adam(modules.parameters(), lr=settings["lr"])
    losses = []
    modules.train()
    for _ in range(settings["epochs"]):
        order = torch.randperm(n, device=device)
        for start in range(0, n, size):
            loss = batch_loss(embed(order[start:start + size]), settings["dropout"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    modules.eval()
    embedding = torch.empty(n, settings["embedding_dim"], device=device)
    with torch.no_grad():
        order = torch.randperm(n, device=device)
        for start in range(0, n, size):
            batch = order[start:start + size]
            embedding[batch] = embed(batch)
    embedding = embedding.cpu().numpy().astype(np.float64)

    labels = cluster(embedding, settings, seed=seed, n_clusters=n_clusters)
    extra = {"settings": settings, "n_genes_used": int(len(genes)), "n_edges": int(weights.nnz),
             "final_batch_loss": losses[-1]}
    return MethodOutput(labels=labels, embedding=embedding, extra=extra)


def cluster(embedding, settings: dict, *, seed: int, n_clusters: int | None):
    """Leiden on the 300-NN graph of the embedding, or KMeans with k."""
    import anndata as ad
    import numpy as np

    from ._scanpy import leiden

    if settings["cluster"] == "kmeans":
        from sklearn.cluster import KMeans

        k = require_k("graph_sc (cluster='kmeans')", settings["n_clusters"] or n_clusters,
                      len(embedding))
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(embedding)
    import scanpy as sc

    data = ad.AnnData(np.asarray(embedding, dtype=np.float32))
    neighbours = min(settings["n_neighbors"], data.n_obs - 1)
    sc.pp.neighbors(data, n_neighbors=neighbours, use_rep="X", random_state=seed)
    return leiden(data, seed=seed, resolution=settings["resolution"])
