"""Control (ceiling): the annotated cell types. No embedding.

The only method that reads ``obs["celltype"]``: the runner hides it from non-control methods.
"""

from __future__ import annotations

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ()  # missing -> unavailable

DEFAULTS: dict = {}  # takes no parameters


def run(adata, *, seed, threads, device, n_clusters, params):
    resolve_params("true_labels", DEFAULTS, params)
    if "celltype" not in adata.obs:
        raise ValueError("true_labels needs obs['celltype']")
    return MethodOutput(labels=adata.obs["celltype"].astype(str).to_numpy())
