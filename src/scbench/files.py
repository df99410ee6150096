"""Atomic file writes (standard library only: method environments import this too)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path`` (same suffix); rename it onto ``path``
    only when the block succeeds. A failure leaves ``path`` absent or as it was before."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}",
                                   dir=final.parent)
    os.close(handle)
    staged = Path(tmp)
    try:
        yield staged
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(staged, final)
    finally:
        staged.unlink(missing_ok=True)
