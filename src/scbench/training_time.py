"""Training time of the deep methods per dataset (paper S3 Table), from ``metrics.tsv``.

Nothing is re-run: each cell is the mean ± sd over the successful seeds of the run's
``runtime_s`` (the run record's wall-clock time of the whole run: preprocessing, training and
clustering; Snakemake's benchmark time where a record has none), with the device and thread
count the run records name.

    python -m scbench.training_time metrics.tsv --out-tsv T.tsv --out-md T.md [--methods-order a,b]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scbench.aggregate import (
    _md_escape,
    atomic_write_text,
    cell_stats,
    method_info,
    method_label,
    method_order,
    read_metrics,
    registry_methods,
    seeds_per_dataset,
)

#: Deep methods the registry marks CPU-only (``gpu=False``): DESC is a Keras network.
DEEP_WITHOUT_GPU = frozenset({"desc"})
COLUMNS = ["dataset", "method", "display_name", "mean_s", "sd_s", "n_ok", "n_runs", "status",
           "device", "threads"]


def is_deep(name: str) -> bool:
    """Whether ``name`` trains a neural network: a GPU-capable registry row, or DESC."""
    from scbench.methods.registry import METHODS

    spec = METHODS.get(name)
    return name in DEEP_WITHOUT_GPU or bool(spec and spec.gpu)


def _joined(values: pd.Series) -> str:
    """The distinct values, sorted, joined by '/' ('' when none)."""
    return "/".join(sorted({str(v) for v in values.dropna()}))


def training_time_table(metrics: pd.DataFrame, methods: Mapping[str, Any] | None,
                        deep: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per dataset and deep method (``deep``: default :func:`is_deep` of each method
    in ``metrics``): runtime mean and sd (s) over the ok seeds, their count, the status of
    :func:`scbench.aggregate.cell_stats` (which names seeds that other methods ran on the
    dataset and this one did not), and the devices and thread counts of the ok runs."""
    timed = metrics.assign(runtime_s=metrics["runtime_s"].fillna(metrics["bench_s"]))
    present = [m for m in timed["method"].unique()
               if (m in deep if deep is not None else is_deep(m))]
    seeds = seeds_per_dataset(timed)
    rows = []
    for method in method_order(present, methods):
        for dataset in sorted(timed["dataset"].unique()):
            runs = timed[(timed["dataset"] == dataset) & (timed["method"] == method)]
            if runs.empty:
                continue
            mean, sd, n_ok, n_runs, status = cell_stats(runs, "runtime_s", seeds[dataset])
            ok = runs[runs["status"] == "ok"]
            rows.append([dataset, method, method_info(methods, method).display_name, mean, sd,
                         n_ok, n_runs, status, _joined(ok["device"]), _joined(ok["threads"])])
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(table: pd.DataFrame, methods: Mapping[str, Any] | None) -> str:
    """Datasets as rows, methods as columns ('mean ± sd'), device and threads in the header."""
    if table.empty:
        return "No deep method ran: no training times.\n"
    order = list(dict.fromkeys(table["method"]))
    header = ["Dataset"]
    for method in order:
        runs = table[table["method"] == method]
        device = "/".join(sorted(set("/".join(runs["device"]).split("/")) - {""})) or "?"
        threads = "/".join(sorted(set("/".join(runs["threads"]).split("/")) - {""}, key=int))
        header.append(f"{_md_escape(method_label(methods, method))} "
                      f"({device}, {threads or '?'} thr.)")
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(order)) + "|"]
    cells = table.set_index(["dataset", "method"])
    for dataset in sorted(table["dataset"].unique()):
        row = [_md_escape(dataset)]
        for method in order:
            if (dataset, method) not in cells.index:
                row.append("–")
                continue
            cell = cells.loc[(dataset, method)]
            if np.isnan(cell["mean_s"]):
                row.append(cell["status"])
                continue
            text = f"{cell['mean_s']:.1f}" + ("" if np.isnan(cell["sd_s"])
                                               else f" ± {cell['sd_s']:.1f}")
            row.append(text if cell["status"] == "ok" else f"{text} ({cell['status']})")
        lines.append("| " + " | ".join(row) + " |")
    note = ("Training time (s): mean ± sd over the successful seeds of each run's wall-clock "
            "runtime (preprocessing, training and clustering), from metrics.tsv; the header "
            "gives the device and CPU threads of those runs. Times from different devices or "
            "thread counts are not comparable.")
    return "\n".join(lines) + "\n\n" + note + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scbench.training_time",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("metrics", help="metrics.tsv from scbench.aggregate")
    parser.add_argument("--methods-order", default="")
    parser.add_argument("--out-tsv", required=True)
    parser.add_argument("--out-md", required=True)
    args = parser.parse_args(argv)
    metrics = read_metrics(args.metrics)
    order = [m for m in args.methods_order.split(",") if m]
    methods = registry_methods(order, metrics["method"].unique())
    table = training_time_table(metrics, methods)
    atomic_write_text(args.out_tsv, table.to_csv(sep="\t", index=False, float_format="%.6g"))
    atomic_write_text(args.out_md, to_markdown(table, methods))


if __name__ == "__main__":
    main()
