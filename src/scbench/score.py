"""Score one method run against the true labels.

ARI and NMI compare the predicted with the true labels. Silhouette and
Davies-Bouldin are computed on the method's own embedding, or on the shared PCA of
the dataset for methods without one: the run record's ``embedding`` decides, and a file that
disagrees with it is an error (``embedding_source`` says which was used).
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


def _embedding(record: dict[str, Any], path: str | Path, pca: str | Path,
               n_cells: int) -> tuple[np.ndarray, str]:
    """The embedding to score on and where it came from, as the run record says: the method's
    (``record["embedding"] == "method"``) or, for a method without one, the shared PCA."""
    source = record.get("embedding")
    if source not in ("method", None):
        raise ValueError(f"run record: unknown embedding {source!r} (expected 'method' or null)")
    embedding = np.load(path)
    columns = embedding.shape[1] if embedding.ndim == 2 else None
    if source == "method" and (embedding.shape[0] != n_cells or not columns):
        raise ValueError(f"{path}: the run record names the method's embedding, but the file "
                         f"holds an array of shape {embedding.shape} for {n_cells} cells")
    if source is None and columns != 0:
        raise ValueError(f"{path}: the run record says the method has no embedding, but the "
                         f"file holds an array of shape {embedding.shape}")
    return (embedding, "method") if source == "method" else (np.load(pca), "pca")


def score_run(record: str | Path, labels: str | Path, embedding: str | Path,
              prepared: str | Path, pca: str | Path) -> dict[str, Any]:
    """The score record of one run (``record.json``, ``labels.tsv`` and ``embedding.npy`` of
    ``scbench.methods.run``): the run record plus the scores."""
    record = json.loads(Path(record).read_text())
    scores: dict[str, Any] = dict.fromkeys(SCORE_KEYS)
    scores["embedding_source"] = None
    if record["status"] == "ok":
        truth = ad.read_h5ad(prepared, backed="r").obs[LABEL_KEY]  # labels only, not counts
        # as text: cell names such as "0" or "NA" and labels must not be parsed
        predicted = pd.read_csv(labels, sep="\t", dtype=str,
                                keep_default_na=False).set_index("cell")["label"]
        predicted = predicted.reindex(truth.index.astype(str))
        if predicted.isna().any():
            raise ValueError(f"{labels} lacks {int(predicted.isna().sum())} of the "
                             f"dataset's {len(truth)} cells")
        predicted = predicted.to_numpy(dtype=object)
        sentinel = record.get("extra", {}).get("unassigned_label")
        predicted[unassigned_mask(predicted, sentinel)] = None
        rep, source = _embedding(record, embedding, pca, len(truth))
        values = clustering_scores(predicted, true_labels=truth.to_numpy(), embedding=rep)
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
    run_cmd = sub.add_parser("run", help="score one run (the files scbench.methods.run wrote)")
    run_cmd.add_argument("--record", required=True, help="the run's record.json")
    run_cmd.add_argument("--labels", required=True, help="the run's labels.tsv")
    run_cmd.add_argument("--embedding", required=True, help="the run's embedding.npy")
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
    record = {"dataset": args.dataset, **score_run(args.record, args.labels, args.embedding,
                                                   args.prepared, args.pca)}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
