"""Control (floor): labels drawn uniformly over the true number of types, seeded. No embedding."""

from __future__ import annotations

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ()  # missing -> unavailable

DEFAULTS: dict = {}  # takes no parameters


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np

    resolve_params("random_labels", DEFAULTS, params)
    if not n_clusters:
        raise ValueError("random_labels needs n_clusters (the true number of types)")
    rng = np.random.default_rng(seed)
    return MethodOutput(labels=rng.integers(n_clusters, size=adata.n_obs))
