"""AttentionAE-sc (this repository's implementation of the paper), via ``AttentionAESC``.

Four registry rows share this module through their preset: ``attentionae_sc`` (the default:
Leiden start chosen by the silhouette of Z), ``attentionae_sc_paper`` (the paper's Leiden start
at resolution 1.0), ``attentionae_sc_reference`` (the authors' code) and ``attentionae_sc_dae``
(the default without the graph autoencoder and the attention: the plain ZINB denoising
autoencoder of the paper's S6 Fig, then the same clustering stage). The other params are
:class:`attentionae_sc.AttentionAEConfig` overrides (e.g. ``epochs_pretrain``, ``ablation``),
plus ``train_mask`` (see :data:`TRAIN_MASK`). Labels: the model's clusters; cells the model
cannot assign (no counts) get -1 (declared as ``extra["unassigned_label"]``). Embedding: the
16-d fused latent Z (NaN rows for unassigned cells). ``extra["clustering_stage"]`` holds the
per-epoch history of the clustering stage, with each epoch's labels of the training cells, for
the Fig 4A / S4 plot.
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
    return {**{f.name: getattr(settings, f.name) for f in fields(settings)}, TRAIN_MASK: None}


#: Parameter of this wrapper, not of the model: the name of a boolean ``obs`` column. The model
#: is trained on those cells only and then ``predict`` labels every cell (down-sampling, S6 Fig).
TRAIN_MASK = "train_mask"


def config(params: dict[str, Any]):
    """The ``AttentionAEConfig`` of a row's params: its preset ``variant`` plus overrides.
    Raises ``ValueError`` for settings it rejects (kind, range, choice, combination)."""
    from attentionae_sc import AttentionAEConfig

    settings = dict(params)
    settings.pop(TRAIN_MASK, None)
    return AttentionAEConfig.from_variant(settings.pop("variant", "default"), **settings)


def check_params(params: dict[str, Any]) -> None:
    """Raise ``ValueError`` for settings this row's ``AttentionAEConfig`` rejects."""
    mask = params.get(TRAIN_MASK)
    if mask is not None and not isinstance(mask, str):
        raise ValueError(f"{TRAIN_MASK} must be the name of a boolean obs column, got {mask!r}")
    config(params)


def _fit(adata, model, mask_key: str | None):
    """Labels and embedding of every cell: from the fit, or, with ``mask_key``, from a fit on
    the cells of that obs column and ``predict``/``transform`` of all cells."""
    import numpy as np

    if mask_key is None:
        model.fit(adata)
        return model.labels_, model.embedding_, np.asarray(model.training_cells_)
    if mask_key not in adata.obs or adata.obs[mask_key].dtype != bool:
        raise ValueError(f"{TRAIN_MASK}: adata.obs has no boolean column {mask_key!r}")
    rows = np.flatnonzero(adata.obs[mask_key].to_numpy())
    model.fit(adata[rows].copy())
    return model.predict(adata), model.transform(adata), rows[model.training_cells_]


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np

    from attentionae_sc import AttentionAESC

    model = AttentionAESC(config(params), random_state=seed, device=device, progress=False)
    labels, embedding, training_cells = _fit(adata, model, params.get(TRAIN_MASK))
    codes = np.where(labels < 0, -1, labels).astype(np.int64)  # unassigned -> -1
    info = model.run_info()
    history = info["history"]["cluster"]
    extra = {"settings": info["params"], "unassigned_label": -1,
             "n_unassigned": int((codes < 0).sum()),
             "clustering_stage": {
                 **{name: history[name] for name in STAGE_SERIES},
                 "labels": history["labels"],
                 "training_cells": training_cells,
             }}
    for key in ("timings", "memory", "epochs_pretrain_run", "epochs_cluster_run",
                "initial_n_clusters", "init_graph", "n_training_cells", "start_resolution",
                "resolution_scan"):
        extra[key] = info[key]
    return MethodOutput(labels=codes, embedding=np.asarray(embedding), extra=extra)
