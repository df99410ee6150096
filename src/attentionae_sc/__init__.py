"""AttentionAE-sc: attention-fused ZINB and graph autoencoders for scRNA-seq clustering.

Reference: Li S. et al., "AttentionAE-sc: Single-cell clustering method with an attention-based
fusion of a denoising autoencoder and a graph autoencoder",
PLOS Comput Biol 19(11): e1011641 (2023).
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .config import ABLATIONS, VARIANTS, AttentionAEConfig
from .validation import InputError

if TYPE_CHECKING:
    from .api import cluster
    from .metrics import clustering_scores
    from .model import AttentionAESC, NotFittedError

# torch and scanpy load on first use, so `attentionae_sc.metrics` and `.config` stay cheap to import
_LAZY = {"cluster": ".api", "clustering_scores": ".metrics", "AttentionAESC": ".model",
         "NotFittedError": ".model"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ABLATIONS",
    "VARIANTS",
    "AttentionAEConfig",
    "AttentionAESC",
    "InputError",
    "NotFittedError",
    "cluster",
    "clustering_scores",
]
