"""Case study of AttentionAE-sc's clusters on one labelled dataset (paper Fig 6, S9 Fig, S2 Table).

From an AttentionAE-sc run (labels and embedding Z) and the dataset's counts: a UMAP of Z by
cluster and by true type; a heatmap of clusters against true types; Wilcoxon DEGs per cluster
(scanpy ``rank_genes_groups`` on log-normalised counts) with the top genes in a dot plot;
sub-clustering of one cluster with highly variable genes re-selected on its cells (scanpy
pipeline, Leiden); a Venn diagram of the HVGs of all cells and of that cluster; and a table of
DEGs between two clusters. KEGG enrichment needs the network and is left out.

    python -m scbench.case_study PREPARED.h5ad --run RUN_DIR --outdir DIR [--cluster C]
        [--compare A,B] [--seed 0]

writes overview, dotplot and subclusters (.png, .pdf), cluster_vs_type.tsv, markers.tsv,
subclusters.tsv and degs_between.tsv in DIR.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from scbench.aggregate import atomic_write_text
from scbench.figures import (
    STYLE,
    _finite_umap,
    _palette,
    _scatter,
    dot_handles,
    save_figure,
    umap_coords,
)
from scbench.methods._scanpy import (
    PIPELINE_DEFAULTS,
    leiden,
    log_normalize,
    neighbors,
    pca,
    select_hvg,
)
from scbench.runs import run_embedding, run_labels

N_MARKERS = 3  # top DEGs per cluster in the dot plot
SUB_RESOLUTION = 1.0  # Leiden resolution of the sub-clustering (scanpy's default)


def cluster_order(labels: np.ndarray) -> list[str]:
    """Cluster names, largest first (ties by name)."""
    counts = pd.Series(labels).value_counts()
    return sorted(counts.index, key=lambda c: (-counts[c], str(c)))


def contingency(labels: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """Fraction of each cluster's cells per true type (rows sum to 1), clusters largest first,
    types in natural order (2 before 10)."""
    table = pd.crosstab(pd.Series(labels, name="cluster"), pd.Series(truth, name="type"),
                        normalize="index")
    types = sorted(table.columns, key=lambda t: [int(p) if p.isdigit() else p
                                                 for p in re.split(r"(\d+)", str(t))])
    return table.loc[cluster_order(labels), types]


def hvg_sets(counts, cells: np.ndarray, n_top: int) -> tuple[set[str], set[str]]:
    """The ``n_top`` HVGs of all cells and those re-selected on ``cells`` (boolean mask)."""
    every = select_hvg(log_normalize(counts), n_top)
    subset = select_hvg(log_normalize(counts[cells]), n_top)
    return set(every.var_names), set(subset.var_names)


def degs(logged, labels: np.ndarray, group: str, reference: str = "rest") -> pd.DataFrame:
    """Wilcoxon DEGs of ``group`` against ``reference`` (a cluster or 'rest'), all genes."""
    import scanpy as sc

    work = logged.copy()
    work.obs["cluster"] = pd.Categorical(labels)
    sc.tl.rank_genes_groups(work, "cluster", groups=[group], reference=reference,
                            method="wilcoxon", key_added="degs")
    return sc.get.rank_genes_groups_df(work, group=group, key="degs")


def fig_overview(coords: np.ndarray, labels: np.ndarray, truth: np.ndarray,
                 table: pd.DataFrame, title: str, out_png: str | os.PathLike,
                 out_pdf: str | os.PathLike) -> None:
    """UMAP of Z by cluster and by true type, and the cluster x type heatmap."""
    import seaborn as sns

    clusters, types = cluster_order(labels), list(table.columns)
    size = float(np.clip(6000 / len(labels), 0.5, 12))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(13.5, 4.6), layout="constrained")
        axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.15])
        panels = ((axes[0], labels, clusters, "Cluster", "AttentionAE-sc clusters"),
                  (axes[1], truth, types, "True type", "true types"))
        for ax, values, names, name, shown in panels:
            colour = dict(zip(names, _palette(len(names))))
            _scatter(ax, coords, values, colour, size)
            ax.set_title(f"UMAP of Z: {shown}")
            if len(names) <= 20:
                ax.legend(handles=dot_handles(colour, markersize=4), loc="upper left",
                          bbox_to_anchor=(1.0, 1.0), frameon=False, title=name, fontsize=7)
        sns.heatmap(table, ax=axes[2], cmap="Blues", vmin=0, vmax=1, linewidths=0.3,
                    cbar_kws={"label": "Fraction of the cluster's cells"})
        axes[2].set_xlabel("True type")
        axes[2].set_ylabel("Cluster (largest first)")
        axes[2].set_title("Clusters against true types")
        fig.suptitle(title)
        save_figure(fig, out_png, out_pdf)


def fig_subclusters(coords: np.ndarray, sub: np.ndarray, truth: np.ndarray,
                    hvgs: tuple[set[str], set[str]], cluster: str, title: str,
                    out_png: str | os.PathLike, out_pdf: str | os.PathLike) -> None:
    """The chosen cluster's sub-clusters and true types on its own UMAP, and the HVG Venn."""
    every, own = hvgs
    size = float(np.clip(3000 / len(sub), 1, 14))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(12.0, 4.0), layout="constrained")
        axes = fig.subplots(1, 3)
        for ax, values, name in ((axes[0], sub, "sub-cluster"), (axes[1], truth, "true type")):
            names = cluster_order(values)
            colour = dict(zip(names, _palette(len(names))))
            _scatter(ax, coords, values, colour, size)
            ax.set_title(f"Cluster {cluster}: {name} ({len(names)})")
            if len(names) <= 12:
                ax.legend(handles=dot_handles(colour, markersize=4), loc="upper left",
                          bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
        venn = axes[2]
        for x, colour in ((-0.5, "tab:blue"), (0.5, "tab:orange")):
            venn.add_patch(Circle((x, 0), 1.0, alpha=0.35, color=colour, linewidth=0))
        for x, text in ((-0.95, len(every - own)), (0, len(every & own)), (0.95, len(own - every))):
            venn.text(x, 0, str(text), ha="center", va="center", fontsize=10)
        venn.text(-0.5, 1.12, "HVGs, all cells", ha="center", va="bottom")
        venn.text(0.5, -1.12, f"HVGs re-selected\non cluster {cluster}", ha="center", va="top")
        venn.set_xlim(-1.7, 1.7)
        venn.set_ylim(-1.7, 1.5)
        venn.set_aspect("equal")
        venn.set_axis_off()
        fig.suptitle(title)
        save_figure(fig, out_png, out_pdf)


def run_case_study(prepared: str | os.PathLike, run: str | os.PathLike,
                   outdir: str | os.PathLike, cluster: str | None = None,
                   compare: tuple[str, str] | None = None, seed: int = 0,
                   label_key: str = "celltype") -> dict[str, str]:
    """Write the case study's figures and tables to ``outdir``; returns the choices made."""
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(prepared)
    name = Path(prepared).name.removesuffix(".h5ad")
    out = Path(outdir)
    labels = run_labels(run, adata.obs_names)
    embedding = run_embedding(run)
    if labels is None or embedding is None:
        raise ValueError(f"{run}: the case study needs an ok run with labels and an embedding")
    keep = np.array([v is not None for v in labels])  # cells the method assigned
    adata, labels = adata[keep].copy(), labels[keep].astype(str)
    truth = adata.obs[label_key].astype(str).to_numpy()
    order = cluster_order(labels)
    cluster = cluster or order[0]
    compare = compare or (order[0], order[1] if len(order) > 1 else order[0])
    for chosen in (cluster, *compare):
        if chosen not in order:
            raise ValueError(f"no cluster {chosen!r}; clusters: {', '.join(order)}")

    table = contingency(labels, truth)
    atomic_write_text(out / "cluster_vs_type.tsv", table.to_csv(sep="\t", float_format="%.4g"))
    fig_overview(_finite_umap(embedding[keep], seed), labels, truth, table,
                 f"{name}: AttentionAE-sc clusters", out / "overview.png", out / "overview.pdf")

    logged = log_normalize(adata)
    logged.obs["cluster"] = pd.Categorical(labels, categories=order)
    sc.tl.rank_genes_groups(logged, "cluster", method="wilcoxon")
    markers = pd.concat([sc.get.rank_genes_groups_df(logged, group=c).head(N_MARKERS)
                         .assign(cluster=c) for c in order])
    atomic_write_text(out / "markers.tsv", markers.to_csv(sep="\t", index=False,
                                                         float_format="%.4g"))
    dotplot = sc.pl.rank_genes_groups_dotplot(logged, n_genes=N_MARKERS, return_fig=True,
                                              show=False, dendrogram=False)
    dotplot.make_figure()
    for suffix in ("png", "pdf"):
        dotplot.fig.savefig(out / f"dotplot.{suffix}", bbox_inches="tight", dpi=200)

    cells = labels == cluster
    hvgs = hvg_sets(adata, cells, PIPELINE_DEFAULTS["n_top_genes"])
    settings = dict(PIPELINE_DEFAULTS)
    part = pca(adata[cells].copy(), seed=seed, settings=settings)  # HVGs re-selected here
    neighbors(part, seed=seed, settings=settings)
    sub = leiden(part, seed=seed, resolution=SUB_RESOLUTION).astype(str)
    atomic_write_text(out / "subclusters.tsv", pd.DataFrame(
        {"cell": adata.obs_names[cells], "subcluster": sub, "type": truth[cells]}).to_csv(
        sep="\t", index=False))
    fig_subclusters(umap_coords(part.obsm["X_pca"], seed), sub, truth[cells], hvgs, cluster,
                    f"{name}: sub-clustering of cluster {cluster}", out / "subclusters.png",
                    out / "subclusters.pdf")

    between = degs(logged, labels, compare[0], compare[1]).assign(
        cluster=compare[0], reference=compare[1])
    atomic_write_text(out / "degs_between.tsv",
                      between.to_csv(sep="\t", index=False, float_format="%.4g"))
    return {"cluster": cluster, "compare": f"{compare[0]} vs {compare[1]}",
            "n_hvg_shared": str(len(hvgs[0] & hvgs[1])), "n_hvg_cluster": str(len(hvgs[1]))}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scbench.case_study",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("prepared", help="the dataset's prepared .h5ad (true types in obs)")
    parser.add_argument("--run", required=True, help="an AttentionAE-sc run's folder")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--cluster", help="cluster to sub-cluster (default: the largest)")
    parser.add_argument("--compare", help="A,B: DEGs of cluster A against B "
                        "(default: the two largest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-key", default="celltype")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # scanpy's dot plot draws with pyplot
    compare = tuple(args.compare.split(",")) if args.compare else None
    if compare is not None and len(compare) != 2:
        parser.error("--compare takes two clusters, A,B")
    choices = run_case_study(args.prepared, args.run, args.outdir, args.cluster, compare,
                             args.seed, args.label_key)
    print("\n".join(f"{k}: {v}" for k, v in choices.items()))


if __name__ == "__main__":
    main()
