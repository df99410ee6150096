"""The AttentionAE-sc network (sections 2.2-2.4): pure torch, no AnnData.

DAE encoder  x -> E0 (256) -> E1 (64) -> E2 (16)
GAE encoder        E0 -> H1 (64) -> H2 (16)        (E0 is the layer shared by DAE and GAE)
fusion             R1 = Attn(Q=H1, K=V=E1) + E1 feeds the next encoder layer,
                   Z  = Attn(Q=H2, K=V=E2) + E2 is the cell embedding
decoders           Z -> 64 -> 256 -> ZINB heads (pi, mu, theta);  sigmoid(H2 H2^T) for the graph
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import WITHOUT_ATTENTION, WITHOUT_GRAPH
from .losses import CountTarget, GraphTarget, graph_reconstruction_mse, zinb_nll

MU_RANGE = (1e-5, 1e6)
THETA_RANGE = (1e-4, 1e3)


class ModuleOutput(NamedTuple):
    z: torch.Tensor  # cell embedding (n x 16)
    graph_embedding: torch.Tensor | None  # H2, decoded as sigmoid(H2 H2^T); None without GAE
    pi: torch.Tensor | None  # dropout probability; None for the no_zinb ablation
    mu: torch.Tensor | None  # NB mean, already scaled by the size factors
    theta: torch.Tensor | None  # NB dispersion
    reconstruction: torch.Tensor | None  # z-scored input reconstruction (no_zinb only)


class GCNLayer(nn.Module):
    """H' = tanh(A_norm H W) with a sparse or dense normalised adjacency (eq. 2)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, features: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return torch.tanh(adjacency @ (features @ self.weight))


class FusionAttention(nn.Module):
    """Multi-head attention with queries from one embedding and keys/values from another.

    Each head has the full embedding width; queries get dropout; attention is over cells
    (eqs. 13-15). Uses ``scaled_dot_product_attention``, whose 1/sqrt(dim) scaling equals the
    authors' dim^(-1/4) on queries and keys, and whose fused kernels avoid the n x n matrix.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.to_query = nn.Linear(dim, dim * heads, bias=False)
        self.to_key = nn.Linear(dim, dim * heads, bias=False)
        self.to_value = nn.Linear(dim, dim * heads, bias=False)
        self.query_dropout = nn.Dropout(dropout)
        self.unify_heads = nn.Linear(dim * heads, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        # 1 x heads x n x dim: the 4-d layout lets torch pick its fused (flash) kernels
        return x.view(1, x.shape[0], self.heads, self.dim).transpose(1, 2)

    def forward(self, query_source: torch.Tensor, key_value_source: torch.Tensor) -> torch.Tensor:
        query = self._split(self.query_dropout(self.to_query(query_source)))
        key = self._split(self.to_key(key_value_source))
        value = self._split(self.to_value(key_value_source))
        fused = F.scaled_dot_product_attention(query, key, value)
        return self.unify_heads(fused.transpose(1, 2).reshape(query_source.shape[0], -1))


def _bounded_exp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.exp(x.clamp(math.log(low), math.log(high)))


class AttentionAEModule(nn.Module):
    """Denoising ZINB autoencoder and graph autoencoder fused by two attention blocks."""

    def __init__(
        self,
        n_genes: int,
        *,
        hidden: tuple[int, int, int] = (256, 64, 16),
        heads: int = 8,
        attention_dropout: float = 0.2,
        noise: str = "input",
        noise_sd: float = 0.1,
        theta_activation: str = "exp",
        ablation: str = "none",
    ) -> None:
        super().__init__()
        if noise not in ("input", "relative"):
            raise ValueError(f"noise must be 'input' or 'relative', got {noise!r}")
        if theta_activation not in ("exp", "softplus"):
            raise ValueError(
                f"theta_activation must be 'exp' or 'softplus', got {theta_activation!r}")
        d0, d1, d2 = hidden
        self.noise, self.noise_sd = noise, noise_sd
        self.theta_activation = theta_activation
        self.ablation = ablation
        self.uses_graph = ablation not in WITHOUT_GRAPH
        self.uses_attention = ablation not in WITHOUT_ATTENTION
        self.uses_zinb = ablation != "no_zinb"
        # denoising autoencoder: Linear -> ReLU -> BatchNorm, as in the authors' code
        self.enc1 = nn.Sequential(nn.Linear(n_genes, d0), nn.ReLU(), nn.BatchNorm1d(d0))
        self.enc2 = nn.Sequential(nn.Linear(d0, d1), nn.ReLU(), nn.BatchNorm1d(d1))
        self.z_layer = nn.Linear(d1, d2)
        self.decoder = nn.Sequential(nn.Linear(d2, d1), nn.ReLU(), nn.Linear(d1, d0), nn.ReLU())
        if self.uses_zinb:
            self.pi_head = nn.Linear(d0, n_genes)
            self.mu_head = nn.Linear(d0, n_genes)
            self.theta_head = nn.Linear(d0, n_genes)
        else:
            self.reconstruction_head = nn.Linear(d0, n_genes)
        # graph autoencoder on the shared first layer
        if self.uses_graph:
            self.gcn1 = GCNLayer(d0, d1)
            self.gcn2 = GCNLayer(d1, d2)
        # information fusion blocks
        if self.uses_attention:
            self.fusion1 = FusionAttention(d1, heads, attention_dropout)
            self.fusion2 = FusionAttention(d2, heads, attention_dropout)

    def _relative_noise(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise == "relative" and self.noise_sd:
            return x + torch.randn_like(x) * self.noise_sd * x.detach()
        return x

    def _fuse(
        self, block: str, graph_emb: torch.Tensor | None, dae_emb: torch.Tensor
    ) -> torch.Tensor:
        if not self.uses_attention:
            return dae_emb
        query = dae_emb if graph_emb is None else graph_emb
        fused = getattr(self, block)(query, dae_emb)
        return fused if self.ablation == "no_residual" else fused + dae_emb

    def encode(
        self, x: torch.Tensor, adjacency: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Cell embedding Z and the GAE embedding H2 (None without the GAE)."""
        if self.training and self.noise == "input" and self.noise_sd:
            x = x + torch.randn_like(x) * self.noise_sd
        e0 = self.enc1(self._relative_noise(x))
        h1 = h2 = None
        if self.uses_graph:
            if adjacency is None:
                raise ValueError("this model needs the cell graph (adjacency)")
            h1 = self.gcn1(e0, adjacency)
            h2 = self.gcn2(h1, adjacency)
        r1 = self._fuse("fusion1", h1, self.enc2(self._relative_noise(e0)))
        z = self._fuse("fusion2", h2, self.z_layer(self._relative_noise(r1)))
        return z, h2

    def forward(
        self,
        x: torch.Tensor,
        adjacency: torch.Tensor | None,
        size_factors: torch.Tensor | None = None,
    ) -> ModuleOutput:
        z, h2 = self.encode(x, adjacency)
        decoded = self.decoder(z)
        if not self.uses_zinb:
            return ModuleOutput(z, h2, None, None, None, self.reconstruction_head(decoded))
        pi = torch.sigmoid(self.pi_head(decoded))
        mu = _bounded_exp(self.mu_head(decoded), *MU_RANGE)
        if size_factors is not None:
            mu = mu * size_factors.unsqueeze(1)
        raw_theta = self.theta_head(decoded)
        if self.theta_activation == "exp":
            theta = _bounded_exp(raw_theta, *THETA_RANGE)
        else:
            theta = F.softplus(raw_theta).clamp(*THETA_RANGE)
        return ModuleOutput(z, h2, pi, mu, theta, None)

    def losses(
        self,
        output: ModuleOutput,
        *,
        x: torch.Tensor,
        counts: torch.Tensor | CountTarget,
        graph_target: GraphTarget | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, graph) losses: ZINB NLL of the counts (MSE of the z-scored input
        for no_zinb) and the graph reconstruction MSE (zero without the GAE)."""
        if self.uses_zinb:
            reconstruction = zinb_nll(counts, output.mu, output.theta, output.pi)
        else:
            reconstruction = F.mse_loss(output.reconstruction, x)
        if self.uses_graph:
            graph = graph_reconstruction_mse(output.graph_embedding, graph_target)
        else:
            graph = torch.zeros((), device=x.device)
        return reconstruction, graph

    def _fixed_while_clustering(self) -> list[nn.Parameter]:
        """The decoder, the output heads and the BatchNorm scales and shifts."""
        batchnorm = {id(p) for module in self.modules() if isinstance(module, nn.BatchNorm1d)
                     for p in module.parameters()}
        return [p for name, p in self.named_parameters()
                if id(p) in batchnorm or name.startswith(
                    ("decoder", "pi_head", "mu_head", "theta_head", "reconstruction_head"))]

    def clustering_parameters(self) -> list[nn.Parameter]:
        """Parameters the clustering stage updates, as in the authors' code: the encoder's linear
        layers, the GCN, the attention blocks and the z layer. The decoder, the output heads and
        the BatchNorm scales and shifts keep their pretrained values (BatchNorm's running
        statistics still follow the data in training mode)."""
        fixed = {id(p) for p in self._fixed_while_clustering()}
        return [p for p in self.parameters() if id(p) not in fixed]

    @contextmanager
    def clustering_stage(self) -> Iterator[list[nn.Parameter]]:
        """Within the block, only :meth:`clustering_parameters` (yielded) take gradients; the
        other parameters neither compute nor keep one (their last pretraining gradient is
        dropped), so no backward time goes into weights that stay fixed and gradient clipping
        sees only the weights being trained. Gradients are switched back on afterwards."""
        fixed = self._fixed_while_clustering()
        for p in fixed:
            p.requires_grad_(False)
            p.grad = None
        try:
            yield self.clustering_parameters()
        finally:
            for p in fixed:
                p.requires_grad_(True)
