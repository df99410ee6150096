"""SCEA (BMC Genomics 2023), re-implemented as an option of :mod:`scbench.methods.scgac`.

SCEA's published code (SAkbari93/SCEA@a13ef01) is scGAC's code (same graph, network, losses,
defaults and stopping rule) with one change: PCA-512 is replaced by a genes -> 4096 -> 2048 ->
1024 tanh network with Glorot-uniform weights and zero biases that is never trained, i.e. a
random non-linear projection. Here it is seeded (``features="random_tanh"``). Its deviations
are scGAC's (see :mod:`scbench.methods.scgac`).
"""

from __future__ import annotations

from .scgac import DEFAULTS as SCGAC_DEFAULTS
from .scgac import REQUIRES, run_as

__all__ = ["DEFAULTS", "REQUIRES", "run"]

DEFAULTS = {**SCGAC_DEFAULTS, "features": "random_tanh"}


def run(adata, *, seed, threads, device, n_clusters, params):
    return run_as("scea", DEFAULTS, adata, seed=seed, device=device, n_clusters=n_clusters,
                  params=params)
