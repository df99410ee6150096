"""Score one method run against the true labels.

ARI and NMI compare the predicted with the true labels. Silhouette and
Davies-Bouldin are computed on the method's own embedding, or on the shared PCA of
the dataset for methods without one (``embedding_source`` says which).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from attentionae_sc.metrics import clustering_scores
from scbench.catalog import LABEL_KEY
from scbench.files import atomic_path
from scbench.methods.registry import unassigned_mask

SCORE_KEYS = ("ari", "nmi", "asw", "db", "n_clusters", "n_unassigned")


def shared_pca(adata: ad.AnnData, n_hvg: int = 2500, n_pcs: int = 50, seed: int = 0) -> np.ndarray:
    """The standard scanpy PCA of raw counts: normalise, log1p, HVGs, scale, PCA."""
    import scanpy as sc  # here, not at the top: scoring a run does not need scanpy

    work = ad.AnnData(adata.X.copy())
    sc.pp.filter_genes(work, min_cells=1)
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    sc.pp.highly_variable_genes(work, n_top_genes=min(n_hvg, work.n_vars), subset=True)
    sc.pp.scale(work, max_value=10)
    n_comps = min(n_pcs, work.n_obs - 1, work.n_vars - 1)
    sc.tl.pca(work, n_comps=n_comps, random_state=seed)
    return np.asarray(work.obsm["X_pca"], dtype=np.float32)


def score_run(run_dir: str | Path, prepared: str | Path, pca: str | Path) -> dict[str, Any]:
    """The score record of the run in ``run_dir`` (its ``record.json`` plus the scores)."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "record.json").read_text())
    scores: dict[str, Any] = dict.fromkeys(SCORE_KEYS)
    scores["embedding_source"] = None
    if record["status"] == "ok":
        truth = ad.read_h5ad(prepared, backed="r").obs[LABEL_KEY]  # labels only, not counts
        # as text: cell names such as "0" or "NA" and labels must not be parsed
        labels = pd.read_csv(run_dir / "labels.tsv", sep="\t", dtype=str,
                             keep_default_na=False).set_index("cell")["label"]
        labels = labels.reindex(truth.index.astype(str))
        if labels.isna().any():
            raise ValueError(f"{run_dir}/labels.tsv lacks {int(labels.isna().sum())} of the "
                             f"dataset's {len(truth)} cells")
        labels = labels.to_numpy(dtype=object)
        labels[unassigned_mask(labels, record.get("extra", {}).get("unassigned_label"))] = None
        embedding_file = run_dir / "embedding.npy"
        source = "method" if embedding_file.is_file() else "pca"
        embedding = np.load(embedding_file if source == "method" else pca)
        values = clustering_scores(labels, true_labels=truth.to_numpy(), embedding=embedding)
        scores.update({k: values[k] for k in SCORE_KEYS}, embedding_source=source)
        for key in ("n_clusters", "n_unassigned"):
            scores[key] = int(values[key])
    merged = {**record, **scores}
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in merged.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m scbench.score pca|run ...``."""
    parser = argparse.ArgumentParser(prog="python -m scbench.score")
    sub = parser.add_subparsers(dest="command", required=True)
    pca_cmd = sub.add_parser("pca", help="shared PCA of a prepared dataset")
    pca_cmd.add_argument("prepared")
    pca_cmd.add_argument("--out", required=True)
    run_cmd = sub.add_parser("run", help="score one run directory")
    run_cmd.add_argument("run_dir")
    run_cmd.add_argument("--prepared", required=True)
    run_cmd.add_argument("--pca", required=True)
    run_cmd.add_argument("--dataset", required=True)
    run_cmd.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "pca":
        embedding = shared_pca(ad.read_h5ad(args.prepared))
        with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
            np.save(handle, embedding)
        return 0
    record = {"dataset": args.dataset, **score_run(args.run_dir, args.prepared, args.pca)}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
