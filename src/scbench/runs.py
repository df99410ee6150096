"""Read the files of one run (``results/runs/{dataset}/{method}/seed{seed}/``) for figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scbench.methods.registry import unassigned_mask


def run_dir(runs: str | os.PathLike, dataset: str, method: str, seed: int) -> Path:
    """The folder of one run under ``runs`` (the workflow's ``results/runs``)."""
    return Path(runs) / dataset / method / f"seed{seed}"


def read_record(folder: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(folder) / "record.json").read_text())


def run_labels(folder: str | os.PathLike, obs_names: pd.Index) -> np.ndarray | None:
    """The run's labels as text in ``obs_names`` order, None for cells the method left
    unassigned; None for a run that is not ok. A cell without a label is an error."""
    record = read_record(folder)
    if record["status"] != "ok":
        return None
    path = Path(folder) / "labels.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).set_index("cell")
    labels = table["label"].reindex(obs_names.astype(str))
    if labels.isna().any():
        raise ValueError(f"{path} lacks {int(labels.isna().sum())} of {len(obs_names)} cells")
    labels = labels.to_numpy(dtype=object)
    labels[unassigned_mask(labels, record.get("extra", {}).get("unassigned_label"))] = None
    return labels


def run_embedding(folder: str | os.PathLike) -> np.ndarray | None:
    """The method's own embedding (cells x dims) of an ok run; None when it has none."""
    record = read_record(folder)
    if record["status"] != "ok" or record.get("embedding") != "method":
        return None
    embedding = np.load(Path(folder) / "embedding.npy")
    return embedding.reshape(len(embedding), -1)
