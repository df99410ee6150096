"""Seeding, device choice, memory measurement and atomic file writes."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; asking for CUDA without one is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return resolved


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def peak_gpu_mb(device: torch.device) -> float | None:
    """Peak memory allocated by torch on a CUDA device since the last reset, in MiB."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 1024**2


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A crash leaves the final name untouched (absent or the previous version), never half-written.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> None:
    """Raise ``PermissionError`` now, rather than after training, if ``path`` cannot be written.

    Creates nothing: missing parent directories are checked through their nearest existing
    ancestor, and :func:`atomic_path` creates them when the output is written.
    """
    final = Path(path)
    if final.is_dir():
        raise IsADirectoryError(f"output path {final} is a directory")
    existing = final.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a directory")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".attentionae-sc.",
                                         suffix=".probe"):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write output {final}: {error}") from error
