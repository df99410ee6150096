"""Where datasets come from: the registry, user datasets and simulations (no heavy imports).

The workflow reads this at start-up to build its DAG, so it only needs the standard
library and PyYAML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

LABEL_KEY = "celltype"


class ConfigError(ValueError):
    """A dataset entry of the config or registry cannot be used as given."""


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
        raise ConfigError(
            f"custom dataset {name!r}: {len(paths)} paths but {len(checksums)} sha256")
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
