"""AttentionAE-sc (this repository's implementation of the paper), via ``attentionae_sc.cluster``.

Three registry rows share this module through their preset ``variant``: ``attentionae_sc``
(the default: Leiden start chosen by the silhouette of Z), ``attentionae_sc_paper`` (the paper's
Leiden start at resolution 1.0) and ``attentionae_sc_reference`` (the authors' code). The other
params are :class:`attentionae_sc.AttentionAEConfig` overrides (e.g. ``epochs_pretrain``,
``ablation``). Labels: the model's clusters; cells the model cannot assign (no counts) get -1
(declared as ``extra["unassigned_label"]``). Embedding: the 16-d fused latent Z (NaN rows for
unassigned cells). ``extra["clustering_stage"]`` holds the per-epoch history of the clustering
stage, with each epoch's labels of the training cells, for the Fig 4A / S4 plot.
"""

from __future__ import annotations

from typing import Any

from .registry import MethodOutput

REQUIRES = ("attentionae_sc", "torch")  # missing -> unavailable

KEY = "attentionae_sc"
STAGE_SERIES = ("n_clusters", "kl", "max_q", "label_change", "loss", "seconds")


def __getattr__(name: str) -> Any:
    """``DEFAULTS``: every field of ``AttentionAEConfig`` with its default (the ``default``
    variant), computed when asked for: importing ``attentionae_sc`` loads numpy, which this
    module must not do at import."""
    if name != "DEFAULTS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return defaults(())


def defaults(preset) -> dict[str, Any]:
    """Every field of the ``AttentionAEConfig`` that a row with ``preset`` starts from."""
    from dataclasses import fields

    settings = config(dict(preset))
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


def config(params: dict[str, Any]):
    """The ``AttentionAEConfig`` of a row's params: its preset ``variant`` plus overrides.
    Raises ``ValueError`` for settings it rejects (kind, range, choice, combination)."""
    from attentionae_sc import AttentionAEConfig

    settings = dict(params)
    return AttentionAEConfig.from_variant(settings.pop("variant", "default"), **settings)


def check_params(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` for settings this row's ``AttentionAEConfig`` rejects."""
    config(params)


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np

    from attentionae_sc import cluster

    cluster(adata, seed=seed, device=device, key_added=KEY, progress=False,
            config=config(params))
    codes = adata.obs[KEY].cat.codes.to_numpy().astype(np.int64)  # NaN (unassigned) -> -1
    embedding = np.asarray(adata.obsm[f"X_{KEY}"])
    info = adata.uns[KEY]
    history = info["history"]["cluster"]
    extra = {"settings": info["params"], "unassigned_label": -1,
             "n_unassigned": int((codes < 0).sum()),
             "clustering_stage": {
                 **{name: history[name] for name in STAGE_SERIES},
                 "labels": history["labels"],
                 "training_cells": info["training_cells"],
             }}
    for key in ("timings", "memory", "epochs_pretrain_run", "epochs_cluster_run",
                "initial_n_clusters", "init_graph", "n_training_cells", "start_resolution",
                "resolution_scan"):
        extra[key] = info[key]
    return MethodOutput(labels=codes, embedding=embedding, extra=extra)
