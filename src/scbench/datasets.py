"""Fetch and prepare datasets into the standard ``.h5ad``.

Registry, custom and simulated datasets (see :mod:`scbench.catalog`) share one prepared
form: raw counts in ``X``, labels in ``obs["celltype"]``, provenance in ``uns["scbench"]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from attentionae_sc.simulation import simulate_counts
from attentionae_sc.validation import InputError, check_counts
from scbench.catalog import LABEL_KEY, DatasetSpec
from scbench.download import fetch, verify
from scbench.files import atomic_path
from scbench.readers import read

MIN_CELLS = 50
MIN_GENES = 2  # genes with any counts
MIN_TYPES = 2


def check_prepared(adata: ad.AnnData, name: str, counts: bool = True) -> None:
    """Raise ``InputError`` unless ``adata`` is usable as a benchmark dataset."""
    if adata.n_obs < MIN_CELLS:
        raise InputError(f"dataset {name!r} has {adata.n_obs} cells; at least {MIN_CELLS} needed")
    if LABEL_KEY not in adata.obs:
        raise InputError(f"dataset {name!r} has no obs[{LABEL_KEY!r}] labels")
    if adata.obs[LABEL_KEY].isna().any():
        raise InputError(f"dataset {name!r}: {int(adata.obs[LABEL_KEY].isna().sum())} cells "
                         "have no label")
    n_types = adata.obs[LABEL_KEY].nunique()
    if n_types < MIN_TYPES:
        raise InputError(f"dataset {name!r} has {n_types} cell type(s); at least {MIN_TYPES} "
                         "needed (is the label key a constant column, e.g. a batch?)")
    check_counts(adata.X, allow_non_integer=not counts, what=f"dataset {name!r}")
    if np.asarray(adata.X.sum(axis=1)).ravel().max(initial=0) == 0:
        raise InputError(f"dataset {name!r}: every cell has zero counts")
    n_genes = int((np.asarray(adata.X.sum(axis=0)).ravel() > 0).sum())
    if n_genes < MIN_GENES:
        raise InputError(f"dataset {name!r} has {n_genes} gene(s) with counts; at least "
                         f"{MIN_GENES} needed")


def prepare(spec: DatasetSpec, raw_files: Sequence[str | Path], out: str | Path) -> ad.AnnData:
    """Read, check and write the standard prepared ``.h5ad`` for ``spec``."""
    if spec.kind == "simulated":
        adata = simulate_counts(**spec.simulate)
        provenance: dict[str, Any] = {"simulation": spec.simulate}
    else:
        for entry, path in zip(spec.files, raw_files):  # a file replaced since it was fetched
            verify(path, entry, str(path))
        adata = read(spec.format, raw_files, spec.label_key)
        provenance = {"files": [Path(p).name for p in raw_files],
                      "sources": [f.get("url") or f.get("path") or "" for f in spec.files],
                      "sha256": [f.get("sha256") or "" for f in spec.files],
                      "git_blob": [f.get("git_blob") or "" for f in spec.files],
                      "format": spec.format, "label_key": spec.label_key}
    check_prepared(adata, spec.name, spec.counts)
    adata.uns["scbench"] = {"dataset": spec.name, "kind": spec.kind, "counts": spec.counts,
                            "n_types": int(adata.obs[LABEL_KEY].nunique()), **provenance}
    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    return adata


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m scbench.datasets fetch|prepare ...`` (used by the workflow rules)."""
    parser = argparse.ArgumentParser(prog="python -m scbench.datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = sub.add_parser("fetch", help="download or mirror one registered file")
    fetch_cmd.add_argument("--entry", required=True, help="the registry's file entry, as JSON")
    fetch_cmd.add_argument("--out", required=True)
    fetch_cmd.add_argument("--mirror", default=os.environ.get("SCBENCH_DATA_MIRROR", ""),
                           help="local mirror directory (default: $SCBENCH_DATA_MIRROR)")
    fetch_cmd.add_argument("--retries", type=int, default=3)
    prep_cmd = sub.add_parser("prepare", help="write the standard prepared .h5ad")
    prep_cmd.add_argument("--spec", required=True, help="the DatasetSpec, as JSON")
    prep_cmd.add_argument("--raw", nargs="*", default=[], help="raw files in registry order")
    prep_cmd.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(json.loads(args.entry), args.out, args.mirror or None, retries=args.retries)
        else:
            spec = DatasetSpec(**json.loads(args.spec))
            adata = prepare(spec, args.raw, args.out)
            print(f"{spec.name}: {adata.n_obs} cells x {adata.n_vars} genes, "
                  f"{adata.uns['scbench']['n_types']} types -> {args.out}")
    except (InputError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"scbench: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
