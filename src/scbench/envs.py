"""Per-method virtual environments built from pinned pip requirement files.

    python -m scbench.envs build ENV PREFIX      # venv at PREFIX from envs/pip/ENV.txt
    python -m scbench.envs python ENV ROOT      # print the interpreter for ENV under ROOT
    python -m scbench.envs hash ENV             # print the requirements hash
    python -m scbench.envs list                 # print the envs that runnable methods use

``build`` creates a venv at PREFIX with the interpreter running this command, then
``pip install -r envs/pip/ENV.txt``; then ``pip install --no-deps -r envs/pip/ENV.nodeps.txt``
when that file exists (packages whose metadata cannot be resolved, e.g. desc 2.1.1); then
``pip install --no-deps -e <repo root>`` so ``python -m scbench.methods.run`` works there. Last it
writes ``PREFIX/ready`` (atomically) holding the sha256 of the requirement file(s). A PREFIX whose
``ready`` matches is left alone; a stale or half-built one is deleted and rebuilt. The workflow
uses ``resources/envs/{env}/ready`` as the rule output, so a change of pins rebuilds the env.

``main`` is the project environment itself (the interpreter running the workflow); it is never
built here. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN = "main"
READY = "ready"


def repo_root() -> Path:
    """The repository holding this package (``src/scbench/envs.py`` -> repo)."""
    return Path(__file__).resolve().parents[2]


def requirement_files(env: str, root: Path | None = None) -> list[Path]:
    """``envs/pip/ENV.txt`` and, when present, ``envs/pip/ENV.nodeps.txt``."""
    pip_dir = (root or repo_root()) / "envs" / "pip"
    main = pip_dir / f"{env}.txt"
    if not main.is_file():
        known = sorted(p.stem for p in pip_dir.glob("*.txt") if not p.stem.endswith(".nodeps"))
        raise FileNotFoundError(f"no requirement file {main} for env {env!r}; known: {known}")
    nodeps = pip_dir / f"{env}.nodeps.txt"
    return [main, nodeps] if nodeps.is_file() else [main]


def requirements_hash(env: str, root: Path | None = None) -> str:
    """sha256 over the requirement file(s) of ``env`` (the content of ``PREFIX/ready``)."""
    digest = hashlib.sha256()
    for path in requirement_files(env, root):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def python_for(env: str, prefix_root: str | os.PathLike) -> str:
    """The interpreter to run methods of ``env``: ``sys.executable`` for ``main``."""
    if env == MAIN:
        return sys.executable
    return str(Path(prefix_root) / env / "bin" / "python")


def is_ready(env: str, prefix: str | os.PathLike, root: Path | None = None) -> bool:
    ready = Path(prefix) / READY
    return ready.is_file() and ready.read_text().strip() == requirements_hash(env, root)


def run_env(method: str) -> str:
    """The environment ``method``'s runs use: its own, or ``main`` for methods that are
    registered but unavailable (the runner only records why)."""
    from scbench.methods.registry import get

    spec = get(method)
    return MAIN if spec.unavailable else spec.env


def runnable_envs() -> list[str]:
    """The environments, other than ``main``, that the registered methods run in."""
    from scbench.methods.registry import METHODS

    return sorted({run_env(name) for name in METHODS} - {MAIN})


def _pip(python: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


@contextlib.contextmanager
def _editable_lock(root: Path):
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"scbench-editable-{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(env: str, prefix: str | os.PathLike, *, root: Path | None = None,
          python: str | None = None) -> bool:
    """Build ``env`` at ``prefix`` unless already ready; returns True when it (re)built."""
    if env == MAIN:
        raise ValueError("env 'main' is the project environment; it is not built here")
    root = root or repo_root()
    prefix = Path(prefix).absolute()
    files = requirement_files(env, root)
    wanted = requirements_hash(env, root)
    if is_ready(env, prefix, root):
        print(f"scbench.envs: {env} at {prefix} is up to date", file=sys.stderr)
        return False
    if prefix.exists():
        if any(prefix.iterdir()) and not (prefix / "pyvenv.cfg").is_file():
            raise FileExistsError(f"{prefix} exists and is not a venv; not touching it")
        shutil.rmtree(prefix)
    start = time.perf_counter()
    subprocess.run([python or sys.executable, "-m", "venv", str(prefix)], check=True)
    venv_python = prefix / "bin" / "python"
    _pip(venv_python, "-r", str(files[0]))
    if len(files) > 1:
        _pip(venv_python, "--no-deps", "-r", str(files[1]))
    with _editable_lock(root):  # parallel builds would write the same src/*.egg-info
        _pip(venv_python, "--no-deps", "-e", str(root))
    handle, tmp = tempfile.mkstemp(prefix=".ready.", dir=prefix)
    with os.fdopen(handle, "w") as out:
        out.write(wanted + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, prefix / READY)
    print(f"scbench.envs: built {env} at {prefix} in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scbench.envs",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="create/refresh the venv of ENV at PREFIX")
    p_build.add_argument("env")
    p_build.add_argument("prefix")
    p_build.add_argument("--python", help="base interpreter for the venv (default: this one)")
    p_python = sub.add_parser("python", help="print the interpreter of ENV under ROOT")
    p_python.add_argument("env")
    p_python.add_argument("root")
    p_hash = sub.add_parser("hash", help="print the requirements hash of ENV")
    p_hash.add_argument("env")
    sub.add_parser("list", help="print the envs of the runnable methods, one per line")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.env, args.prefix, python=args.python)
        elif args.command == "python":
            print(python_for(args.env, args.root))
        elif args.command == "list":
            print("\n".join(runnable_envs()))
        else:
            print(requirements_hash(args.env))
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"scbench.envs: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"scbench.envs: build of {args.env} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
