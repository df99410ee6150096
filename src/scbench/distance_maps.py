"""Cosine distances between cells sorted by type (paper Fig 4B-E) and their within/between ratio.

Three spaces of one dataset: AttentionAE-sc's embedding Z (the ``attentionae_sc`` run), the
input expression (log-normalised counts of the highly variable genes) and the plain ZINB
denoising autoencoder (the ``attentionae_sc_dae`` run: no GAE, no attention, the same clustering
stage). A space whose run is not configured or did not succeed is a panel saying so. The ratio
(mean within-type distance / mean between-type distance, over all pairs of distinct cells) uses
every cell; the heatmaps show a type-stratified subsample.

    python -m scbench.distance_maps PREPARED.h5ad --runs results/runs --seed 0 \
        --methods a,b --out-tsv T.tsv --out-png F.png --out-pdf F.pdf
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scbench.aggregate import atomic_write_text
from scbench.figures import STYLE, _palette, figure_parser, save_figure
from scbench.runs import read_record, run_dir, run_embedding

#: (panel title, method whose run embedding it shows; None: the input expression)
SPACES = (("AttentionAE-sc Z", "attentionae_sc"), ("Input expression (log HVGs)", None),
          ("Plain DAE (attentionae_sc_dae)", "attentionae_sc_dae"))
MAX_SHOWN = 600  # cells in each heatmap


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / norms


def usable_rows(x: np.ndarray) -> np.ndarray:
    """Cells with a cosine distance: finite rows (unassigned cells are NaN) of nonzero norm."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x).all(axis=1)
    finite[finite] = np.linalg.norm(x[finite], axis=1) > 0
    return finite


def within_between_ratio(x: np.ndarray, types: Sequence) -> float:
    """Mean cosine distance over pairs of distinct cells of one type, divided by the mean over
    pairs of different types (computed from per-type sums of unit vectors, not an n x n matrix).
    Needs finite rows of nonzero norm, two types and a type with two cells."""
    x, types = np.asarray(x, dtype=np.float64), np.asarray(types)
    if len(x) != len(types):
        raise ValueError(f"{len(x)} cells but {len(types)} types")
    if not usable_rows(x).all():
        raise ValueError("cosine distance needs finite rows of nonzero norm")
    units = _unit_rows(x)
    names, codes = np.unique(types, return_inverse=True)
    if len(names) < 2:
        raise ValueError("the ratio needs at least two types")
    sums = np.zeros((len(names), x.shape[1]))
    np.add.at(sums, codes, units)
    sizes = np.bincount(codes).astype(np.float64)
    # sum over ordered pairs i != j of (1 - u_i . u_j) within one type: n(n-1) - (|S|^2 - n)
    within_pairs = sizes * (sizes - 1)
    if not within_pairs.sum():
        raise ValueError("the ratio needs a type with at least two cells")
    within = (within_pairs - ((sums**2).sum(axis=1) - sizes)).sum()
    n, total_sum = len(x), units.sum(axis=0)
    all_pairs = n * (n - 1) - ((total_sum**2).sum() - n)
    between_pairs = n * (n - 1) - within_pairs.sum()
    return float((within / within_pairs.sum()) / ((all_pairs - within) / between_pairs))


def relative_cosine(x: np.ndarray) -> np.ndarray:
    """Cosine distances between the rows of ``x``, divided by their largest value."""
    units = _unit_rows(np.asarray(x, dtype=np.float64))
    distance = np.clip(1.0 - units @ units.T, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    top = distance.max()
    return distance / top if top > 0 else distance


def stratified_order(types: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``limit`` cells, each type in proportion (at least one cell each),
    sorted by type and kept in their original order within a type."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(types, return_counts=True)
    share = np.maximum(1, np.floor(counts * min(1.0, limit / len(types)))).astype(int)
    chosen = [np.sort(rng.choice(np.flatnonzero(types == name), size=k, replace=False))
              for name, k in zip(names, share)]
    return np.concatenate(chosen)


def log_hvg_expression(adata, n_hvg: int = 2500) -> np.ndarray:
    """Counts normalised to 1e4 per cell, log1p, on the ``n_hvg`` highly variable genes."""
    import anndata as ad
    import scanpy as sc

    work = ad.AnnData(adata.X.copy())
    sc.pp.filter_genes(work, min_cells=1)
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    sc.pp.highly_variable_genes(work, n_top_genes=min(n_hvg, work.n_vars), subset=True)
    matrix = work.X
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def space_of(method: str | None, adata, runs: str | os.PathLike, dataset: str, seed: int,
             configured: Sequence[str]) -> np.ndarray | str:
    """The cells x dims matrix of one space, or why there is none ('not run', 'failed')."""
    if method is None:
        return log_hvg_expression(adata)
    if method not in configured:
        return f"not run ({method} not in the configured methods)"
    folder = run_dir(runs, dataset, method, seed)
    embedding = run_embedding(folder)
    if embedding is None:
        return f"no embedding (run {read_record(folder)['status']})"
    if len(embedding) != adata.n_obs:
        raise ValueError(f"{folder}: embedding of {len(embedding)} rows for {adata.n_obs} cells")
    return embedding


def fig_distance_maps(spaces: Sequence[tuple[str, np.ndarray | str]], types: np.ndarray,
                      title: str, out_png: str | os.PathLike, out_pdf: str | os.PathLike
                      ) -> pd.DataFrame:
    """A heatmap per space (a subsample sorted by type, a colour bar of types on the left) with
    its within/between ratio in the title; returns the ratios (space, ratio, cells used)."""
    names = sorted(set(types))
    colours = dict(zip(names, _palette(len(names))))
    rows = []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.3 * len(spaces) + 1.2, 4.0), layout="constrained")
        axes = fig.subplots(1, len(spaces), squeeze=False)[0]
        image = None
        for ax, (label, x) in zip(axes, spaces):
            ax.set_xticks([])
            ax.set_yticks([])
            if isinstance(x, str):
                ax.text(0.5, 0.5, textwrap.fill(x, 28), ha="center", va="center",
                        transform=ax.transAxes)
                ax.set_axis_off()
                ax.set_title(label)
                rows.append([label, np.nan, 0])
                continue
            usable = usable_rows(x)
            ratio = within_between_ratio(x[usable], types[usable])
            rows.append([label, ratio, int(usable.sum())])
            shown = np.flatnonzero(usable)[stratified_order(types[usable], MAX_SHOWN)]
            image = ax.imshow(relative_cosine(x[shown]), cmap="viridis", vmin=0, vmax=1,
                              interpolation="nearest", aspect="equal")
            bar = ax.inset_axes([-0.06, 0, 0.04, 1])
            bar.imshow(np.array([[colours[t]] for t in types[shown]]), aspect="auto",
                       interpolation="nearest")
            bar.set_axis_off()
            ax.set_title(f"{label}\nwithin/between = {ratio:.3f}")
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.7, label="Relative cosine distance")
        if len(names) <= 20:
            from matplotlib.patches import Patch

            fig.legend(handles=[Patch(color=colours[t], label=t) for t in names],
                       loc="outside lower center", ncols=min(len(names), 8), frameon=False,
                       title="True type (left bar)")
        fig.suptitle(f"{title}: cells sorted by type (a subsample of at most {MAX_SHOWN})")
        save_figure(fig, out_png, out_pdf)
    return pd.DataFrame(rows, columns=["space", "ratio", "n_cells"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser("scbench.distance_maps", __doc__)
    parser.add_argument("--runs", required=True, help="the runs' folder (results/runs)")
    parser.add_argument("--seed", type=int, required=True, help="the seed of the runs shown")
    parser.add_argument("--methods", required=True, help="comma-separated configured methods")
    args = parser.parse_args(argv)
    import anndata as ad

    adata = ad.read_h5ad(args.prepared)
    dataset = Path(args.prepared).name.removesuffix(".h5ad")
    configured = args.methods.split(",")
    spaces = [(label, space_of(method, adata, args.runs, dataset, args.seed, configured))
              for label, method in SPACES]
    types = adata.obs[args.label_key].astype(str).to_numpy()
    table = fig_distance_maps(spaces, types, f"{dataset}, seed {args.seed}", args.out_png,
                              args.out_pdf)
    atomic_write_text(args.out_tsv, table.assign(dataset=dataset, seed=args.seed).to_csv(
        sep="\t", index=False, float_format="%.6g"))


if __name__ == "__main__":
    main()
