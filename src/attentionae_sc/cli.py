"""``attentionae-sc INPUT.h5ad --out OUT.h5ad``: cluster one dataset from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import torch

from .api import write_results
from .config import ABLATIONS, VARIANTS, AttentionAEConfig
from .metrics import clustering_scores
from .model import AttentionAESC
from .runtime import atomic_path, check_writable
from .validation import InputError, check_label_key


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attentionae-sc",
        description="Cluster scRNA-seq raw counts with AttentionAE-sc (Li et al. 2023).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="AnnData .h5ad with raw counts (cells x genes)")
    parser.add_argument("--out", type=Path, required=True, help="output .h5ad with the results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layer", help="read counts from this layer instead of X")
    parser.add_argument("--label-key", help="obs column with true labels: report ARI/NMI")
    parser.add_argument("--key-added", default="attentionae_sc", help="obs/obsm/uns key")
    parser.add_argument("--metrics-json", type=Path, help="write scores, timings, memory here")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--variant", default="default", choices=VARIANTS,
                        help="'paper': Leiden start at resolution 1.0 as in the paper; "
                             "'reference': the authors' code where it departs from the paper")
    parser.add_argument("--max-cells", type=int, default=4000,
                        help="train on a random subsample of this many cells, then assign "
                             "all; 0 = all")
    parser.add_argument("--epochs-pretrain", type=int, default=200)
    parser.add_argument("--epochs-cluster", type=int, default=100)
    parser.add_argument("--n-hvg", type=int, default=2500)
    parser.add_argument("--n-neighbors", type=int, default=15)
    parser.add_argument("--graph-method", default="gauss", choices=["gauss", "umap"])
    parser.add_argument("--resolution", type=_resolution,
                        help="Leiden resolution of the clustering start, or 'auto' (the "
                             "silhouette of Z chooses); default: the variant's (auto; paper "
                             "and reference: 1.0)")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--ablation", default="none", choices=ABLATIONS)
    parser.add_argument("--allow-non-integer", action="store_true",
                        help="accept non-integer values (e.g. TPM) with a warning")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _resolution(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None


def _config(args: argparse.Namespace) -> AttentionAEConfig:
    chosen = {} if args.resolution is None else {"resolution": args.resolution}
    return AttentionAEConfig.from_variant(
        args.variant,
        **chosen,
        max_cells=args.max_cells or None,
        epochs_pretrain=args.epochs_pretrain,
        epochs_cluster=args.epochs_cluster,
        n_hvg=args.n_hvg,
        n_neighbors=args.n_neighbors,
        graph_method=args.graph_method,
        heads=args.heads,
        ablation=args.ablation,
    )


def _read(path: Path) -> ad.AnnData:
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        return ad.read_h5ad(path)
    except Exception as error:  # h5py/anndata raise many types for corrupt files
        raise InputError(
            f"cannot read {path} as .h5ad ({type(error).__name__}: {error})") from error


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Validate everything cheap first, train, then write outputs atomically."""
    if args.threads is not None and args.threads < 1:
        raise InputError(f"invalid option: --threads must be >= 1, got {args.threads}")
    if args.label_key and args.label_key == args.key_added:
        raise InputError(f"--key-added {args.key_added!r} would overwrite the true labels in "
                         f"--label-key; choose another name")
    try:
        model = AttentionAESC(_config(args), seed=args.seed, device=args.device,
                              progress=False if args.no_progress else None)
    except (ValueError, RuntimeError) as error:  # an option out of range, CUDA not available
        raise InputError(f"invalid option: {error}") from error
    for path in (args.out, args.metrics_json):
        if path is not None:
            check_writable(path)
    adata = _read(args.input)
    if args.label_key:
        check_label_key(adata, args.label_key)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model.fit(adata, layer=args.layer, allow_non_integer=args.allow_non_integer)
    write_results(adata, model, args.key_added)
    info = adata.uns[args.key_added]
    scores = clustering_scores(
        adata.obs[args.key_added].to_numpy(),
        true_labels=adata.obs[args.label_key].to_numpy() if args.label_key else None,
        embedding=adata.obsm[f"X_{args.key_added}"],
    )
    record = {
        **scores,
        "n_cells": adata.n_obs,
        "n_training_cells": info["n_training_cells"],
        "initial_n_clusters": info["initial_n_clusters"],
        "init_graph": info["init_graph"],
        "start_resolution": info["start_resolution"],
        "epochs_pretrain_run": info["epochs_pretrain_run"],
        "epochs_cluster_run": info["epochs_cluster_run"],
        **info["timings"],
        **info["memory"],
        "device": str(model.device),
        "seed": args.seed,
        "variant": args.variant,
        "ablation": args.ablation,
    }
    with atomic_path(args.out) as tmp:
        adata.write_h5ad(tmp)
    if args.metrics_json:
        with atomic_path(args.metrics_json) as tmp:
            tmp.write_text(json.dumps(_json_ready(record), indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # On a terminal the progress bar shows; elsewhere (a log file) a line every 10 epochs does.
    logger = logging.getLogger("attentionae_sc")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.WARNING if sys.stderr.isatty() and not args.no_progress
                     else logging.INFO)
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        record = run(args)
    except (InputError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        print(f"attentionae-sc: error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:  # a NaN/Inf loss: nothing was written
        print(f"attentionae-sc: error: training failed: {error}; no output was written",
              file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    summary = ", ".join(f"{k}={record[k]:.3f}" for k in ("ari", "nmi", "asw", "db")
                        if not math.isnan(record[k]))
    left_out = record["n_cells"] - record["n_cells_scored"]
    scored = (f" (ARI/NMI on the {int(record['n_cells_scored'])} cells with a label; "
              f"{int(left_out)} without one left out)" if args.label_key and left_out else "")
    print(f"attentionae-sc: {int(record['n_clusters'])} clusters"
          f"{', ' + summary if summary else ''}{scored}; {record['total_s']:.1f} s; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
