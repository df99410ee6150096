"""Silhouette of each method's clusters (paper Fig 3A), on its own space and on a shared one.

Panel a: the silhouette of ``metrics.tsv`` (each method's labels on its own embedding; the
shared PCA for methods without one). Methods with different embeddings are not on the same
ground there: a method that clusters its own 16-d space scores on that space. Panel b: each
method's labels on one shared space, the PCA of the log-normalised HVGs (``scbench.score
pca``), so that methods are compared on the same points. One box per method over datasets x
seeds.

    python -m scbench.silhouette metrics.tsv --runs results/runs --prepared resources/prepared \
        --out-tsv T.tsv --out-png F.png --out-pdf F.pdf [--methods-order a,b]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from attentionae_sc.metrics import clustering_scores
from scbench.aggregate import (
    atomic_write_text,
    method_label,
    method_order,
    read_metrics,
    registry_methods,
)
from scbench.figures import STYLE, figure_parser, method_styles, save_figure
from scbench.runs import run_dir, run_labels

COLUMNS = ["dataset", "method", "seed", "asw_own", "own_space", "asw_pca"]


def silhouette_table(metrics: pd.DataFrame, runs: str | os.PathLike,
                     prepared: str | os.PathLike) -> pd.DataFrame:
    """Per ok run: the silhouette of metrics.tsv (``asw_own``, on ``own_space``: 'method' or
    'pca') and that of its labels on the dataset's shared PCA (``asw_pca``; NaN with fewer
    than 2 clusters). ``prepared`` holds ``{dataset}.h5ad`` and ``{dataset}.pca.npy``."""
    import anndata as ad

    rows = []
    ok = metrics[metrics["status"] == "ok"]
    for dataset, group in ok.groupby("dataset", sort=True):
        obs_names = ad.read_h5ad(Path(prepared) / f"{dataset}.h5ad", backed="r").obs_names
        pca = np.load(Path(prepared) / f"{dataset}.pca.npy")
        if len(pca) != len(obs_names):
            raise ValueError(f"{dataset}: PCA of {len(pca)} rows for {len(obs_names)} cells")
        for row in group.itertuples():
            labels = run_labels(run_dir(runs, dataset, row.method, row.seed), obs_names)
            asw = clustering_scores(labels, embedding=pca)["asw"]
            rows.append([dataset, row.method, int(row.seed), row.asw, row.embedding_source, asw])
    return pd.DataFrame(rows, columns=COLUMNS)


def fig_silhouette(table: pd.DataFrame, methods: Mapping[str, Any] | None,
                   out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Two panels of horizontal boxes (a: own space, b: shared PCA), a dot per run."""
    order = method_order(table["method"].unique(), methods)
    styles = method_styles(order, methods)
    pca_only = set(table.loc[table["own_space"] == "pca", "method"])
    names = [method_label(methods, m) + (" (PCA)" if m in pca_only else "") for m in order]
    panels = [("asw_own", "a  Own embedding, own labels"),
              ("asw_pca", "b  Shared PCA of log-normalised HVGs, own labels")]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 0.35 * len(order) + 1.4), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (column, title) in zip(axes, panels):
            data = table.dropna(subset=[column])
            jitter = np.random.default_rng(0)
            for i, method in enumerate(order):
                values = data.loc[data["method"] == method, column].to_numpy(float)
                if not len(values):
                    continue
                box = ax.boxplot(values, positions=[i], orientation="horizontal", widths=0.6,
                                 whis=(0, 100), patch_artist=True, showfliers=False,
                                 medianprops={"color": "black"})
                box["boxes"][0].set(facecolor=styles[method]["facecolor"],
                                    hatch=styles[method]["hatch"], linewidth=0.8)
                ax.scatter(values, i + jitter.uniform(-0.15, 0.15, len(values)), s=6,
                           color="black", linewidths=0, zorder=3)
            ax.set_title(title, loc="left")
            ax.set_xlabel("Silhouette (Euclidean)")
            ax.set_ylabel("")
            ax.axvline(0, color="0.5", linewidth=0.6, linestyle=":")
        axes[0].set_yticks(range(len(order)), names)
        axes[0].set_ylim(len(order) - 0.5, -0.5)  # first method on top
        n_data = table["dataset"].nunique()
        fig.supxlabel(f"One box per method over {n_data} dataset(s) x seeds (whiskers: range). "
                      "(PCA): a method without an embedding of its own; a scores it on the "
                      "shared PCA as well.",
                      fontsize=7)
        save_figure(fig, out_png, out_pdf)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser("scbench.silhouette", __doc__, prepared=False)
    parser.add_argument("metrics", help="metrics.tsv from scbench.aggregate")
    parser.add_argument("--runs", required=True, help="the runs' folder (results/runs)")
    parser.add_argument("--prepared", required=True,
                        help="folder of the prepared {dataset}.h5ad and {dataset}.pca.npy")
    parser.add_argument("--methods-order", default="")
    args = parser.parse_args(argv)
    metrics = read_metrics(args.metrics)
    table = silhouette_table(metrics, args.runs, args.prepared)
    atomic_write_text(args.out_tsv, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    order = [m for m in args.methods_order.split(",") if m]
    methods = registry_methods(order, metrics["method"].unique())
    fig_silhouette(table, methods, args.out_png, args.out_pdf)


if __name__ == "__main__":
    main()
