"""scDeepCluster (Tian et al., Nat Mach Intell 2019), re-implemented in PyTorch (needs k).

Written from the paper and from facts read in the authors' Keras code (ttgump/scDeepCluster
@ff7f29d, ``code/scDeepCluster.py``) and their PyTorch port (ttgump/scDeepCluster_pytorch
@537cab7); no code was copied. The ZINB likelihood is this project's
``attentionae_sc.losses.zinb_nll``.

- Preprocessing (their ``normalize``): genes without counts dropped, all other genes kept; size
  factors = total counts / median; counts / size factor -> log1p -> z-score per gene.
- ZINB autoencoder genes -> 256 -> 64 -> 32 (ReLU; linear bottleneck) -> 64 -> 256 -> heads
  mean = clip(exp, 1e-5, 1e6) x size factor, dispersion = clip(softplus, 1e-4, 1e4),
  dropout = sigmoid. Glorot-uniform weights, zero biases (Keras defaults).
- Gaussian noise (sd 2.5) on the input and on the pre-activations of both hidden encoder layers,
  as in the Keras code (``noise_layers="all"``); the PyTorch port puts it on the input only
  (``noise_layers="input"``). The clean encoder (no noise) gives z, q and the embedding.
- Pretraining: ZINB loss, Adam (lr 1e-3, amsgrad), 400 epochs (the Keras default; the port
  uses 300), batches of 256 shuffled each epoch, early stop after 50 epochs without a lower
  loss (Keras ``EarlyStopping(patience=50)``).
- Clustering: KMeans (k given, n_init 20) on z sets the centres; then Student-t q (alpha 1),
  target P = q^2 / f normalised, recomputed on all cells before every epoch; loss
  gamma * KL(P||q) + ZINB with gamma 1; Adadelta (lr 1.0, rho 0.95, eps 1e-7 as Keras); batches
  of 256 in cell order; stops when fewer than 0.1 % of labels change between two updates, or
  after 20000 batches (Keras ``maxiter``). Labels: argmax q at the last update.

Deviations: float32 (the port uses float64); the Keras KLD clips p and q to [1e-7, 1] and we
add 1e-10 inside the log only; ``zinb_nll`` adds its eps (1e-10 here, as their loss) in a few
other places; KMeans and torch are seeded with ``seed`` (their scripts fix one seed).
"""

from __future__ import annotations

import math

from ._common import resolve_params
from ._reimpl import dense_counts, require_k
from .registry import MethodOutput

REQUIRES = ("torch", "sklearn", "attentionae_sc")  # missing -> unavailable

DEFAULTS = {
    "hidden": [256, 64],
    "z_dim": 32,
    "sigma": 2.5,
    "noise_layers": "all",
    "pretrain_epochs": 400,
    "pretrain_lr": 1e-3,
    "patience": 50,
    "batch_size": 256,
    "gamma": 1.0,
    "cluster_lr": 1.0,
    "tol": 1e-3,
    "max_iter": 20000,
    "n_init": 20,
}


def preprocess(counts):
    """(z-scored log data, raw counts, size factors) of a dense cells x genes count matrix."""
    import numpy as np

    counts = counts[:, counts.sum(axis=0) > 0]
    totals = counts.sum(axis=1)
    size_factors = totals / np.median(totals)
    logged = np.log1p(counts / size_factors[:, None])
    std = logged.std(axis=0, ddof=1)
    scaled = (logged - logged.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return scaled, counts, size_factors


def build_network(n_genes: int, settings: dict):
    """The ZINB autoencoder as a torch module (built here so torch loads only inside ``run``)."""
    import torch
    from torch import nn

    class ZINBAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = [n_genes, *settings["hidden"]]
            self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
            self.bottleneck = nn.Linear(sizes[-1], settings["z_dim"])
            back = [settings["z_dim"], *reversed(settings["hidden"])]
            self.decoder = nn.Sequential(*(m for a, b in zip(back, back[1:])
                                           for m in (nn.Linear(a, b), nn.ReLU())))
            self.mean, self.disp, self.pi = (nn.Linear(back[-1], n_genes) for _ in range(3))
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)

        def encode(self, x, noisy: bool = False):
            sigma, everywhere = settings["sigma"], settings["noise_layers"] == "all"
            h = x + sigma * torch.randn_like(x) if noisy else x
            for layer in self.encoder:
                h = layer(h)
                if noisy and everywhere:
                    h = h + sigma * torch.randn_like(h)
                h = torch.relu(h)
            return self.bottleneck(h)

        def decode(self, z, size_factors):
            h = self.decoder(z)
            mean = torch.exp(self.mean(h)).clamp(1e-5, 1e6) * size_factors[:, None]
            disp = nn.functional.softplus(self.disp(h)).clamp(1e-4, 1e4)
            return mean, disp, torch.sigmoid(self.pi(h))

    return ZINBAutoencoder()


def soft_assign(z, centres):
    """Student-t (alpha 1) similarity of each cell to each centre, rows summing to 1."""
    import torch

    q = 1.0 / (1.0 + torch.cdist(z, centres) ** 2)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q):
    weight = q**2 / q.sum(dim=0)
    return weight / weight.sum(dim=1, keepdim=True)


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import torch
    from sklearn.cluster import KMeans

    from attentionae_sc.losses import zinb_nll

    settings = resolve_params("scdeepcluster", DEFAULTS, params)
    if settings["noise_layers"] not in ("all", "input"):
        raise ValueError(f"scdeepcluster: noise_layers must be 'all' or 'input', got "
                         f"{settings['noise_layers']!r}")
    k = require_k("scdeepcluster", n_clusters, adata.n_obs)
    scaled, raw, size_factors = preprocess(dense_counts(adata, "scdeepcluster"))
    torch.manual_seed(seed)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    x, counts, sf = as_tensor(scaled), as_tensor(raw), as_tensor(size_factors)
    n, batch = x.shape[0], settings["batch_size"]
    model = build_network(x.shape[1], settings).to(device)
    eps = 1e-10

    def zinb_loss(index):
        mean, disp, pi = model.decode(model.encode(x[index], noisy=True), sf[index])
        return zinb_nll(counts[index], mean, disp, pi, eps=eps)

    def embed():
        with torch.no_grad():
            return torch.cat([model.encode(x[i:i + batch]) for i in range(0, n, batch)])

    # pretraining
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["pretrain_lr"], amsgrad=True)
    best, waited, losses = math.inf, 0, []
    for _ in range(settings["pretrain_epochs"]):
        order, total = torch.randperm(n, device=device), 0.0
        for start in range(0, n, batch):
            index = order[start:start + batch]
            loss = zinb_loss(index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / n)
        best, waited = (losses[-1], 0) if losses[-1] < best else (best, waited + 1)
        if waited >= settings["patience"]:
            break

    # clustering
    kmeans = KMeans(n_clusters=k, n_init=settings["n_init"], random_state=seed)
    last = kmeans.fit_predict(embed().cpu().numpy().astype(np.float64))
    centres = torch.nn.Parameter(as_tensor(kmeans.cluster_centers_))
    optimizer = torch.optim.Adadelta([*model.parameters(), centres], lr=settings["cluster_lr"],
                                     rho=0.95, eps=1e-7)
    n_batches = math.ceil(n / batch)
    max_epochs = max(1, math.ceil(settings["max_iter"] / n_batches))
    labels, converged, epochs_run = last, False, 0
    for epoch in range(max_epochs):
        with torch.no_grad():
            q = soft_assign(embed(), centres)
            p = target_distribution(q)
        labels = q.argmax(dim=1).cpu().numpy()
        delta = float(np.mean(labels != last))
        last = labels
        if epoch > 0 and delta < settings["tol"]:
            converged = True
            break
        for start in range(0, n, batch):
            index = torch.arange(start, min(start + batch, n), device=device)
            q_batch = soft_assign(model.encode(x[index]), centres)
            p_batch = p[index]
            kl = (p_batch * torch.log(p_batch / (q_batch + eps) + eps)).sum(dim=1).mean()
            loss = settings["gamma"] * kl + zinb_loss(index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epochs_run = epoch + 1

    embedding = embed().cpu().numpy()
    extra = {"settings": settings, "n_genes_used": int(x.shape[1]),
             "pretrain_epochs_run": len(losses), "pretrain_final_loss": losses[-1],
             "cluster_epochs_run": epochs_run, "converged": converged}
    return MethodOutput(labels=labels, embedding=embedding, extra=extra)
