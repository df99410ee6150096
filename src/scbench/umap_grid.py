"""UMAP grid of one dataset (paper Fig 3B / S3 Fig): AttentionAE-sc and community detection.

Columns: AttentionAE-sc and up to four community-detection methods of the config, each on a
UMAP of its own embedding (the shared PCA for a method without one, as the panel says); rows:
the true types, then the method's clusters, coloured by their majority type as in
``scbench.figures.fig_umaps``.

    python -m scbench.umap_grid PREPARED.h5ad --pca PCA.npy --runs results/runs --seed 0 \
        --methods a,b --out-png F.png --out-pdf F.pdf
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from scbench.aggregate import method_info, registry_methods
from scbench.figures import (
    STYLE,
    UNASSIGNED_COLOUR,
    _finite_umap,
    _palette,
    _scatter,
    cluster_colour_slots,
    dot_handles,
    figure_parser,
    save_figure,
    umap_coords,
)
from scbench.runs import run_dir, run_embedding, run_labels

#: Community-detection methods, in the order they fill the grid's columns after AttentionAE-sc.
COMMUNITY = ("leiden", "louvain", "seurat", "phenograph", "desc")
FIRST = "attentionae_sc"


def grid_methods(configured: Sequence[str], n_community: int = 4) -> list[str]:
    """AttentionAE-sc (when configured) and the first ``n_community`` configured methods of
    :data:`COMMUNITY`."""
    community = [m for m in COMMUNITY if m in configured][:n_community]
    return ([FIRST] if FIRST in configured else []) + community


def fig_umap_grid(adata, columns: Sequence[tuple[str, np.ndarray | None, np.ndarray | None]],
                  pca: np.ndarray, title: str, out_png: str | os.PathLike,
                  out_pdf: str | os.PathLike, seed: int = 0, label_key: str = "celltype") -> None:
    """``columns``: (method, labels with None for unassigned cells or None for a run without
    labels, embedding or None). Row 1: true types; row 2: clusters."""
    truth = adata.obs[label_key].astype(str).to_numpy()
    types = sorted(set(truth), key=lambda t: [int(p) if p.isdigit() else p
                                              for p in re.split(r"(\d+)", t)])
    size = float(np.clip(6000 / adata.n_obs, 0.5, 12))
    slots = {m: cluster_colour_slots(lab[lab != None], truth[lab != None], types)  # noqa: E711
             for m, lab, _ in columns if lab is not None}
    colours = _palette(max([len(types)] + [max(s.values()) + 1 for s in slots.values() if s]))
    type_colour = dict(zip(types, colours))
    shared: list[np.ndarray] = []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(2.5 * max(1, len(columns)) + 1.6, 5.6), layout="constrained")
        axes = fig.subplots(2, max(1, len(columns)), squeeze=False)
        for (top, bottom), (method, labels, embedding) in zip(axes.T, columns):
            name = method_info(registry_methods([method], [method]), method).display_name
            if embedding is not None:
                coords, where = _finite_umap(embedding, seed), "own embedding"
            else:
                if not shared:
                    shared.append(umap_coords(pca, seed))
                coords, where = shared[0], "shared PCA"
            _scatter(top, coords, truth, type_colour, size)
            top.set_title(f"{name}\n(UMAP of {where})")
            if labels is None:
                bottom.text(0.5, 0.5, "no labels\n(run not ok)", ha="center", va="center",
                            transform=bottom.transAxes)
                bottom.set_axis_off()
                continue
            done = np.array([v is not None for v in labels])
            _scatter(bottom, coords[done], labels[done],
                     {c: colours[s] for c, s in slots[method].items()}, size)
            bottom.scatter(*coords[~done].T, s=size, color=UNASSIGNED_COLOUR, linewidths=0)
            bottom.set_title(f"{len(slots[method])} clusters"
                             + (f", {int((~done).sum())} unassigned" if not done.all() else ""))
        axes[0][0].set_ylabel("True types")
        axes[1][0].set_ylabel("Predicted clusters")
        if len(types) <= 20:
            fig.legend(handles=dot_handles(type_colour), loc="outside right upper",
                       frameon=False, title="True type")
        fig.suptitle(title)
        save_figure(fig, out_png, out_pdf)


def main(argv: Sequence[str] | None = None) -> None:
    parser = figure_parser("scbench.umap_grid", __doc__, out_tsv=False)
    parser.add_argument("--pca", required=True, help="the dataset's shared PCA (.npy)")
    parser.add_argument("--runs", required=True, help="the runs' folder (results/runs)")
    parser.add_argument("--seed", type=int, required=True, help="the seed of the runs shown")
    parser.add_argument("--methods", required=True, help="comma-separated configured methods")
    args = parser.parse_args(argv)
    import anndata as ad

    adata = ad.read_h5ad(args.prepared)
    dataset = Path(args.prepared).name.removesuffix(".h5ad")
    columns = []
    for method in grid_methods(args.methods.split(",")):
        folder = run_dir(args.runs, dataset, method, args.seed)
        columns.append((method, run_labels(folder, adata.obs_names), run_embedding(folder)))
    fig_umap_grid(adata, columns, np.load(args.pca), f"{dataset}, seed {args.seed}",
                  args.out_png, args.out_pdf, args.seed, args.label_key)


if __name__ == "__main__":
    main()
