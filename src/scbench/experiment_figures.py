"""Summary tables and figures of the experiments (``scbench.experiments``), in the paper's form:
box plots over datasets x seeds per setting (Fig 5, S6-S8), the mean printed under each box."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from scbench.aggregate import method_label, registry_methods
from scbench.figures import AXIS_LABELS, STYLE, save_figure

FACTOR_TITLES = {
    "graph_method": "Cell graph", "heads": "Attention heads", "resolution": "Leiden resolution",
    "n_hvg": "Highly variable genes", "ablation": "Ablation", "dropout": "Extra dropout",
    "downsample-random": "Training cells (random)",
    "downsample-stratified": "Training cells (stratified: uses labels)",
}
ABLATION_LABELS = {"none": "full\nmodel", "no_attention": "w/o\nattention",
                   "no_zinb": "w/o\nZINB", "no_residual": "w/o\nresidual", "no_gnn": "w/o\nGAE",
                   "dae": "DAE\nonly"}
FACTOR_XLABELS = {"dropout": "fraction of non-zero counts set to zero",
                  "downsample-random": "fraction of cells trained on",
                  "downsample-stratified": "fraction of each type trained on"}
SUMMARY_METRICS = ("ari", "nmi", "asw", "db", "n_clusters")
DATASET_MARKERS = ("o", "^", "s", "D", "v", "P", "X")
MEAN_Y = -0.2  # where the mean of a box is printed, in axes coordinates (below the tick labels)


def level_order(levels: Sequence[str]) -> list[str]:
    """Levels of a factor in plot order: words first (as they come), then numbers ascending."""
    seen = list(dict.fromkeys(levels))

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    words = [v for v in seen if number(v) is None]
    return words + sorted((v for v in seen if number(v) is not None), key=number)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of each metric per factor, level and method: over all datasets x seeds
    (``dataset == "all"``) and per dataset (over seeds). Failed runs count in ``n_runs`` only."""
    ok = runs[runs["status"] == "ok"]
    keys = ["factor", "value", "method"]
    parts = []
    for dataset, group_keys in (("all", keys), (None, ["dataset", *keys])):
        stats = ok.groupby(group_keys, sort=False)[list(SUMMARY_METRICS)].agg(["mean", "std"])
        stats.columns = [f"{m}_{s.replace('std', 'sd')}" for m, s in stats.columns]
        counts = runs.groupby(group_keys, sort=False).agg(
            n_runs=("seed", "size"), uses_labels=("uses_labels", "any"))
        counts["n_ok"] = ok.groupby(group_keys, sort=False).size()
        table = counts.join(stats).reset_index()
        if dataset:
            table.insert(0, "dataset", dataset)
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    table["n_ok"] = table["n_ok"].fillna(0).astype(int)
    # rows: all datasets first, then factor by factor, levels in plot order, method by method
    rank = {name: {v: i for i, v in enumerate(order)} for name, order in (
        ("dataset", ["all", *dict.fromkeys(runs["dataset"])]),
        ("factor", list(dict.fromkeys(runs["factor"]))),
        ("value", level_order(runs["value"].astype(str))),
        ("method", list(dict.fromkeys(runs["method"]))))}
    table = table.sort_values(list(rank), key=lambda col: col.astype(str).map(rank[col.name]),
                              ignore_index=True)
    return table[["dataset", *keys, "n_ok", "n_runs", "uses_labels",
                  *[c for c in table.columns if c.endswith(("_mean", "_sd"))]]]


def summary_markdown(summary: pd.DataFrame, title: str) -> str:
    """The summary as a Markdown table: mean ± sd of ARI and NMI, mean number of clusters."""
    methods = registry_methods(summary["method"].unique(), summary["method"].unique())
    lines = [f"# {title}", "",
             "Mean ± sd over the runs of each row (all = every dataset x seed). "
             "`*` = chooses cells by their true labels.", "",
             "| dataset | factor | level | method | ARI | NMI | clusters | runs ok |",
             "|---|---|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        def cell(metric: str) -> str:
            mean, sd = getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_sd")
            if pd.isna(mean):
                return "–"
            return f"{mean:.3f}" + ("" if pd.isna(sd) else f" ± {sd:.3f}")
        clusters = "–" if pd.isna(row.n_clusters_mean) else f"{row.n_clusters_mean:.1f}"
        star = "*" if row.uses_labels else ""
        lines.append(f"| {row.dataset} | {row.factor}{star} | {row.value} | "
                     f"{method_label(methods, row.method)} | {cell('ari')} | {cell('nmi')} | "
                     f"{clusters} | {row.n_ok}/{row.n_runs} |")
    return "\n".join(lines) + "\n"


def _boxes(ax, runs: pd.DataFrame, metric: str, levels: Sequence[str],
           methods: Sequence[str], palette: dict[str, tuple], markers: dict[str, str]) -> None:
    """Box + points per level (x) and method (side by side), one marker per dataset; the mean
    under each box."""
    width = 0.8 / len(methods)
    for i, level in enumerate(levels):
        for j, method in enumerate(methods):
            cell = runs[(runs["value"] == level) & (runs["method"] == method)]
            cell = cell[cell[metric].notna()]
            values = cell[metric].to_numpy(dtype=float)
            x = i + (j - (len(methods) - 1) / 2) * width
            if values.size == 0:
                ax.text(x, 0.02, "no run", transform=ax.get_xaxis_transform(), ha="center",
                        va="bottom", fontsize=6, rotation=90, color="0.4")
                continue
            ax.boxplot(values, positions=[x], widths=width * 0.8, patch_artist=True,
                       showfliers=False, manage_ticks=False,
                       boxprops={"facecolor": palette[method], "alpha": 0.6},
                       medianprops={"color": "0.1"})
            jitter = np.random.default_rng(i * 31 + j).uniform(-0.15, 0.15, values.size)
            for dataset, marker in markers.items():
                mine = (cell["dataset"] == dataset).to_numpy()
                ax.scatter(x + jitter[mine] * width, values[mine], s=14, marker=marker,
                           color=palette[method], zorder=3, edgecolor="0.2", linewidth=0.3)
            ax.text(x, MEAN_Y, f"{values.mean():.2f}", transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=6.5, rotation=90 if len(methods) > 2 else 0)
    ax.set_xticks(range(len(levels)))
    ax.set_xlim(-0.6, len(levels) - 0.4)


def _tick_label(factor: str, level: str, base: bool) -> str:
    text = ABLATION_LABELS.get(level, level) if factor == "ablation" else level
    return f"{text}\n(base)" if base and factor != "ablation" else text


def experiment_figure(runs: pd.DataFrame, title: str,
                      metrics: Sequence[str] = ("ari", "nmi")) -> Figure:
    """Boxes per level (and method) of each factor and metric: factors in columns and metrics
    in rows, or, for a single factor, the metrics side by side."""
    runs = runs[runs["status"] == "ok"]
    factors = [f for f in dict.fromkeys(runs["factor"]) if f != "base"] or ["base"]
    methods = list(dict.fromkeys(runs["method"]))
    names = registry_methods(methods, methods)
    palette = dict(zip(methods, sns.color_palette("colorblind", max(3, len(methods)))))
    datasets = list(dict.fromkeys(runs["dataset"]))
    markers = dict(zip(datasets, itertools.cycle(DATASET_MARKERS)))
    widths = [max(2.0, 0.5 * len(set(runs.loc[runs["factor"] == f, "value"])) * len(methods)
                  + 0.8) for f in factors]
    side_by_side = len(factors) == 1
    shape = (1, len(metrics)) if side_by_side else (len(metrics), len(factors))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(widths[0] * len(metrics) if side_by_side else sum(widths),
                              2.6 * shape[0] + 0.9), layout="constrained")
        axes = fig.subplots(*shape, squeeze=False, sharey=False if side_by_side else "row",
                            gridspec_kw={} if side_by_side else {"width_ratios": widths})
        for col, factor in enumerate(factors):
            part = runs[runs["factor"] == factor]
            part = part.assign(value=part["value"].astype(str))
            levels = level_order(part["value"])
            base = set(part.loc[part["setting"] == "base", "value"])
            for row, metric in enumerate(metrics):
                ax = axes[0, row] if side_by_side else axes[row, col]
                _boxes(ax, part, metric, levels, methods, palette, markers)
                ax.set_xticklabels([_tick_label(factor, v, v in base) for v in levels])
                label = AXIS_LABELS.get(metric, metric)
                if side_by_side:
                    ax.set_title(label)
                    continue
                ax.set_ylabel(label if col == 0 else "")
                if row == 0:
                    ax.set_title(FACTOR_TITLES.get(factor, factor))
                if row == len(metrics) - 1:
                    ax.set_xlabel(FACTOR_XLABELS.get(factor, ""), labelpad=22)
        n_datasets, n_seeds = runs["dataset"].nunique(), runs["seed"].nunique()
        fig.suptitle(f"{title}: {n_datasets} dataset(s) x {n_seeds} seed(s) per box; "
                     "number under a box = its mean")
        handles = [axes[0, 0].scatter([], [], color=palette[m], label=method_label(names, m))
                   for m in methods] if len(methods) > 1 else []
        if len(datasets) > 1:  # the boxes pool datasets: say which point is which
            handles += [axes[0, 0].scatter([], [], marker=markers[d], color="0.5", label=d)
                        for d in datasets]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
                       frameon=False, fontsize=7)
    return fig


def write_outputs(runs: pd.DataFrame, out_dir: str | os.PathLike, title: str,
                  metrics: Sequence[str]) -> None:
    """``runs.tsv``, ``summary.tsv``, ``summary.md`` and ``figure.png``/``.pdf`` in ``out_dir``."""
    from pathlib import Path

    from scbench.aggregate import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(runs)
    atomic_write_text(out / "runs.tsv", runs.to_csv(sep="\t", index=False))
    atomic_write_text(out / "summary.tsv", summary.to_csv(sep="\t", index=False))
    atomic_write_text(out / "summary.md", summary_markdown(summary, title))
    save_figure(experiment_figure(runs, title, metrics), out / "figure.png", out / "figure.pdf")
