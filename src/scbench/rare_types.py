"""Rare cell types (paper S10 Fig): are they found as clusters of their own?

A type is rare when it holds under 5 % of a dataset's cells. For each rare type and run:
``recall``, the fraction of its cells that lie in clusters whose majority type it is (cells the
method left unassigned count as not found), and ``purity``, the fraction of those clusters'
cells that are of the type (NaN when no cluster has it as majority). The labels are the runs';
the true types are used only here, to score them.

    python -m scbench.rare_types PREPARED.h5ad --pca PCA.npy --runs results/runs \
        --methods a,b --seeds 0,1 --out-tsv T.tsv --out-png F.png --out-pdf F.pdf
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from scbench.aggregate import atomic_write_text, method_label, method_order, registry_methods
from scbench.figures import (
    STYLE,
    dot_handles,
    figure_parser,
    method_styles,
    save_figure,
    umap_coords,
)
from scbench.runs import run_dir, run_labels

THRESHOLD = 0.05
COLUMNS = ["method", "seed", "type", "n_cells", "share", "recall", "purity", "n_clusters"]


def rare_types(truth: Sequence, threshold: float = THRESHOLD) -> list[str]:
    """Types holding fewer than ``threshold`` of the cells, largest first."""
    shares = pd.Series(np.asarray(truth, dtype=str)).value_counts(normalize=True)
    return list(shares[shares < threshold].index)


def recovery(truth: Sequence, predicted: Sequence, kind: str) -> tuple[float, float, int]:
    """(recall, purity, clusters) of type ``kind``: the clusters whose most frequent true type
    is ``kind`` (ties go to the type first in sorted order), the share of the type's cells in
    them and the share of their cells of that type. ``None`` in ``predicted`` = unassigned."""
    truth = np.asarray(truth, dtype=str)
    predicted = np.asarray(predicted, dtype=object)
    assigned = np.array([p is not None for p in predicted])
    table = pd.crosstab(predicted[assigned].astype(str), truth[assigned])
    majority = table.columns[table.to_numpy().argmax(axis=1)]
    clusters = table.index[majority == kind]
    n_type = int((truth == kind).sum())
    if not len(clusters) or not n_type:
        return 0.0 if n_type else np.nan, np.nan, 0
    found = int(table.loc[clusters, kind].sum())
    return found / n_type, found / int(table.loc[clusters].to_numpy().sum()), len(clusters)


def rare_table(truth: np.ndarray, labels: Mapping[tuple[str, int], np.ndarray | None],
               threshold: float = THRESHOLD) -> pd.DataFrame:
    """A row per run (method, seed) with labels and rare type: see :func:`recovery`."""
    rows = []
    counts = pd.Series(truth).value_counts()
    for kind in rare_types(truth, threshold):
        for (method, seed), predicted in labels.items():
            if predicted is None:
                continue
            recall, purity, n_clusters = recovery(truth, predicted, kind)
            rows.append([method, seed, kind, int(counts[kind]), counts[kind] / len(truth),
                         recall, purity, n_clusters])
    return pd.DataFrame(rows, columns=COLUMNS)


def _bars(ax, table: pd.DataFrame, column: str, order: Sequence[str], kinds: Sequence[str],
          styles: Mapping[str, dict]) -> None:
    """Grouped bars: x = rare type, a bar per method (mean over seeds, sd), seeds as dots."""
    width = 0.8 / max(1, len(order))
    jitter = np.random.default_rng(0)
    for j, method in enumerate(order):
        for i, kind in enumerate(kinds):
            values = table.loc[(table["method"] == method) & (table["type"] == kind),
                               column].dropna().to_numpy(float)
            x = i + (j - (len(order) - 1) / 2) * width
            if not len(values):
                ax.text(x, 0.01, "none", rotation=90, ha="center", va="bottom", fontsize=6,
                        color="0.3")
                continue
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            ax.bar(x, values.mean(), width, yerr=sd, linewidth=0.5, capsize=1.5,
                   error_kw={"elinewidth": 0.8}, **styles[method])
            ax.scatter(x + jitter.uniform(-0.2, 0.2, len(values)) * width, values, s=5,
                       color="black", linewidths=0, zorder=3)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(-0.5, len(kinds) - 0.5)
    ax.set_xticks(range(len(kinds)))


def fig_rare(table: pd.DataFrame, truth: np.ndarray, coords: np.ndarray,
             methods: Mapping[str, Any] | None, title: str,
             out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Recall and purity per rare type and method, and a UMAP with the rare types in colour."""
    kinds = rare_types(truth)
    order = method_order(table["method"].unique(), methods)
    styles = method_styles(order, methods)
    shares = pd.Series(truth).value_counts(normalize=True)
    names = [f"{k}\n({shares[k]:.1%})" for k in kinds]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(max(9.0, 4.5 + 0.5 * len(kinds) * max(1, len(order)) * 0.4), 4.2),
                     layout="constrained")
        grid = fig.add_gridspec(2, 2, width_ratios=[max(1.5, 0.25 * len(kinds) * len(order)), 1.4])
        recall_ax, purity_ax = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
        umap_ax = fig.add_subplot(grid[:, 1])
        if kinds:
            for ax, column, label in ((recall_ax, "recall", "Recall into a majority cluster"),
                                      (purity_ax, "purity", "Purity of those clusters")):
                _bars(ax, table, column, order, kinds, styles)
                ax.set_ylabel(label)
            recall_ax.set_xticklabels([])
            purity_ax.set_xticklabels(names, fontsize=7)
            fig.legend(handles=[matplotlib.patches.Patch(**styles[m], linewidth=0.5,
                                                         label=method_label(methods, m))
                                for m in order], loc="outside right upper", frameon=False,
                       title="Method")
        else:
            for ax in (recall_ax, purity_ax):
                ax.set_axis_off()
            recall_ax.text(0.5, 0.5, f"No type under {THRESHOLD:.0%} of the cells",
                           ha="center", va="center", transform=recall_ax.transAxes)
        # not the methods' colours: a type is not a method
        colours = dict(zip(kinds, sns.color_palette("Set1" if len(kinds) <= 9 else "husl",
                                                    max(1, len(kinds)))))
        common = ~np.isin(truth, kinds)
        size = float(np.clip(6000 / len(truth), 0.5, 12))
        umap_ax.scatter(*coords[common].T, s=size, color="0.85", linewidths=0, rasterized=True)
        for kind in kinds:
            where = truth == kind
            umap_ax.scatter(*coords[where].T, s=size * 2, color=colours[kind], linewidths=0,
                            rasterized=True)
        umap_ax.set_xticks([])
        umap_ax.set_yticks([])
        umap_ax.set_title("Rare types on a UMAP\nof the shared PCA")
        if kinds:
            umap_ax.legend(handles=dot_handles({k: colours[k] for k in kinds}, markersize=6),
                           loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False,
                           ncols=2, fontsize=7)
        fig.suptitle(title)
        save_figure(fig, out_png, out_pdf)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser("scbench.rare_types", __doc__)
    parser.add_argument("--pca", required=True, help="the dataset's shared PCA (.npy)")
    parser.add_argument("--runs", required=True, help="the runs' folder (results/runs)")
    parser.add_argument("--methods", required=True, help="comma-separated methods, in order")
    parser.add_argument("--seeds", required=True, help="comma-separated seeds")
    args = parser.parse_args(argv)
    import anndata as ad

    adata = ad.read_h5ad(args.prepared)
    dataset = Path(args.prepared).name.removesuffix(".h5ad")
    truth = adata.obs[args.label_key].astype(str).to_numpy()
    order = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    labels = {(m, s): run_labels(run_dir(args.runs, dataset, m, s), adata.obs_names)
              for m in order for s in seeds}
    table = rare_table(truth, labels)
    atomic_write_text(args.out_tsv, table.assign(dataset=dataset).to_csv(
        sep="\t", index=False, float_format="%.6g"))
    coords = umap_coords(np.load(args.pca))
    fig_rare(table, truth, coords, registry_methods(order, order),
             f"{dataset}: rare types (under {THRESHOLD:.0%} of the cells), {len(seeds)} seed(s)",
             args.out_png, args.out_pdf)


if __name__ == "__main__":
    main()
