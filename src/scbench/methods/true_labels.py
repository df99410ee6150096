"""Control (ceiling): the annotated cell types. No embedding.

The only method that reads ``obs["celltype"]``: the runner hides it from non-control methods.
"""

from __future__ import annotations

from .registry import MethodOutput

REQUIRES = ()  # missing -> unavailable


def run(adata, *, seed, threads, device, n_clusters, params):
    if params:
        raise ValueError(f"true_labels takes no parameters, got {sorted(params)}")
    if "celltype" not in adata.obs:
        raise ValueError("true_labels needs obs['celltype']")
    return MethodOutput(labels=adata.obs["celltype"].astype(str).to_numpy())
