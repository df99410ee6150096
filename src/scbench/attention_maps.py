"""Attention weights of each head, cells sorted by type (paper S5 Fig), from a trained model.

The fused attention used in training returns no weights, and no n x n matrix is kept there. For
the plot, ``fit`` trains AttentionAE-sc once on a dataset (the ``attentionae_sc`` row's settings
and seed) and saves the model; ``plot`` loads it, embeds the cells in eval mode with forward
hooks that keep the inputs of the two fusion blocks, and recomputes, from the blocks' query and
key projections, softmax(q k^T / sqrt(d)) of each head for a type-stratified subsample of query
cells over all key cells. The heatmaps show those rows at the subsample's key columns.

    python -m scbench.attention_maps fit PREPARED.h5ad --seed 0 --params '{}' --out MODEL.pt
    python -m scbench.attention_maps plot PREPARED.h5ad --model MODEL.pt --run RUN_DIR \
        --out-tsv T.tsv --out-png F.png --out-pdf F.pdf
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from scbench.aggregate import atomic_write_text
from scbench.distance_maps import stratified_order
from scbench.figures import STYLE, _palette, save_figure

BLOCKS = (("fusion1", "Block 1 (R1: H1 attends to E1)"),
          ("fusion2", "Block 2 (Z: H2 attends to E2)"))
MAX_SHOWN = 300  # query and key cells per heatmap
ROW = "attentionae_sc"  # the registry row whose settings the model is trained with


def fit_model(prepared: str | os.PathLike, seed: int, params: dict[str, Any],
              out: str | os.PathLike, threads: int = 1) -> None:
    """Train AttentionAE-sc (the registry row's preset plus ``params``) on CPU and save it."""
    import anndata as ad
    import torch

    from attentionae_sc import AttentionAESC
    from scbench.methods.attentionae_sc import config
    from scbench.methods.registry import METHODS

    torch.set_num_threads(threads)
    settings = config({**params, **dict(METHODS[ROW].preset)})
    model = AttentionAESC(settings, random_state=seed, device="cpu", progress=False)
    model.fit(ad.read_h5ad(prepared))
    model.save(out)


def head_weights(block, query_source, key_source, queries: np.ndarray):
    """Attention weights (heads x len(queries) x n keys) of a ``FusionAttention`` block, each
    row a softmax over all keys, as its fused kernel computes them (no dropout: eval mode)."""
    import torch

    with torch.no_grad():
        query = block._split(block.to_query(query_source[torch.as_tensor(queries)]))[0]
        key = block._split(block.to_key(key_source))[0]
        scores = query @ key.transpose(-1, -2) / np.sqrt(block.dim)
        return torch.softmax(scores, dim=-1).cpu().numpy()


def attention_of(model, adata, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Per fusion block, the weights of :func:`head_weights` for the ``queries`` cells
    (indices into ``adata``), from the block inputs of one eval-mode pass over every cell."""
    inputs: dict[str, tuple] = {}
    module = model.module_
    hooks = [getattr(module, name).register_forward_pre_hook(
        lambda _, args, name=name: inputs.__setitem__(name, args)) for name, _ in BLOCKS]
    try:
        embedding = model.transform(adata)
    finally:
        for hook in hooks:
            hook.remove()
    if not np.isfinite(embedding).all():
        raise ValueError("some cells have no counts in the model's genes: subsample the others")
    return {name: head_weights(getattr(module, name), *inputs[name], queries)
            for name, _ in BLOCKS}


def same_type_mass(weights: np.ndarray, query_types: np.ndarray,
                   key_types: np.ndarray) -> np.ndarray:
    """Per head: the mean over queries of the attention weight on keys of the query's type."""
    same = query_types[:, None] == key_types[None, :]
    return (weights * same[None]).sum(axis=-1).mean(axis=-1)


def fig_attention(weights: dict[str, np.ndarray], shown: np.ndarray, types: np.ndarray,
                  title: str, out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """A row per block, a column per head: weight x n (1 = uniform), log colour scale."""
    names = sorted(set(types))
    colours = dict(zip(names, _palette(len(names))))
    n_keys = next(iter(weights.values())).shape[-1]
    heads = next(iter(weights.values())).shape[0]
    relative = {b: w[:, :, shown] * n_keys for b, w in weights.items()}
    top = max(float(r.max()) for r in relative.values())
    low = min(float(np.percentile(r, 1)) for r in relative.values())
    norm = LogNorm(vmin=max(low, top / 1e3), vmax=top)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(1.6 * heads + 1.2, 1.9 * len(BLOCKS) + 1.0), layout="constrained")
        axes = fig.subplots(len(BLOCKS), heads, squeeze=False)
        for row, (block, label) in zip(axes, BLOCKS):
            for head, ax in enumerate(row):
                image = ax.imshow(np.clip(relative[block][head], norm.vmin, None),
                                  cmap="magma", norm=norm, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"head {head + 1}", fontsize=8)
            bar = row[0].inset_axes([-0.12, 0, 0.08, 1])
            bar.imshow(np.array([[colours[t]] for t in types[shown]]), aspect="auto",
                       interpolation="nearest")
            bar.set_axis_off()
            row[0].text(-0.2, 0.5, label.replace(" (", "\n("), rotation=90, ha="right",
                        va="center", transform=row[0].transAxes, fontsize=8)
        fig.colorbar(image, ax=axes, shrink=0.8, label="weight x n cells (1 = uniform)")
        if len(names) <= 20:
            from matplotlib.patches import Patch

            fig.legend(handles=[Patch(color=colours[t], label=t) for t in names],
                       loc="outside lower center", ncols=min(len(names), 8), frameon=False,
                       title="True type (bars; rows = query cells, columns = key cells)")
        fig.suptitle(title)
        save_figure(fig, out_png, out_pdf)


def plot(prepared: str | os.PathLike, model_path: str | os.PathLike, run: str | os.PathLike,
         out_tsv: str | os.PathLike, out_png: str | os.PathLike, out_pdf: str | os.PathLike,
         label_key: str = "celltype") -> pd.DataFrame:
    """The figure and a table per block and head: the attention mass on same-type keys against
    the share expected from type sizes, and how well the model reproduces the run's labels."""
    import anndata as ad
    from sklearn.metrics import adjusted_rand_score

    from attentionae_sc import AttentionAESC
    from scbench.runs import run_labels

    adata = ad.read_h5ad(prepared)
    types = adata.obs[label_key].astype(str).to_numpy()
    model = AttentionAESC.load(model_path, device="cpu")
    shown = stratified_order(types, MAX_SHOWN)
    weights = attention_of(model, adata, shown)
    run_labels_ = run_labels(run, adata.obs_names)
    agreement = (np.nan if run_labels_ is None else adjusted_rand_score(
        run_labels_.astype(str), model.labels_.astype(str)))
    chance = float(np.sum(np.unique(types, return_counts=True)[1] ** 2) / len(types) ** 2)
    rows = [{"block": block, "head": head + 1, "same_type_mass": mass,
             "same_type_chance": chance, "ari_model_vs_run": agreement}
            for block, w in weights.items()
            for head, mass in enumerate(same_type_mass(w, types[shown], types))]
    table = pd.DataFrame(rows)
    atomic_write_text(out_tsv, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    dataset = Path(prepared).name.removesuffix(".h5ad")
    fig_attention(weights, shown, types, f"{dataset}: attention "
                  f"weights of each head, {len(shown)} cells sorted by type", out_png, out_pdf)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scbench.attention_maps",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="train AttentionAE-sc on a dataset and save the model")
    fit.add_argument("prepared")
    fit.add_argument("--seed", type=int, required=True)
    fit.add_argument("--params", default="{}", help="the attentionae_sc row's params (JSON)")
    fit.add_argument("--threads", type=int, default=1)
    fit.add_argument("--out", required=True)
    draw = sub.add_parser("plot", help="attention weights of the saved model")
    draw.add_argument("prepared")
    draw.add_argument("--model", required=True)
    draw.add_argument("--run", required=True, help="the attentionae_sc run of the same seed")
    draw.add_argument("--label-key", default="celltype")
    for name in ("--out-tsv", "--out-png", "--out-pdf"):
        draw.add_argument(name, required=True)
    args = parser.parse_args(argv)
    if args.command == "fit":
        fit_model(args.prepared, args.seed, json.loads(args.params), args.out, args.threads)
    else:
        plot(args.prepared, args.model, args.run, args.out_tsv, args.out_png, args.out_pdf,
             args.label_key)


if __name__ == "__main__":
    main()
