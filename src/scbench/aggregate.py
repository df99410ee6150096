"""Aggregate per-run score records into the benchmark's tables.

``metrics_table`` joins the per-run score records (and, optionally, Snakemake's
``benchmark:`` files) into one row per dataset x method x seed; ``summary_table``
reduces it to mean and sd over seeds per dataset and method; ``write_summary``
renders a summary as TSV (machine-readable), Markdown and LaTeX.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from scbench.files import atomic_path

METRICS_COLUMNS = [
    "dataset", "method", "seed", "status", "reason", "ari", "nmi", "asw", "db", "n_clusters",
    "n_unassigned", "runtime_s", "peak_mem_mb", "peak_gpu_mb", "device", "threads",
    "embedding_source", "bench_s", "bench_max_rss_mb",
]
INT_COLUMNS = ["n_clusters", "n_unassigned", "threads"]
FLOAT_COLUMNS = ["ari", "nmi", "asw", "db", "runtime_s", "peak_mem_mb", "peak_gpu_mb",
                 "bench_s", "bench_max_rss_mb"]
STATUSES = ("ok", "failed", "unavailable")
#: Metrics where a smaller value is better (everything else but ``UNRANKED``: larger is better).
LOWER_IS_BETTER = frozenset({"db", "runtime_s", "peak_mem_mb"})
#: Metrics where no value is better than another (the number of clusters: the true_labels
#: control shows the number of cell types).
UNRANKED = frozenset({"n_clusters"})
METRIC_LABELS = {"ari": "ARI", "nmi": "NMI", "asw": "Silhouette", "db": "Davies-Bouldin",
                 "runtime_s": "Runtime (s)", "peak_mem_mb": "Peak memory (MB)",
                 "n_clusters": "Clusters found"}
#: Decimals a summary prints per metric (3 for the rest).
DECIMALS = {"runtime_s": 0, "peak_mem_mb": 0, "n_clusters": 1}
#: The summary table's metric by default, and the metrics with a summary table of their own.
DEFAULT_METRIC = "ari"
EXTRA_METRICS = tuple(m for m in METRIC_LABELS if m != DEFAULT_METRIC)
SUMMARY_FIELDS = ["mean", "sd", "n_ok", "n_runs", "status"]
MEAN_ROW = "Mean"
BENCH_PATH = re.compile(
    r"(?:^|/)benchmarks/(?P<dataset>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)\.tsv$")


class MethodInfo(NamedTuple):
    """What the tables and figures need to know about a method."""

    display_name: str
    needs_k: bool
    is_control: bool


def method_info(methods: Mapping[str, Any] | None, name: str) -> MethodInfo:
    """Metadata of ``name`` from a mapping of dicts or attribute objects (name as fallback)."""
    spec = (methods or {}).get(name)
    if spec is None:
        return MethodInfo(name, False, False)

    def get(key: str, default: Any) -> Any:
        return spec.get(key, default) if isinstance(spec, Mapping) else getattr(spec, key, default)

    return MethodInfo(str(get("display_name", name) or name), bool(get("needs_k", False)),
                      get("implementation", "") == "control")


def method_label(methods: Mapping[str, Any] | None, name: str) -> str:
    """Display name, with an asterisk when the method needs the number of clusters."""
    info = method_info(methods, name)
    return info.display_name + ("*" if info.needs_k else "")


def method_order(present: Iterable[str], methods: Mapping[str, Any] | None) -> list[str]:
    """Methods in ``present``: in the mapping's order, unknown ones after, controls last."""
    present = set(present)
    known = [m for m in (methods or {}) if m in present]
    ordered = known + sorted(present - set(known))
    return sorted(ordered, key=lambda m: method_info(methods, m).is_control)


def _read_benchmark(path: str | os.PathLike) -> tuple[float, float]:
    """Wall-clock seconds (mean over repeats) and max RSS in MB from a benchmark TSV."""
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return np.nan, np.nan
    bench = pd.read_csv(path, sep="\t", na_values=["-", "NA"])

    def column(name: str) -> pd.Series:
        return pd.to_numeric(bench.get(name, pd.Series(dtype=float)), errors="coerce")

    return float(column("s").mean()), float(column("max_rss").max())


def metrics_table(records: list[dict],
                  benchmarks: dict[tuple[str, str, int], str | os.PathLike] | None = None
                  ) -> pd.DataFrame:
    """One row per dataset x method x seed, columns ``METRICS_COLUMNS``, sorted.

    A record without a benchmark file (or with a missing one) gets NaN benchmark columns.
    Raises ``ValueError`` on duplicate runs or an unknown status.
    """
    table = pd.DataFrame([{c: rec.get(c) for c in METRICS_COLUMNS} for rec in records],
                         columns=METRICS_COLUMNS)
    table["seed"] = table["seed"].astype(int)
    bad = sorted(set(table["status"]) - set(STATUSES), key=str)
    if bad:
        raise ValueError(f"unknown status {bad}; expected one of {STATUSES}")
    dup = table.duplicated(["dataset", "method", "seed"], keep=False)
    if dup.any():
        keys = sorted(set(map(tuple, table.loc[dup, ["dataset", "method", "seed"]].values)))
        raise ValueError(f"duplicate runs (dataset, method, seed): {keys}")
    bench = [_read_benchmark(benchmarks[key]) if benchmarks and key in benchmarks
             else (np.nan, np.nan)
             for key in zip(table["dataset"], table["method"], table["seed"])]
    table[["bench_s", "bench_max_rss_mb"]] = bench if bench else np.empty((0, 2))
    table[FLOAT_COLUMNS] = table[FLOAT_COLUMNS].apply(pd.to_numeric, errors="coerce")
    for column in INT_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    return table.sort_values(["dataset", "method", "seed"], ignore_index=True)


def cell_stats(runs: pd.DataFrame, metric: str, n_seeds: int = 0
               ) -> tuple[float, float, int, int, str]:
    """mean, sd (ddof=1), n values, n runs and status of one dataset x method.

    With some values the status is ``"ok"`` when every run gave one, else it says which are
    missing: ``"1/3 seeds"`` (only 1 of the ``n_seeds`` seeds that other methods ran on this
    dataset was run, e.g. in a merged table), ``"2/3 ok"`` (a seed failed), ``"1 not
    computable"`` (a successful seed gave no value, e.g. no silhouette for one cluster), or
    several joined by ``"; "``.
    """
    ok = runs["status"] == "ok"
    values = runs.loc[ok, metric].dropna().to_numpy(float)
    n_runs, n_ok = len(runs), int(ok.sum())
    if len(values):
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
        missing = ([f"{n_runs}/{n_seeds} seeds"] if n_runs < n_seeds else []) + (
            [f"{n_ok}/{n_runs} ok"] if n_ok < n_runs else []) + (
            [f"{n_ok - len(values)} not computable"] if len(values) < n_ok else [])
        return float(values.mean()), sd, len(values), n_runs, "; ".join(missing) or "ok"
    statuses = set(runs["status"])
    if not n_runs:
        status = "missing"
    elif "ok" in statuses:
        status = "not computable"  # runs succeeded but gave no value for this metric
    elif len(statuses) == 1:
        status = statuses.pop()
    else:
        status = f"failed ({int((runs['status'] == 'failed').sum())}/{n_runs})"
    return np.nan, np.nan, 0, n_runs, status


def seeds_per_dataset(metrics: pd.DataFrame) -> dict[str, int]:
    """The number of distinct seeds run on each dataset, over all methods."""
    return metrics.groupby("dataset")["seed"].nunique().to_dict()


def summary_table(metrics: pd.DataFrame, methods: Mapping[str, Any] | None,
                  metric: str = "ari") -> pd.DataFrame:
    """Mean and sd over seeds of ok runs, rows = datasets + ``"Mean"``, one column group per method.

    Columns are a MultiIndex (method, field) with fields ``SUMMARY_FIELDS``; ``status`` is
    that of :func:`cell_stats`: ``"ok"``, a note on the seeds the mean lacks, or, without any
    value, ``"unavailable"``, ``"failed"``, ``"failed (2/3)"``, ``"not computable"`` or
    ``"missing"``. The Mean row averages the per-dataset means; it is NaN (status
    ``"incomplete"``) unless the method has a value on every dataset, and ``"partial"`` when
    one of those values lacks some seeds (its ``n_ok``/``n_runs`` count datasets). ``attrs``
    holds the metric and each method's embedding source(s) of ok runs.
    """
    order = method_order(metrics["method"].unique(), methods)
    datasets = sorted(metrics["dataset"].unique())
    groups = dict(tuple(metrics.groupby(["dataset", "method"])))
    seeds = seeds_per_dataset(metrics)
    empty = metrics.iloc[:0]
    data = {}
    for method in order:
        cells = {d: cell_stats(groups.get((d, method), empty), metric, seeds[d])
                 for d in datasets}
        means = np.array([cells[d][0] for d in datasets])
        complete = not np.isnan(means).any()
        status = ("incomplete" if not complete
                  else "ok" if all(cells[d][4] == "ok" for d in datasets) else "partial")
        cells[MEAN_ROW] = (float(means.mean()) if complete else np.nan, np.nan,
                           len(datasets) if complete else 0, len(datasets), status)
        for i, field in enumerate(SUMMARY_FIELDS):
            data[(method, field)] = [cells[row][i] for row in datasets + [MEAN_ROW]]
    summary = pd.DataFrame(data, index=pd.Index(datasets + [MEAN_ROW], name="dataset"))
    summary.columns = pd.MultiIndex.from_tuples(summary.columns, names=["method", "field"])
    sources = metrics.loc[metrics["status"] == "ok"].groupby("method")["embedding_source"]
    summary.attrs["metric"] = metric
    summary.attrs["embedding_source"] = {m: "/".join(sorted(s.dropna().unique()))
                                         for m, s in sources}
    return summary


def _best(summary: pd.DataFrame, methods: Mapping[str, Any] | None, row: str) -> set[str]:
    """Non-control methods with the best mean in ``row`` as printed, among those whose every
    run there succeeded (a mean over the seeds that happened to work is not ranked)."""
    metric = summary.attrs.get("metric")
    if metric in UNRANKED:
        return set()
    candidates = {m: round(summary.loc[row, (m, "mean")], _decimals(summary))
                  for m in summary.columns.get_level_values("method").unique()
                  if not method_info(methods, m).is_control
                  and summary.loc[row, (m, "status")] == "ok"}
    if not candidates:
        return set()
    best = (min if metric in LOWER_IS_BETTER else max)(candidates.values())
    return {m for m, v in candidates.items() if v == best}


def _format(summary: pd.DataFrame, row: str, method: str) -> str:
    """'0.812 ± 0.013', with a '(2/3 ok)' note for partial runs, or the status."""
    mean, sd, status = (summary.loc[row, (method, f)] for f in ("mean", "sd", "status"))
    if np.isnan(mean):
        return "–" if status == "incomplete" else status
    decimals = _decimals(summary)
    text = _fixed(mean, decimals) + ("" if np.isnan(sd) else f" ± {_fixed(sd, decimals)}")
    return text if status == "ok" else f"{text} ({status})"


def _decimals(summary: pd.DataFrame) -> int:
    """Decimals the summary's metric is printed with."""
    return DECIMALS.get(summary.attrs.get("metric"), 3)


def _fixed(value: float, decimals: int = 3) -> str:
    """``decimals`` decimals, without the sign of a value that rounds to zero."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _tex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
               "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
               "^": r"\textasciicircum{}", "–": "--", "±": r"$\pm$"}
    return "".join(special.get(ch, ch) for ch in text)


def _md_escape(text: str) -> str:
    """Escape characters that break a Markdown table cell or start emphasis."""
    return text.replace("|", r"\|").replace("*", r"\*")


def _notes(summary: pd.DataFrame, methods: Mapping[str, Any] | None, where: str) -> list[str]:
    """Footnotes shared by the Markdown and LaTeX renderings; ``where`` locates the controls."""
    metric = summary.attrs.get("metric", "")
    order = list(summary.columns.get_level_values("method").unique())
    direction = ("not ranked" if metric in UNRANKED
                 else "lower is better" if metric in LOWER_IS_BETTER else "higher is better")
    bold = "" if metric in UNRANKED else "bold = best non-control method per dataset; "
    notes = [(f"{METRIC_LABELS.get(metric, metric)} ({direction}): mean ± sd over seeds of "
              f"successful runs; {bold}"
              "'(n/N seeds)' = only n of the N seeds run on the dataset were run for this "
              "method, '(n/N ok)' = only n of N seeds succeeded, '(k not computable)' = k "
              "successful seeds gave no value (e.g. one cluster), 'partial' = a mean over "
              "such cells: none of these is ranked; Mean = mean over datasets of the "
              "per-dataset means, only for methods with results on every dataset.")]
    if any(method_info(methods, m).needs_k for m in order):
        notes.append("* needs the number of clusters (k) as input.")
    if any(method_info(methods, m).is_control for m in order):
        notes.append(f"Controls ({where}) are set apart and not ranked.")
    if metric in ("asw", "db"):
        pca = [method_info(methods, m).display_name
               for m, s in summary.attrs.get("embedding_source", {}).items() if "pca" in s]
        if pca:
            notes.append("Computed on each method's embedding; on the shared PCA for: "
                         + ", ".join(pca) + ".")
    return notes


def summary_to_tsv(summary: pd.DataFrame) -> str:
    """Flat TSV: ``dataset`` then ``<method>_{mean,sd,n_ok,n_runs,status}``."""
    flat = summary.copy()
    flat.columns = [f"{m}_{f}" for m, f in summary.columns]
    return flat.reset_index().to_csv(sep="\t", index=False, float_format="%.6g", na_rep="")


def summary_to_markdown(summary: pd.DataFrame, methods: Mapping[str, Any] | None) -> str:
    """Markdown table; controls follow a 'controls →' separator column."""
    order = list(summary.columns.get_level_values("method").unique())
    controls = [m for m in order if method_info(methods, m).is_control]
    header = ["Dataset"] + [_md_escape(method_label(methods, m)) for m in order]
    split = len(order) - len(controls) + 1
    if controls:
        header.insert(split, "controls →")
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in summary.index:
        best = _best(summary, methods, row)
        cells = [f"**{row}**" if row == MEAN_ROW else _md_escape(row)]
        for m in order:
            text = _format(summary, row, m)
            cells.append(f"**{text}**" if m in best else text)
        if controls:
            cells.insert(split, "")
        lines.append("| " + " | ".join(cells) + " |")
    notes = _notes(summary, methods, "after the 'controls →' column")
    notes = [rf"\{n}" if n.startswith("*") else n for n in notes]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def summary_to_latex(summary: pd.DataFrame, methods: Mapping[str, Any] | None) -> str:
    """LaTeX tabular (booktabs); a vertical rule before the controls; notes below."""
    order = list(summary.columns.get_level_values("method").unique())
    n_controls = sum(method_info(methods, m).is_control for m in order)
    spec = "l" + "r" * (len(order) - n_controls) + ("|" + "r" * n_controls if n_controls else "")
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(["Dataset"] + [_tex_escape(method_label(methods, m)) for m in order])
             + r" \\", r"\midrule"]
    for row in summary.index:
        if row == MEAN_ROW:
            lines.append(r"\midrule")
        best = _best(summary, methods, row)
        cells = [_tex_escape(row)]
        for m in order:
            text = _tex_escape(_format(summary, row, m))
            cells.append(rf"\textbf{{{text}}}" if m in best else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"{\footnotesize"]
    notes = _notes(summary, methods, "after the vertical rule")
    lines += [_tex_escape(n) + r"\par" for n in notes] + ["}"]
    return "\n".join(lines) + "\n"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_summary(summary: pd.DataFrame, path_tsv: str | os.PathLike,
                  path_md: str | os.PathLike, path_tex: str | os.PathLike,
                  methods: Mapping[str, Any] | None) -> None:
    """Write a summary as TSV (raw numbers), Markdown and LaTeX, each atomically."""
    atomic_write_text(path_tsv, summary_to_tsv(summary))
    atomic_write_text(path_md, summary_to_markdown(summary, methods))
    atomic_write_text(path_tex, summary_to_latex(summary, methods))


def write_metrics(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the per-run table as TSV, atomically."""
    atomic_write_text(path, metrics.to_csv(sep="\t", index=False, na_rep=""))


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``metrics.tsv`` written by ``write_metrics`` (columns an older version did not
    write, e.g. ``threads``, are empty)."""
    text = ["dataset", "method", "status", "reason", "device", "embedding_source"]
    table = pd.read_csv(path, sep="\t", dtype=dict.fromkeys(text, str),
                        keep_default_na=False, na_values=[""])
    table = table.reindex(columns=METRICS_COLUMNS)
    for column in INT_COLUMNS:
        table[column] = table[column].astype("Int64")
    return table


def merge_metrics(previous: Sequence[pd.DataFrame], new: pd.DataFrame) -> pd.DataFrame:
    """Rows of the ``previous`` tables and of ``new``; a later table's run replaces an earlier
    one with the same dataset, method and seed (so new scores update an assembled table)."""
    tables = [t.reindex(columns=METRICS_COLUMNS) for t in (*previous, new) if len(t)]
    if not tables:
        return new
    merged = pd.concat(tables, ignore_index=True)
    merged = merged.drop_duplicates(["dataset", "method", "seed"], keep="last")
    return merged.sort_values(["dataset", "method", "seed"], ignore_index=True)


def parse_benchmark_paths(paths: Sequence[str]) -> dict[tuple[str, str, int], str]:
    """Map ``.../benchmarks/{dataset}/{method}/seed{seed}.tsv`` paths to their run key."""
    keys = {}
    for path in paths:
        match = BENCH_PATH.search(Path(path).as_posix())
        if not match:
            raise ValueError(f"benchmark path {path!r} does not match "
                             "benchmarks/{dataset}/{method}/seed{seed}.tsv")
        keys[(match["dataset"], match["method"], int(match["seed"]))] = path
    return keys


def registry_methods(order: Sequence[str], present: Iterable[str]) -> dict[str, Any]:
    """Metadata of the ``present`` methods, ordered: ``order``, then the registry's order.

    Taken from ``scbench.methods.registry.METHODS`` when importable; unknown names keep
    their name as display name.
    """
    try:
        from scbench.methods.registry import METHODS
    except ImportError:
        METHODS = {}
    specs = METHODS if isinstance(METHODS, Mapping) else {m.name: m for m in METHODS}
    present = set(present)
    names = [m for m in order if m in present] + [m for m in specs if m in present]
    names += sorted(present)
    return {name: specs.get(name, {"display_name": name}) for name in dict.fromkeys(names)}


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: score JSON files (+ benchmark TSVs, + earlier metrics.tsv) -> metrics.tsv and
    summary tables."""
    parser = argparse.ArgumentParser(prog="python -m scbench.aggregate", description=__doc__)
    parser.add_argument("--scores", nargs="*", default=[], help="per-run score JSON files")
    parser.add_argument("--previous", nargs="*", default=[],
                        help="earlier metrics.tsv files to keep; a score file of the same "
                             "dataset, method and seed (or a later file) replaces their row")
    parser.add_argument("--benchmarks", nargs="*", default=[],
                        help="benchmark TSVs: benchmarks/{dataset}/{method}/seed{seed}.tsv")
    parser.add_argument("--methods-order", default="", help="comma-separated method names")
    parser.add_argument("--out-metrics", required=True, help="metrics.tsv to write")
    parser.add_argument("--out-summary-prefix", required=True,
                        help="writes PREFIX.{tsv,md,tex} for --metric, PREFIX_<m>.* for the extras")
    parser.add_argument("--metric", default=DEFAULT_METRIC, choices=sorted(METRIC_LABELS))
    parser.add_argument("--extra-metrics", default=",".join(EXTRA_METRICS),
                        help="comma-separated further metrics with their own summaries")
    args = parser.parse_args(argv)

    extras = [m for m in args.extra_metrics.split(",") if m and m != args.metric]
    if set(extras) - set(METRIC_LABELS):
        parser.error(f"unknown metric in --extra-metrics; choose from {sorted(METRIC_LABELS)}")
    if not args.scores and not args.previous:
        parser.error("give --scores, --previous or both")
    records = [json.loads(Path(p).read_text()) for p in args.scores]
    metrics = merge_metrics([read_metrics(p) for p in args.previous],
                            metrics_table(records, parse_benchmark_paths(args.benchmarks)))
    order = [m for m in args.methods_order.split(",") if m]
    methods = registry_methods(order, metrics["method"].unique())
    write_metrics(metrics, args.out_metrics)
    for metric in [args.metric] + extras:
        prefix = args.out_summary_prefix + ("" if metric == args.metric else f"_{metric}")
        write_summary(summary_table(metrics, methods, metric),
                      f"{prefix}.tsv", f"{prefix}.md", f"{prefix}.tex", methods)


if __name__ == "__main__":
    main()
