"""Scverse-style entry point: write AttentionAE-sc results into an AnnData."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .config import AttentionAEConfig
from .model import UNASSIGNED, AttentionAESC


def cluster(
    adata: AnnData,
    *,
    layer: str | None = None,
    key_added: str = "attentionae_sc",
    random_state: int | None = None,
    seed: int | None = None,
    device: str | torch.device = "auto",
    config: AttentionAEConfig | None = None,
    allow_non_integer: bool = False,
    progress: bool | None = None,
    copy: bool = False,
    **overrides: Any,
) -> AnnData | None:
    """Cluster the cells of ``adata`` (raw counts in ``adata.X`` or ``layer``) with AttentionAE-sc.

    Writes ``adata.obs[key_added]`` (categorical cluster labels; missing for cells without counts),
    ``adata.obsm["X_" + key_added]`` (the 16-d embedding) and ``adata.uns[key_added]`` (parameters,
    per-epoch history, timings, memory). Keyword ``overrides`` set fields of
    :class:`AttentionAEConfig`, e.g. ``epochs_pretrain=100`` or ``ablation="no_gnn"``.
    The number of clusters is found by the method, never given. ``random_state`` (alias
    ``seed``, default 0) seeds the run.
    """
    adata = adata.copy() if copy else adata
    model = AttentionAESC(config, random_state=random_state, seed=seed, device=device,
                          progress=progress, **overrides)
    model.fit(adata, layer=layer, allow_non_integer=allow_non_integer)
    write_results(adata, model, key_added)
    return adata if copy else None


def write_results(adata: AnnData, model: AttentionAESC, key_added: str) -> None:
    """Store a fitted model's labels, embedding and run information in ``adata``."""
    labels = model.labels_
    names = np.array([str(v) for v in range(labels.max() + 1)] if labels.max() >= 0 else [])
    codes = np.where(labels == UNASSIGNED, -1, labels)
    adata.obs[key_added] = pd.Categorical.from_codes(codes, categories=names)
    adata.obsm[f"X_{key_added}"] = model.embedding_
    adata.uns[key_added] = model.run_info()
