"""Hyper-parameters of AttentionAE-sc.

Defaults follow the paper (Li et al. 2023, sections 2.1-2.5). Where the paper is silent they follow
the authors' code (commit 8bfbbb8). Where the two disagree, the default is the paper and the
code's behaviour is reachable through ``variant="reference"`` (see :data:`REFERENCE_VARIANT`).
One default departs from both: the Leiden resolution of the clustering start is chosen per
dataset by the silhouette of the pretrained embedding (``resolution="auto"``); the paper and the
code fix it at 1.0, which ``variant="paper"`` restores (see :data:`PAPER_VARIANT`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints

#: Parts of the model switched off: attention fusion, ZINB loss (MSE instead), residual connection
#: around the fusion, graph autoencoder, or both the graph autoencoder and the attention ("dae":
#: the plain ZINB denoising autoencoder that the paper's S6 Fig compares against).
Ablation = Literal["none", "no_attention", "no_zinb", "no_residual", "no_gnn", "dae"]
ABLATIONS: tuple[str, ...] = get_args(Ablation)
WITHOUT_GRAPH: tuple[str, ...] = ("no_gnn", "dae")
WITHOUT_ATTENTION: tuple[str, ...] = ("no_attention", "dae")
VARIANTS: tuple[str, ...] = ("default", "paper", "reference")

#: The paper's clustering start: Leiden at resolution 1.0 (section 2.5 and Fig 5C), with DEC's
#: fixed target P. The default instead chooses the resolution by the silhouette of Z.
PAPER_VARIANT: dict[str, Any] = {"resolution": 1.0, "init_graph_dense_max_cells": 4000}

#: Settings on which the authors' code departs from the paper.
REFERENCE_VARIANT: dict[str, Any] = {
    "gcn_normalization": "none",  # code: raw connectivities; paper: D^-1/2 A D^-1/2
    "graph_target": "distances",  # code: kNN distance matrix; paper: A of eq. 1 (A_ii = 1)
    "theta_activation": "softplus",  # code: softplus; paper: exp
    "student_t_power": 2.0,  # code: q <- q**(alpha+1)/2 (operator precedence); DEC: power 1
    # code: P is computed from Q without detaching, so KL's gradient also flows through P;
    # paper: P is DEC's target, which DEC holds fixed
    "detach_target": False,
    "noise": "relative",  # code: x + N(0,1)*0.1*x before enc1, enc2, z; paper: x + N(0, 0.01)
    "graph_knn": False,  # code: scanpy neighbors(knn=False), a dense Gaussian kernel
    **PAPER_VARIANT,  # code: Leiden at resolution 1.0, as in the paper
}


#: Field types checked by kind: the type, the kinds of value accepted, in words.
_PLAIN_KINDS: dict[type, tuple[type | tuple[type, ...], str]] = {
    bool: (bool, "a boolean"), int: (int, "an integer"), float: ((int, float), "a number"),
    str: (str, "a string"),
}


@dataclass(frozen=True)
class AttentionAEConfig:
    """All settings of one AttentionAE-sc run. Immutable; derive variants with :meth:`replace`."""

    # preprocessing (section 2.1)
    n_hvg: int = 2500
    target_sum: float = 1e4
    # cell graph (section 2.1 and 3.5)
    n_neighbors: int = 15
    graph_method: Literal["gauss", "umap"] = "gauss"
    graph_knn: bool = True
    graph_metric: str = "cosine"
    graph_pcs_from_cells: int = 10_000  # at/above this many cells the graph uses 50 PCs
    gcn_normalization: Literal["symmetric", "none"] = "symmetric"
    graph_target: Literal["adjacency", "distances"] = "adjacency"
    # network (sections 2.2-2.4)
    hidden: tuple[int, int, int] = (256, 64, 16)
    heads: int = 8
    attention_dropout: float = 0.2
    noise: Literal["input", "relative"] = "input"
    noise_sd: float = 0.1
    theta_activation: Literal["exp", "softplus"] = "exp"
    ablation: Ablation = "none"
    # training (section 2.5)
    lr: float = 1e-3
    clip_norm: float = 3.0
    epochs_pretrain: int = 200
    epochs_cluster: int = 100
    graph_weight: float = 0.1  # r1 in eq. 19
    train_weight: float = 0.1  # r2 in eq. 20
    lr_step: int = 40  # StepLR of the authors' code (pretraining only)
    lr_gamma: float = 0.5
    pretrain_patience: int = 50  # stop once more than this many epochs passed since the lowest loss
    # clustering stage (section 2.5)
    # Leiden resolution of the clustering start. "auto": of the partitions of Z that Leiden gives
    # at each resolution of ``resolution_grid``, the one with the highest silhouette (Euclidean,
    # the distance DEC's Student-t kernel uses) starts DEC. A number fixes it (paper and code:
    # 1.0, which splits large homogeneous types into chunks that DEC then keeps; see README).
    resolution: float | str = "auto"
    resolution_grid: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    # Graph of Z for the Leiden initialisation, a Gaussian kernel whatever graph_method is.
    # Paper: silent; code: neighbors(method="gauss", knn=False), a dense kernel over all training
    # cells, which are never more than its 4000-cell subsample. The paper and reference variants
    # do the same up to 4000 training cells; above that (full-batch training) they use the kernel
    # on a sparse kNN graph, because the dense kernel's n^2 edges stall Leiden (10k cells: >5 min,
    # >12 GB). The default always uses the kNN graph (0): its resolution scan runs Leiden ten
    # times, which on the dense kernel took 219 s of an 854 s run on Baron mouse.
    init_graph_dense_max_cells: int = 0
    # Network mode for the Z that Leiden initialises from. Paper: silent; code: the model is never
    # switched to eval mode, so input noise, query dropout and batch-statistics BatchNorm are on
    # (True). False = the deterministic eval-mode embedding.
    init_embedding_train_mode: bool = True
    student_t_alpha: float = 1.0
    student_t_power: float = 1.0  # exponent on (1 + d^2/alpha)^-1 after alpha's (alpha+1)/2
    # P is a fixed target each epoch, as in the DEC that eqs. 16-18 take over: no gradient flows
    # through it. False = the authors' code, where KL(P||Q) can also fall by flattening Q
    # towards uniform rows, which collapses the clusters (worm_neuron, see README).
    detach_target: bool = True
    tol: float = 1e-3
    min_cluster_epochs: int = 20  # the label-change test starts after this epoch
    # scale
    max_cells: int | None = 4000
    graph_block_elements: int = 2**25  # n x n graph loss is computed in row blocks of this size

    def __post_init__(self) -> None:
        self._normalise()
        for field, kind in get_type_hints(type(self)).items():
            value = getattr(self, field)
            if get_origin(kind) is Literal and value not in get_args(kind):
                raise ValueError(f"{field} must be one of {get_args(kind)}, got {value!r}")
            allowed = _PLAIN_KINDS.get(kind)
            if allowed and not (isinstance(value, allowed[0])
                                and isinstance(value, bool) == (kind is bool)):
                raise ValueError(f"{field} must be {allowed[1]}, got {value!r}")
        if self.resolution != "auto" and not (
                isinstance(self.resolution, (int, float)) and self.resolution > 0):
            raise ValueError(f"resolution must be 'auto' or > 0, got {self.resolution!r}")
        if not self.resolution_grid or min(self.resolution_grid) <= 0:
            raise ValueError(f"resolution_grid must hold resolutions > 0, got "
                             f"{self.resolution_grid}")
        for name in ("lr", "clip_norm", "student_t_alpha", "student_t_power",
                     "target_sum"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("noise_sd", "graph_weight", "train_weight", "tol"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.attention_dropout < 1:
            raise ValueError(f"attention_dropout must be in [0, 1), got {self.attention_dropout}")
        for name in ("n_hvg", "n_neighbors", "heads", "epochs_pretrain", "graph_block_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("epochs_cluster", "init_graph_dense_max_cells"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_cells is not None and self.max_cells <= self.n_neighbors:
            raise ValueError(
                f"max_cells ({self.max_cells}) must exceed n_neighbors ({self.n_neighbors}); "
                "use None to train on all cells"
            )
        if self.graph_method == "umap" and not self.graph_knn:
            raise ValueError("graph_method 'umap' needs graph_knn=True: scanpy builds UMAP "
                             "connectivities on the kNN graph only")
        if len(self.hidden) != 3:
            raise ValueError(f"hidden must have three sizes (enc1, enc2, z), got {self.hidden}")

    def _normalise(self) -> None:
        """Accept the values :meth:`to_dict` writes and ``AnnData.uns`` reads back: numpy
        scalars and arrays, lists for tuples, and ``max_cells=0`` for all cells."""
        for name, value in vars(self).items():
            if hasattr(value, "tolist"):  # numpy scalar or array
                value = value.tolist()
            if isinstance(value, list):
                value = tuple(value)
            object.__setattr__(self, name, value)
        if self.max_cells == 0:
            object.__setattr__(self, "max_cells", None)

    @classmethod
    def from_variant(cls, variant: str = "default", **overrides: Any) -> AttentionAEConfig:
        """The defaults, the paper's fixed start (``"paper"``) or the authors' code
        (``"reference"``), plus overrides."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        base = {"default": {}, "paper": PAPER_VARIANT, "reference": REFERENCE_VARIANT}[variant]
        return cls(**{**base, **overrides})

    def replace(self, **changes: Any) -> AttentionAEConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, storable in ``AnnData.uns`` (None becomes 0 for ``max_cells``), that
        ``AttentionAEConfig(**d)`` turns back into this config."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        out["max_cells"] = self.max_cells or 0
        return out
