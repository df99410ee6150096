"""Fetch a registered file from a local mirror or its URL, verified and atomic.

A file lands under its final name only after its checksum matched; a failed or
interrupted transfer leaves nothing there.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from scbench.files import atomic_path

CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    """The content of a file does not match its registered hash."""


def file_hashes(path: str | os.PathLike) -> dict[str, str]:
    """sha256 and git blob id (sha1 of ``"blob <size>\\0" + content``) of a file."""
    size = os.path.getsize(path)
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}


def verify(path: str | os.PathLike, expected: Mapping[str, str], source: str) -> None:
    """Raise ``ChecksumError`` naming the source and both hashes when ``path`` differs."""
    wanted = {k: str(v).lower() for k, v in expected.items() if k in ("sha256", "git_blob") and v}
    if not wanted:
        return
    actual = file_hashes(path)
    for kind, value in wanted.items():
        if actual[kind] != value:
            raise ChecksumError(f"checksum mismatch for {source}: expected {kind} {value}, "
                                f"got {actual[kind]}")


def _download(url: str, target: Path, expected: Mapping[str, str], retries: int,
              timeout: float) -> None:
    """Download ``url`` to ``target`` until it matches ``expected``; a broken or truncated
    transfer is retried, a file that keeps failing its checksum raises ``ChecksumError``."""
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(target, "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
            verify(target, expected, url)
            return
        except (OSError, http.client.HTTPException, ChecksumError) as err:
            last_error = err
            if attempt < retries:
                time.sleep(2 ** attempt)
    if isinstance(last_error, ChecksumError):
        raise last_error
    raise RuntimeError(f"download of {url} failed after {retries} attempts: {last_error}")


def fetch(
    entry: Mapping[str, str],
    dest: str | os.PathLike,
    mirror: str | os.PathLike | None = None,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Put the registered file ``entry`` at ``dest``.

    ``entry`` has ``url`` and/or ``mirror_path``, and ``sha256`` and/or ``git_blob``.
    With ``mirror`` set the file is copied from ``mirror / mirror_path`` and the
    network is never used; otherwise it is downloaded from ``url`` with retries.
    """
    dest = Path(dest)
    if mirror:
        if not entry.get("mirror_path"):
            raise FileNotFoundError(f"{dest.name} has no mirror_path in the registry, so it "
                                    f"cannot come from the mirror {mirror}")
        source = Path(mirror) / entry["mirror_path"]
        if not source.is_file():
            raise FileNotFoundError(f"{source} not found in the data mirror {mirror}")
        with atomic_path(dest) as staged:
            shutil.copyfile(source, staged)
            verify(staged, entry, str(source))
        return dest
    if not entry.get("url"):
        raise FileNotFoundError(f"{dest.name} has no url and no data_mirror is set")
    with atomic_path(dest) as staged:
        _download(entry["url"], staged, entry, retries, timeout)
    return dest
