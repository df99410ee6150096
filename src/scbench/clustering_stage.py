"""AttentionAE-sc's clustering stage epoch by epoch (paper Fig 4A and S4 Fig).

The runs of the AttentionAE-sc rows keep, per clustering epoch, the number of clusters, KL(P||Q),
the mean largest soft assignment q and the labels of the training cells. Here those labels are
scored against the dataset's true types, after the run: the model never sees them.

    python -m scbench.clustering_stage PREPARED.h5ad --records R1.json ... \
        --out-tsv T.tsv --out-png F.png --out-pdf F.pdf [--methods-order a,b]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from scbench.aggregate import method_info, registry_methods
from scbench.figures import STYLE, figure_parser, save_figure
from scbench.files import atomic_path

SERIES = ("n_clusters", "kl", "max_q", "label_change")
PANELS = (("n_clusters", "Clusters"), ("ari", "ARI"), ("nmi", "NMI"),
          ("max_q", "Mean largest q"))


def stage_table(truth: Sequence[Any], records: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per method, seed and clustering epoch of the ok runs that recorded the stage,
    with ARI and NMI of that epoch's labels on the training cells that have a true type."""
    truth = pd.Series(truth, dtype=object)
    known = truth.notna().to_numpy()
    truth = truth.astype(str).to_numpy()
    rows = []
    for path in map(Path, records):
        record = json.loads(path.read_text())
        stage = (record.get("extra") or {}).get("clustering_stage")
        if record["status"] != "ok" or not stage:
            continue
        cells = np.asarray(stage["training_cells"], dtype=np.int64)
        scored = known[cells]
        for epoch, labels in enumerate(stage["labels"]):
            labels = np.asarray(labels)[scored]
            rows.append({"method": record["method"], "seed": record["seed"], "epoch": epoch + 1,
                         **{name: stage[name][epoch] for name in SERIES},
                         "ari": adjusted_rand_score(truth[cells][scored], labels),
                         "nmi": normalized_mutual_info_score(truth[cells][scored], labels)})
    columns = ["method", "seed", "epoch", *SERIES, "ari", "nmi"]
    return pd.DataFrame(rows, columns=columns)


def fig_clustering_stage(table: pd.DataFrame, methods: Mapping[str, Any] | None, title: str,
                         out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """A row per AttentionAE-sc variant, a column per series, a line per seed."""
    shown = [m for m in (methods or dict.fromkeys(table["method"])) if m in set(table["method"])]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 1.9 * max(1, len(shown)) + 0.5), layout="constrained")
        axes = fig.subplots(max(1, len(shown)), len(PANELS), squeeze=False, sharex=True)
        for row, method in zip(axes, shown or [None]):
            runs = table[table["method"] == method] if method else table.iloc[:0]
            for ax, (column, label) in zip(row, PANELS):
                for seed, run in runs.groupby("seed"):
                    ax.plot(run["epoch"], run[column], lw=1.2, label=f"seed {seed}")
                ax.set_title(label)
                if column in ("ari", "nmi", "max_q"):
                    ax.set_ylim(0, 1.02)
                elif len(runs):  # whole numbers of clusters, with room around a flat line
                    ax.set_ylim(max(0, runs[column].min() - 1), runs[column].max() + 1)
                    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            name = method_info(methods, method).display_name if method else "no run"
            row[0].set_ylabel(name)
        for ax in axes[-1]:
            ax.set_xlabel("Clustering epoch")
        if shown:
            axes[0][0].legend(frameon=False)
        fig.suptitle(f"{title}: clustering stage (ARI and NMI use the true types, the model "
                     "does not)")
        save_figure(fig, out_png, out_pdf)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser("scbench.clustering_stage", __doc__)
    parser.add_argument("--records", nargs="+", required=True, help="run records record.json")
    parser.add_argument("--methods-order", default="")
    args = parser.parse_args(argv)
    import anndata as ad

    adata = ad.read_h5ad(args.prepared)
    table = stage_table(adata.obs[args.label_key].to_numpy(), args.records)
    with atomic_path(args.out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    order = [m for m in args.methods_order.split(",") if m] or list(dict.fromkeys(table["method"]))
    fig_clustering_stage(table, registry_methods(order, order), Path(args.prepared).stem,
                         args.out_png, args.out_pdf)


if __name__ == "__main__":
    main()
