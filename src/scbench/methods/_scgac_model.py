"""scGAC's torch part: the graph-attention autoencoder and its two training stages.

Imported by :mod:`scbench.methods.scgac` inside ``run`` (torch is loaded only then).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from torch import nn
from torch.nn import functional as F

CHUNK = 8192  # edges per step of the attention-weight gradient


def _glorot(*shape: int) -> nn.Parameter:
    """Keras' glorot_uniform on the last two axes (one matrix per head)."""
    fan_in, fan_out = shape[-2], shape[-1]
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return torch.nn.Parameter((torch.rand(*shape) * 2 - 1) * limit)


class EdgeAggregate(torch.autograd.Function):
    """out[h, i] = sum over edges (i, j) of weight[h, e] * feats[h, j], per head, as a sparse
    product; the weights' gradient is taken edge by edge in chunks, never as a dense n x n."""

    @staticmethod
    def forward(ctx, edges, weight, feats):
        ctx.save_for_backward(edges, weight, feats)
        return torch.stack([_sparse(edges, w, len(f)) @ f for w, f in zip(weight, feats)])

    @staticmethod
    def backward(ctx, grad_out):
        edges, weight, feats = ctx.saved_tensors
        src, dst = edges
        grad_feats = torch.stack([_sparse(edges.flip(0), w, len(g)) @ g
                                  for w, g in zip(weight, grad_out)])
        grad_weight = torch.empty_like(weight)
        for start in range(0, edges.shape[1], CHUNK):
            part = slice(start, start + CHUNK)
            grad_weight[:, part] = (grad_out[:, src[part]] * feats[:, dst[part]]).sum(-1)
        return None, grad_weight, grad_feats


def _sparse(edges, values, n: int):
    return torch.sparse_coo_tensor(edges, values, (n, n), check_invariants=False)


class GATLayer(nn.Module):
    """One multi-head graph-attention layer of scGAC over an edge list (i attends to j)."""

    def __init__(self, n_in: int, n_out: int, heads: int, dropout: float, concat: bool):
        super().__init__()
        self.kernel = _glorot(heads, n_in, n_out)
        self.bias = nn.Parameter(torch.zeros(heads, 1, n_out))
        self.attn_self = _glorot(heads, n_out, 1)
        self.attn_neigh = _glorot(heads, n_out, 1)
        self.dropout, self.concat = dropout, concat

    def forward(self, x, edges):
        src, dst = edges
        feats = torch.einsum("nf,hfo->hno", x, self.kernel)
        own = (feats @ self.attn_self).squeeze(-1)
        other = (feats @ self.attn_neigh).squeeze(-1)
        weight = torch.exp(torch.exp(-(own[:, src] - other[:, dst]) ** 2))
        total = torch.zeros_like(own).index_add_(1, src, weight)
        attention = F.dropout(weight / total[:, src], self.dropout, self.training)
        feats = F.dropout(feats, self.dropout, self.training)
        out = EdgeAggregate.apply(edges, attention, feats) + self.bias
        out = torch.cat(list(out), dim=1) if self.concat else out.mean(0)
        return F.elu(out)


class GATAutoencoder(nn.Module):
    """The 4-layer GAT autoencoder; forward gives (reconstruction, embedding, embedding after
    dropout), the last being what Q is computed from in training (the original's dropout3)."""

    def __init__(self, n_features: int, settings: dict[str, Any]):
        super().__init__()
        heads, h1, h2 = settings["heads"], settings["hidden1"], settings["hidden2"]
        self.rate = settings["dropout"]
        self.layers = nn.ModuleList([
            GATLayer(n_features, h1, heads, self.rate, True),
            GATLayer(h1 * heads, h2, heads, self.rate, True),
            GATLayer(h2 * heads, h1, heads, self.rate, True),
            GATLayer(h1 * heads, n_features, heads, self.rate, False),
        ])

    def forward(self, x, edges):
        def drop(t):
            return F.dropout(t, self.rate, self.training)

        hidden = self.layers[1](drop(self.layers[0](drop(x), edges)), edges)
        dropped = drop(hidden)
        recon = self.layers[3](drop(self.layers[2](dropped, edges)), edges)
        return recon, hidden, dropped


def soft_assign(z, centres):
    """Student-t (one degree of freedom) soft assignment Q, rows summing to 1."""
    q = 1.0 / (1.0 + ((z[:, None, :] - centres[None]) ** 2).sum(-1))
    return q / q.sum(1, keepdim=True)


def target_distribution(q):
    """DEC's P: q^2 / cluster frequency, rows renormalised."""
    p = q**2 / q.sum(0)
    return p / p.sum(1, keepdim=True)


def kld(p, q, eps: float = 1e-7):
    """Keras' ``kld``: sum_k p log(p / q) with both clipped to [eps, 1], mean over cells."""
    p, q = p.clamp(eps, 1), q.clamp(eps, 1)
    return (p * (p / q).log()).sum(1).mean()


def silhouette(hidden, labels) -> float:
    """Mean silhouette (Euclidean); -1 when it is undefined (one cluster, or one per cell)."""
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return -1.0
    return float(silhouette_score(hidden, labels, metric="euclidean"))


def train(model, x, edges, n_clusters: int, seed: int, settings: dict[str, Any]):
    """Pretraining, KMeans start and the silhouette-monitored clustering stage."""
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr_pretrain"], eps=1e-7)
    model.train()
    for _ in range(settings["epochs_pretrain"]):
        optimizer.zero_grad()
        recon, _, _ = model(x, edges)
        (recon - x).abs().mean().backward()
        optimizer.step()

    def evaluate():
        model.eval()
        with torch.no_grad():
            _, hidden, _ = model(x, edges)
        model.train()
        return hidden

    hidden = evaluate()
    kmeans = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    kmeans.fit(hidden.double().cpu().numpy())
    centres = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float32, device=x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], eps=1e-7)
    history: list[float] = []
    best_sil, best, fallback = 0.0, None, (-np.inf, None)
    stop = "max_iter"
    for iteration in range(settings["max_iter"] + 1):
        if iteration % settings["update_interval"] == 0:
            hidden = evaluate()
            q = soft_assign(hidden, centres)
            p = target_distribution(q)
            labels = q.argmax(1).cpu().numpy()
            hidden_np = hidden.double().cpu().numpy()
            sil = silhouette(hidden_np, labels)
            history.append(sil)
            if sil >= best_sil:
                best_sil, best = sil, (labels, hidden_np)
            if sil > fallback[0]:
                fallback = (sil, (labels, hidden_np))
            if len(history) >= 60 and np.mean(history[-30:]) - np.mean(history[-60:-30]) <= 0.02:
                stop = "silhouette plateau"
                break
            if len(history) >= 3 and history[-2] - history[-1] >= 0.05:
                stop = "silhouette drop"
                break
        optimizer.zero_grad()
        recon, _, dropped = model(x, edges)
        loss = (settings["c1"] * (recon - x).abs().mean()
                + settings["c2"] * kld(p, soft_assign(dropped, centres)))
        loss.backward()
        optimizer.step()
    if best is None:
        best = fallback[1]
    fit = {"iterations_run": iteration, "stop": stop, "silhouette_history": history,
           "best_silhouette": max(history)}
    return best[0], best[1].astype(np.float32), fit
