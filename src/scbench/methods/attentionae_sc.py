"""AttentionAE-sc (this repository's implementation of the paper), via ``attentionae_sc.cluster``.

Params are :class:`attentionae_sc.AttentionAEConfig` overrides (e.g. ``epochs_pretrain``,
``epochs_cluster``, ``ablation``). Labels: the model's clusters; cells the model cannot assign
(no counts) get -1 (declared as ``extra["unassigned_label"]``). Embedding: the 16-d fused latent Z
(NaN rows for unassigned cells, whose embedding is undefined).
"""

from __future__ import annotations

from typing import Any

from .registry import MethodOutput

REQUIRES = ("attentionae_sc", "torch")  # missing -> unavailable

KEY = "attentionae_sc"


def __getattr__(name: str) -> Any:
    """``DEFAULTS``: every field of ``AttentionAEConfig`` with its default, read when asked for
    (importing ``attentionae_sc`` loads numpy, which this module must not do at import)."""
    if name != "DEFAULTS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from dataclasses import MISSING, fields

    from attentionae_sc import AttentionAEConfig

    return {f.name: f.default if f.default is not MISSING else f.default_factory()
            for f in fields(AttentionAEConfig)}


def check_params(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` for settings ``AttentionAEConfig`` rejects (range, choice)."""
    from attentionae_sc import AttentionAEConfig

    AttentionAEConfig(**params)


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np

    from attentionae_sc import cluster

    cluster(adata, seed=seed, device=device, key_added=KEY, progress=False, **params)
    codes = adata.obs[KEY].cat.codes.to_numpy().astype(np.int64)  # NaN (unassigned) -> -1
    embedding = np.asarray(adata.obsm[f"X_{KEY}"])
    info = adata.uns.get(KEY, {})
    extra = {"settings": info.get("params", dict(params)), "unassigned_label": -1,
             "n_unassigned": int((codes < 0).sum())}
    for key in ("timings", "memory", "epochs_pretrain_run", "epochs_cluster_run",
                "initial_n_clusters", "init_graph", "n_training_cells"):
        if key in info:
            extra[key] = info[key]
    return MethodOutput(labels=codes, embedding=embedding, extra=extra)
