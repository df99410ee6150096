"""Benchmark figures: metric bars (paper Fig 2 / S2), cost panels and UMAP grids (Fig 3B / S3).

Every figure is written as PNG and PDF, each atomically. Figures are built on
``matplotlib.figure.Figure`` directly (no pyplot state), so no backend is selected here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from scbench.aggregate import (
    METRIC_LABELS,
    cell_stats,
    method_info,
    method_label,
    method_order,
    read_metrics,
    registry_methods,
    seeds_per_dataset,
)
from scbench.files import atomic_path
from scbench.methods.registry import unassigned_mask

STYLE = {
    "font.size": 9, "axes.labelsize": 9, "axes.titlesize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "legend.title_fontsize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "pdf.fonttype": 42,
    "savefig.dpi": 200,
}
AXIS_LABELS = {**METRIC_LABELS, "db": "Davies-Bouldin (lower is better)",
               "runtime_s": "Runtime (s)", "peak_mem_mb": "Peak memory (MB)",
               "peak_gpu_mb": "Peak GPU memory (MB)"}
#: Text drawn at a bar's place when a method has no value there.
MISSING_TEXT = {"unavailable": "n/a", "failed": "failed", "missing": "not run"}
CONTROL_GREYS = ["0.8", "0.6", "0.9", "0.7"]
UNASSIGNED_COLOUR = "0.75"  # cells a method left unassigned, in UMAP panels
MAX_PLOT_WIDTH_IN = 10.0  # wider bar panels wrap their datasets onto more rows
LABEL_CHAR_IN = 0.07  # approximate width of one tick-label character, in inches


def figure_parser(module: str, doc: str, *, prepared: bool = True,
                  out_tsv: bool = True) -> argparse.ArgumentParser:
    """The parser of a figure command ``python -m MODULE``: the first line of ``doc`` as its
    description, the dataset's prepared .h5ad and ``--label-key`` (``prepared``), and the
    outputs ``--out-png``, ``--out-pdf`` and (``out_tsv``) ``--out-tsv``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}",
                                     description=doc.splitlines()[0])
    if prepared:
        parser.add_argument("prepared", help="the dataset's prepared .h5ad (true types in obs)")
        parser.add_argument("--label-key", default="celltype")
    for name in ("--out-tsv",) * out_tsv + ("--out-png", "--out-pdf"):
        parser.add_argument(name, required=True)
    return parser


def save_figure(fig: Figure, out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Save ``fig`` to both paths, each via a same-suffix temporary file and ``os.replace``."""
    for path in (out_png, out_pdf):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, bbox_inches="tight")


def dot_handles(colour: Mapping[Any, Any], markersize: float = 5) -> list[Line2D]:
    """Legend handles: one dot per label, in the order of ``colour`` (label -> colour)."""
    return [Line2D([], [], marker="o", linestyle="", markersize=markersize, color=c, label=t)
            for t, c in colour.items()]


def method_styles(order: Sequence[str], methods: Mapping[str, Any] | None) -> dict[str, dict]:
    """Bar style per method: colour-blind-safe colours; controls grey and hatched."""
    # the palette's grey (index 7) is left out: grey means a control
    colours = [c for i, c in enumerate(sns.color_palette("colorblind", 10)) if i != 7]
    styles, n_main, n_control = {}, 0, 0
    for m in order:
        if method_info(methods, m).is_control:
            styles[m] = {"facecolor": CONTROL_GREYS[n_control % 4], "hatch": "///",
                         "edgecolor": "0.3"}
            n_control += 1
        else:
            styles[m] = {"facecolor": colours[n_main % len(colours)],
                         "hatch": ["", "..", "xx"][n_main // len(colours) % 3],
                         "edgecolor": "0.2"}
            n_main += 1
    return styles


def _legend_handles(order: Sequence[str], methods: Mapping[str, Any] | None,
                    styles: dict[str, dict], notes: Mapping[str, str]) -> list[Patch]:
    """One patch per method; '*' = needs k, then '(control, note)' as they apply."""
    handles = []
    for m in order:
        extra = (["control"] if method_info(methods, m).is_control else []) + (
            [notes[m]] if m in notes else [])
        label = method_label(methods, m) + (f" ({', '.join(extra)})" if extra else "")
        handles.append(Patch(**styles[m], linewidth=0.5, label=label))
    return handles


def _bar_panel(ax, metrics: pd.DataFrame, order: Sequence[str], datasets: Sequence[str],
               styles: dict[str, dict], column: str, log: bool = False,
               no_value: str = "n/c", *, rotate_labels: bool = False) -> None:
    """Grouped bars: x = datasets, one bar per method (mean of ok seeds, sd, seeds as dots).

    Where a method has no value the bar's place says why: n/a (unavailable), failed, not run,
    or ``no_value`` when its runs succeeded without this value. A mean over fewer seeds than
    the dataset's others, or over some failed seeds, is marked ("1/3", "2/3").
    """
    groups = dict(tuple(metrics.groupby(["dataset", "method"])))
    seeds = seeds_per_dataset(metrics)
    empty = metrics.iloc[:0]
    width = 0.8 / len(order)
    at_bottom = blended_transform_factory(ax.transData, ax.transAxes)
    jitter = np.random.default_rng(0)
    if log:
        ax.set_yscale("log")
        # plain numbers (0.01, 1, 100) rather than 1e-02 below 1
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False,
                                                         minor_thresholds=(2, 0.5)))
    for j, method in enumerate(order):
        for i, dataset in enumerate(datasets):
            x = i + (j - (len(order) - 1) / 2) * width
            runs = groups.get((dataset, method), empty)
            mean, sd, _, _, status = cell_stats(runs, column, seeds[dataset])
            if np.isnan(mean) or (log and mean <= 0):  # no bar: say why
                text = ("0" if not np.isnan(mean)  # e.g. a runtime below 1 ms, the precision
                        else no_value if status == "not computable"
                        else MISSING_TEXT[status.split()[0]])
                ax.text(x, 0.02 if log else 0.0, text, rotation=90, ha="center", va="bottom",
                        fontsize=6, color="0.3", transform=at_bottom if log else ax.transData)
                continue
            ax.bar(x, mean, width, linewidth=0.5, **styles[method])
            if status != "ok":  # e.g. "2/3 ok" or "1/3 seeds": the mean of fewer seeds
                ax.text(x, 0.98, status.split()[0], rotation=90, ha="center", va="top",
                        fontsize=6, color="0.3", transform=at_bottom,  # legible over a bar
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3})
            if not log and not np.isnan(sd):
                ax.errorbar(x, mean, yerr=sd, fmt="none", ecolor="black", elinewidth=0.8,
                            capsize=1.5)
            values = runs.loc[runs["status"] == "ok", column].dropna().to_numpy(float)
            if log:
                values = values[values > 0]
            offsets = jitter.uniform(-0.2, 0.2, len(values)) * width
            ax.scatter(x + offsets, values, s=5, color="black", linewidths=0, zorder=3)
    ax.set_xticks(range(len(datasets)))
    ax.set_xticklabels(datasets, rotation=30 if rotate_labels else 0,
                       ha="right" if rotate_labels else "center", rotation_mode="anchor")
    ax.set_ylabel(AXIS_LABELS.get(column, column))
    if not log:
        ax.axhline(0, color="0.3", linewidth=0.6)


def _bars_figure(metrics: pd.DataFrame, methods: Mapping[str, Any] | None,
                 panels: Sequence[tuple[str, bool, str]], out_png: str | os.PathLike,
                 out_pdf: str | os.PathLike, notes: Mapping[str, str] | None = None) -> None:
    """Grouped-bar panels (column, log scale, no-value text) sharing one legend.

    Many datasets wrap onto several rows per panel (same y range, same bar width). Only
    methods with a successful run get a colour and a legend entry (with its ``notes``); the
    others keep their place on the axes, marked n/a or failed, and a line below names them.
    """
    order = method_order(metrics["method"].unique(), methods)
    datasets = sorted(metrics["dataset"].unique())
    ran = set(metrics.loc[metrics["status"] == "ok", "method"])
    shown = [m for m in order if m in ran]
    styles = method_styles(shown, methods)
    group_in = 0.09 * len(order) + 0.25  # inches per dataset group
    n_rows = -(-len(datasets) // max(1, int(MAX_PLOT_WIDTH_IN // group_in)))
    chunks = [[str(d) for d in c] for c in np.array_split(datasets, n_rows)]
    per_row = max(map(len, chunks))
    width = max(5.0, 2.5 + per_row * group_in)
    # rotate the dataset names where they would run into each other
    rotate = per_row > 4 or max(map(len, map(str, datasets))) * LABEL_CHAR_IN > group_in
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, 2.5 * len(panels) * n_rows + 0.6), layout="constrained")
        axes = fig.subplots(len(panels) * n_rows, 1, squeeze=False)[:, 0]
        for k, panel in enumerate(panels):
            group = axes[k * n_rows:(k + 1) * n_rows]
            for ax, chunk in zip(group, chunks):
                _bar_panel(ax, metrics, order, chunk, styles, *panel, rotate_labels=rotate)
                ax.set_xlim(-0.5, per_row - 0.5)
            lows, highs = zip(*(ax.get_ylim() for ax in group))
            for ax in group:
                ax.set_ylim(min(lows), max(highs))
            if n_rows == 1 and k < len(panels) - 1:
                group[0].tick_params(labelbottom=False)
            if len(panels) > 1:
                group[0].text(-0.01, 1.02, "abcdefgh"[k], transform=group[0].transAxes,
                              fontweight="bold", ha="right", va="bottom", fontsize=10)
        needs_k = any(method_info(methods, m).needs_k for m in shown)
        fig.legend(handles=_legend_handles(shown, methods, styles, notes or {}),
                   loc="outside right upper", frameon=False,
                   title="Method (* needs k)" if needs_k else "Method")
        never = [method_label(methods, m) for m in order if m not in ran]
        if never:
            fig.supxlabel(textwrap.fill("No successful run (n/a = unavailable): "
                                        + ", ".join(never), 120), fontsize=7)
        save_figure(fig, out_png, out_pdf)


def fig_metric_bars(metrics: pd.DataFrame, methods: Mapping[str, Any] | None, metric: str,
                    out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Fig 2 style: ``metric`` per dataset and method, mean of ok seeds ± sd, seeds as dots."""
    _bars_figure(metrics, methods, [(metric, False, "n/c")], out_png, out_pdf)


def fig_s2(metrics: pd.DataFrame, methods: Mapping[str, Any] | None,
           out_png: str | os.PathLike, out_pdf: str | os.PathLike,
           panels: Sequence[str] = ("nmi", "asw", "db")) -> None:
    """S2 style: one bar panel per metric (default NMI, silhouette, Davies-Bouldin; DB on a log
    axis, as random labels score one to two orders of magnitude above the methods)."""
    _bars_figure(metrics, methods, [(m, m == "db", "n/c") for m in panels], out_png, out_pdf)


def fig_cost(metrics: pd.DataFrame, methods: Mapping[str, Any] | None,
             out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """Runtime and peak memory (log scales) per dataset and method; GPU memory when recorded.

    Run-record values are used, falling back to the Snakemake benchmark file's. When methods
    ran with different numbers of threads, the legend gives each method's.
    """
    cost = metrics.assign(runtime_s=metrics["runtime_s"].fillna(metrics["bench_s"]),
                          peak_mem_mb=metrics["peak_mem_mb"].fillna(metrics["bench_max_rss_mb"]))
    panels = [("runtime_s", True, "n/c"), ("peak_mem_mb", True, "n/c")]
    if cost.loc[cost["status"] == "ok", "peak_gpu_mb"].notna().any():
        panels.append(("peak_gpu_mb", True, "cpu"))
    ok = cost.loc[cost["status"] == "ok"].dropna(subset=["threads"])
    threads = {m: "/".join(map(str, sorted(t.unique())))
               for m, t in ok.groupby("method")["threads"]}
    notes = ({m: f"{t} thread" + ("" if t == "1" else "s") for m, t in threads.items()}
             if len(set(threads.values())) > 1 else {})
    _bars_figure(cost, methods, panels, out_png, out_pdf, notes)


def _palette(n: int) -> list:
    """``n`` distinguishable colours: colour-blind-safe up to 10, tab20 up to 20, then husl."""
    if n <= 10:
        return sns.color_palette("colorblind", n)
    return sns.color_palette("tab20" if n <= 20 else "husl", n)


def read_labels(path: str | os.PathLike | None, obs_names: pd.Index) -> np.ndarray | None:
    """Predicted labels from a TSV with a header, aligned to ``obs_names``; None for no path
    (a run without labels). A missing file or one without a label per cell is an error.

    The label column is ``label``/``cluster``/``pred`` (else the last column); when the first
    column holds cell names it is used for alignment, otherwise rows must be in cell order.
    """
    if path is None:
        return None
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    column = next((c for c in ("label", "labels", "cluster", "pred", "predicted")
                   if c in table.columns), table.columns[-1])
    first = table.columns[0]
    if first != column and set(obs_names) <= set(table[first]):
        return table.set_index(first).loc[obs_names, column].to_numpy()
    if len(table) != len(obs_names):
        raise ValueError(f"{path}: {len(table)} labels for {len(obs_names)} cells")
    return table[column].to_numpy()


def umap_coords(rep: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D UMAP (scanpy: 15 neighbours, ``random_state=seed``) of a cells x dims representation."""
    import anndata as ad
    import scanpy as sc

    work = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(len(rep))]))
    work.obsm["X_rep"] = np.asarray(rep, dtype=np.float32)
    sc.pp.neighbors(work, n_neighbors=min(15, len(rep) - 1), use_rep="X_rep", random_state=seed)
    sc.tl.umap(work, random_state=seed)
    return work.obsm["X_umap"]


def _finite_umap(rep: np.ndarray, seed: int) -> np.ndarray:
    """UMAP of the finite rows of ``rep``; NaN coordinates (not drawn) for the others."""
    finite = np.isfinite(rep).all(axis=1)
    coords = np.full((len(rep), 2), np.nan)
    coords[finite] = umap_coords(rep[finite], seed)
    return coords


def cluster_colour_slots(predicted: np.ndarray, truth: np.ndarray,
                         types: Sequence[str]) -> dict[Any, int]:
    """Colour slot of each predicted cluster: the largest cluster whose majority is type ``i``
    takes slot ``i`` (that type's colour); every other cluster takes a new slot from
    ``len(types)`` on, in order of majority type and size."""
    table = pd.crosstab(pd.Series(predicted, name="p"), pd.Series(truth, name="t"))
    table = table.reindex(columns=list(types), fill_value=0)
    key = pd.DataFrame({"type": table.to_numpy().argmax(axis=1), "size": -table.sum(axis=1)},
                       index=table.index).sort_values(["type", "size"])
    slots, extra = {}, len(types)
    for cluster, kind, first in zip(key.index, key["type"], ~key["type"].duplicated()):
        slots[cluster] = int(kind) if first else extra
        extra += not first
    return slots


def _scatter(ax, coords: np.ndarray, labels: np.ndarray, colour_of: Mapping[Any, Any],
             size: float) -> None:
    """Scatter coloured by ``labels`` through ``colour_of``."""
    ax.scatter(coords[:, 0], coords[:, 1], c=[colour_of[v] for v in labels], s=size,
               linewidths=0, rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])


def runs_from_records(records: Sequence[str | os.PathLike],
                      labels: Sequence[str | os.PathLike],
                      embeddings: Sequence[str | os.PathLike]
                      ) -> dict[str, tuple[Path | None, Path | None, Any]]:
    """method -> (labels TSV, embedding .npy, unassigned label) from the files of runs, given
    in the same order (``record.json``, ``labels.tsv``, ``embedding.npy`` of each run).

    Labels only for ok runs; the embedding only where the record says the method gave one
    (``record["embedding"] == "method"``); the label the method declared for unassigned cells
    (``extra["unassigned_label"]``), or None.
    """
    if not len(records) == len(labels) == len(embeddings):
        raise ValueError(f"{len(records)} records, {len(labels)} label files and "
                         f"{len(embeddings)} embeddings: need one of each per run")
    runs = {}
    for path, labels_tsv, embedding in zip(records, labels, embeddings):
        record = json.loads(Path(path).read_text())
        ok = record["status"] == "ok"
        runs[record["method"]] = (Path(labels_tsv) if ok else None,
                                  Path(embedding) if ok and record["embedding"] == "method"
                                  else None,
                                  record.get("extra", {}).get("unassigned_label"))
    return runs


def fig_umaps(prepared_h5ad: str | os.PathLike,
              runs: Mapping[str, tuple[str | os.PathLike | None, str | os.PathLike | None, Any]],
              out_png: str | os.PathLike, out_pdf: str | os.PathLike, seed: int = 0,
              methods: Mapping[str, Any] | None = None, pca: str | os.PathLike | None = None,
              label_key: str = "celltype") -> None:
    """UMAP grid for one dataset: a row per method, columns = true and predicted labels.

    ``runs`` maps method -> (labels TSV, embedding .npy or None, unassigned label or None);
    unassigned cells are grey and not counted as a cluster, and rows of the embedding that are
    not finite (unassigned cells) are left out of its UMAP. A method without an
    embedding is drawn on the shared PCA (``pca``: the .npy written by ``scbench.score pca``;
    computed with ``scbench.score.shared_pca`` when None), and its panels say so. Methods
    without labels (failed or unavailable runs) get no row; a note at the bottom names them.
    """
    import anndata as ad

    adata = ad.read_h5ad(prepared_h5ad)
    truth = adata.obs[label_key].astype(str).to_numpy()
    types = sorted(set(truth), key=lambda t: [int(p) if p.isdigit() else p
                                              for p in re.split(r"(\d+)", t)])
    size = float(np.clip(6000 / adata.n_obs, 0.5, 12))
    order = method_order(runs, methods or dict.fromkeys(runs))
    predicted = {m: read_labels(runs[m][0], adata.obs_names) for m in order}
    shown = [m for m in order if predicted[m] is not None]
    absent = [method_info(methods, m).display_name for m in order if predicted[m] is None]
    assigned = {m: ~unassigned_mask(predicted[m], runs[m][2]) for m in shown}
    slots = {m: cluster_colour_slots(predicted[m][assigned[m]], truth[assigned[m]], types)
             for m in shown}
    colours = _palette(max([len(types)] + [max(s.values()) + 1 for s in slots.values() if s]))
    type_colour = dict(zip(types, colours))
    cache: dict[str, np.ndarray] = {}

    def pca_coords() -> np.ndarray:
        if "pca" not in cache:
            if pca is None:
                from scbench.score import shared_pca

                rep = shared_pca(adata)
            else:
                rep = np.load(pca)
            cache["pca"] = umap_coords(rep, seed)
        return cache["pca"]

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 2.9 * max(1, len(shown)) + 0.4), layout="constrained")
        axes = fig.subplots(max(1, len(shown)), 2, squeeze=False)
        for row, method in zip(axes, shown or [None]):
            name = method_info(methods, method).display_name if method else ""
            embedding = runs[method][1] if method else None
            if embedding is not None:
                rep = np.load(embedding)
                if len(rep) != adata.n_obs:
                    raise ValueError(f"{embedding}: {len(rep)} rows for {adata.n_obs} cells")
                coords, where = _finite_umap(rep.reshape(len(rep), -1), seed), "method embedding"
            else:
                coords, where = pca_coords(), "shared PCA, no embedding"
            _scatter(row[0], coords, truth, type_colour, size)
            row[0].set_title("True labels")
            row[0].set_ylabel(f"{name}\nUMAP of {where}" if method else "UMAP of shared PCA")
            if method is None:
                row[1].set_axis_off()
                continue
            labels, done = predicted[method], assigned[method]
            _scatter(row[1], coords[done], labels[done],
                     {c: colours[s] for c, s in slots[method].items()}, size)
            title = f"Predicted ({len(slots[method])} clusters"
            if not done.all():
                row[1].scatter(coords[~done, 0], coords[~done, 1], s=size,
                               color=UNASSIGNED_COLOUR, linewidths=0, rasterized=True)
                title += f", {int((~done).sum())} unassigned"
            row[1].set_title(title + ")")
        if absent:
            fig.supxlabel(textwrap.fill("No predicted labels (run failed or unavailable): "
                                        + ", ".join(absent), 90), fontsize=8)
        if len(types) <= 20:
            fig.legend(handles=dot_handles(type_colour), loc="outside right upper",
                       frameon=False, title="True label")
        save_figure(fig, out_png, out_pdf)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: ``bars``, ``s2``, ``cost`` (from metrics.tsv) and ``umaps`` (one dataset)."""
    parser = argparse.ArgumentParser(prog="python -m scbench.figures", description=__doc__)
    sub = parser.add_subparsers(dest="figure", required=True)
    commands = {name: sub.add_parser(name, help=text) for name, text in [
        ("bars", "one metric per dataset and method (Fig 2)"),
        ("s2", "NMI, silhouette and Davies-Bouldin panels (S2)"),
        ("cost", "runtime and peak memory"),
        ("umaps", "UMAPs of each method's embedding, true vs predicted labels (Fig 3B/S3)")]}
    for name, command in commands.items():
        if name == "umaps":
            command.add_argument("prepared", help="the dataset's prepared .h5ad")
        else:
            command.add_argument("metrics", help="metrics.tsv from scbench.aggregate")
        command.add_argument("--methods-order", default="",
                             help="comma-separated method names (default: registry order)")
        command.add_argument("--out-png", required=True)
        command.add_argument("--out-pdf", required=True)
    commands["bars"].add_argument("--metric", default="ari", choices=sorted(METRIC_LABELS))
    umaps = commands["umaps"]
    umaps.add_argument("--records", nargs="+", required=True,
                       help="run records (record.json), one per method")
    umaps.add_argument("--labels", nargs="+", required=True,
                       help="the runs' labels.tsv, in the order of --records")
    umaps.add_argument("--embeddings", nargs="+", required=True,
                       help="the runs' embedding.npy, in the order of --records")
    umaps.add_argument("--pca", help="shared PCA .npy (default: computed from the counts)")
    umaps.add_argument("--seed", type=int, default=0, help="UMAP random_state")
    umaps.add_argument("--label-key", default="celltype")
    args = parser.parse_args(argv)

    order = [m for m in args.methods_order.split(",") if m]
    if args.figure == "umaps":
        runs = runs_from_records(args.records, args.labels, args.embeddings)
        fig_umaps(args.prepared, runs, args.out_png, args.out_pdf, args.seed,
                  registry_methods(order, runs), args.pca, args.label_key)
        return
    metrics = read_metrics(args.metrics)
    methods = registry_methods(order, metrics["method"].unique())
    if args.figure == "bars":
        fig_metric_bars(metrics, methods, args.metric, args.out_png, args.out_pdf)
    elif args.figure == "s2":
        fig_s2(metrics, methods, args.out_png, args.out_pdf)
    else:
        fig_cost(metrics, methods, args.out_png, args.out_pdf)


if __name__ == "__main__":
    main()
