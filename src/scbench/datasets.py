"""Dataset registry, user datasets and the standard prepared ``.h5ad``.

Three kinds of dataset share one prepared form (raw counts in ``X``, labels in
``obs["celltype"]``, provenance in ``uns["scbench"]``):

- registry datasets (``config/datasets.yaml``): files downloaded or mirrored, checksummed;
- custom datasets (config ``custom_datasets``): a local ``path`` (checksum optional);
- simulated datasets (config ``simulations``): generated from a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import yaml

from attentionae_sc.runtime import atomic_path
from attentionae_sc.simulation import simulate_counts
from attentionae_sc.validation import InputError, check_counts
from scbench.download import fetch, verify
from scbench.readers import LABEL_KEY, read

MIN_CELLS = 50


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where its files come from and how to read them."""

    name: str
    kind: str  # "registry" | "custom" | "simulated"
    format: str
    label_key: str = LABEL_KEY
    files: tuple[dict, ...] = ()
    counts: bool = True
    unavailable: str | None = None
    simulate: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The spec as JSON, the form the ``prepare`` CLI takes."""
        return json.dumps(asdict(self), sort_keys=True, default=str)


def load_registry(path: str | Path) -> dict[str, dict]:
    """The dataset registry YAML as a mapping name -> entry."""
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _custom_files(name: str, entry: Mapping[str, Any]) -> tuple[dict, ...]:
    paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
    checksums = entry.get("sha256") or [None] * len(paths)
    checksums = checksums if isinstance(checksums, list) else [checksums]
    if len(checksums) != len(paths):
        raise InputError(f"custom dataset {name!r}: {len(paths)} paths but {len(checksums)} sha256")
    return tuple({"name": Path(p).name, "path": str(p), "sha256": s}
                 for p, s in zip(paths, checksums))


def resolve(name: str, registry: Mapping[str, dict], config: Mapping[str, Any]) -> DatasetSpec:
    """The spec of dataset ``name`` from the config's simulations, custom datasets or registry."""
    simulations = config.get("simulations") or {}
    custom = config.get("custom_datasets") or {}
    if name in simulations:
        return DatasetSpec(name, "simulated", "simulated", simulate=dict(simulations[name]))
    if name in custom:
        entry = custom[name]
        return DatasetSpec(name, "custom", entry["format"], entry.get("label_key", LABEL_KEY),
                           _custom_files(name, entry), bool(entry.get("counts", True)),
                           info={k: v for k, v in entry.items() if k not in ("path", "sha256")})
    if name in registry:
        entry = registry[name]
        return DatasetSpec(name, "registry", entry["format"], entry.get("label_key", LABEL_KEY),
                           tuple(entry.get("files") or ()), bool(entry.get("counts", True)),
                           entry.get("unavailable"),
                           info={k: v for k, v in entry.items() if k != "files"})
    known = sorted({*simulations, *custom, *registry})
    raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(known)}")


def check_prepared(adata: ad.AnnData, name: str, counts: bool = True) -> None:
    """Raise ``InputError`` unless ``adata`` is usable as a benchmark dataset."""
    if adata.n_obs < MIN_CELLS:
        raise InputError(f"dataset {name!r} has {adata.n_obs} cells; at least {MIN_CELLS} needed")
    if LABEL_KEY not in adata.obs:
        raise InputError(f"dataset {name!r} has no obs[{LABEL_KEY!r}] labels")
    if adata.obs[LABEL_KEY].isna().any():
        raise InputError(f"dataset {name!r}: {int(adata.obs[LABEL_KEY].isna().sum())} cells "
                         "have no label")
    check_counts(adata.X, allow_non_integer=not counts, what=f"dataset {name!r}")
    if np.asarray(adata.X.sum(axis=1)).ravel().max(initial=0) == 0:
        raise InputError(f"dataset {name!r}: every cell has zero counts")


def prepare(spec: DatasetSpec, raw_files: Sequence[str | Path], out: str | Path) -> ad.AnnData:
    """Read, check and write the standard prepared ``.h5ad`` for ``spec``."""
    if spec.kind == "simulated":
        adata = simulate_counts(**spec.simulate)
        provenance: dict[str, Any] = {"simulation": spec.simulate}
    else:
        if spec.kind == "custom":
            for entry, path in zip(spec.files, raw_files):
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
    fetch_cmd.add_argument("--mirror", default="")
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
