"""AttentionAE-sc: attention-fused ZINB and graph autoencoders for scRNA-seq clustering.

Reference: Li S. et al., "AttentionAE-sc: Single-cell clustering method with an attention-based
fusion of a denoising autoencoder and a graph autoencoder", PLOS Comput Biol 19(11): e1011641 (2023).
"""

from .api import cluster
from .config import ABLATIONS, VARIANTS, AttentionAEConfig
from .metrics import clustering_scores
from .model import AttentionAESC
from .validation import InputError

__all__ = [
    "ABLATIONS",
    "VARIANTS",
    "AttentionAEConfig",
    "AttentionAESC",
    "InputError",
    "cluster",
    "clustering_scores",
]
__version__ = "0.1.0"
