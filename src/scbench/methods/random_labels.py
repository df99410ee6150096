"""Control (floor): labels drawn uniformly over the true number of types, seeded. No embedding."""

from __future__ import annotations

from .registry import MethodOutput

REQUIRES = ()  # missing -> unavailable


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np

    if params:
        raise ValueError(f"random_labels takes no parameters, got {sorted(params)}")
    if not n_clusters:
        raise ValueError("random_labels needs n_clusters (the true number of types)")
    rng = np.random.default_rng(seed)
    return MethodOutput(labels=rng.integers(n_clusters, size=adata.n_obs))
