"""Run one clustering method on one prepared dataset and write its run record.

    python -m scbench.methods.run --method M --input prepared.h5ad --seed S --outdir DIR \
        --threads T [--device auto|cpu|cuda] [--params JSON]

Writes into DIR, always, ``labels.tsv`` (columns ``cell``, ``label``; only the header when the
run is not ``ok``), ``embedding.npy`` (the method's embedding; a float32 array without columns
when it has none or the run is not ``ok``; ``record["embedding"]`` says which) and, last and
atomically, ``record.json``. A method that raises or breaks the output
contract gives ``status="failed"``; a method that cannot run here (not implemented, dependency or
environment missing) gives ``status="unavailable"``; both exit 0 so the workflow goes on. Only usage
errors (unknown method, unreadable input, bad ``--params``) exit non-zero. ``--crashed CODE`` runs
nothing and records a failed run whose process died with CODE (the workflow's
``run_method.sh`` uses it after the last attempt of a killed run; 124 means stopped at the time
limit).

This module runs inside every method environment, old ones included (numpy<2, anndata<0.11):
at module level it imports the standard library only; numpy/pandas/anndata are imported after the
thread environment variables are set.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import platform
import random
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..files import atomic_path
from . import registry

LABELS = "labels.tsv"
EMBEDDING = "embedding.npy"
RECORD = "record.json"

THREAD_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)

# Distributions whose versions are recorded when their import name was loaded by the run.
TRACKED = {
    "numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "anndata": "anndata",
    "h5py": "h5py", "scanpy": "scanpy", "scikit-learn": "sklearn", "igraph": "igraph",
    "leidenalg": "leidenalg", "louvain": "louvain", "torch": "torch", "lightning": "lightning",
    "scvi-tools": "scvi", "jax": "jax", "phenograph": "phenograph", "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow", "keras": "keras", "desc": "desc", "sc3s": "sc3s",
    "attentionae-sc": "attentionae_sc",
}


class UsageError(Exception):
    """Bad invocation: reported on stderr with a non-zero exit, no record written."""


class ContractError(Exception):
    """The method's output breaks the contract (a ``failed`` run)."""


class Unavailable(Exception):
    """The method cannot run in this environment (an ``unavailable`` run)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scbench.methods.run",
        description="Run one clustering method on a prepared .h5ad and write labels + run record.",
    )
    parser.add_argument("--method", required=True, help="registry name, e.g. leiden")
    parser.add_argument("--input", required=True, help="prepared .h5ad (raw counts in X)")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--params", default="{}", help="JSON object of method parameters")
    parser.add_argument("--crashed", type=int, metavar="EXIT_CODE",
                        help="do not run: record that the run's process died with EXIT_CODE "
                             "(the workflow's fallback for kills, e.g. out of memory)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def set_thread_env(threads: int) -> None:
    """Thread caps for BLAS/OpenMP/numba/TF; effective for libraries loaded after this call."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def seed_all(seed: int, threads: int) -> None:
    """Seed python and numpy, and torch when the method loaded it (and cap its threads)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only settable once, before any parallel work
            pass


def resolve_device(requested: str, spec: registry.MethodSpec) -> str:
    """``cpu`` for CPU-only methods; for GPU-capable ones ``auto`` is CUDA when torch sees one."""
    if not spec.gpu:
        return "cpu"
    torch = sys.modules.get("torch")
    has_cuda = bool(torch is not None and torch.cuda.is_available())
    if requested == "cuda" and not has_cuda:
        raise RuntimeError(f"--device cuda requested for {spec.name} but no CUDA device is visible")
    if requested == "cpu":
        return "cpu"
    return "cuda" if has_cuda else "cpu"


def peak_rss_mb() -> float:
    """Peak RSS of this process or of its largest finished child (e.g. Rscript), in MiB."""
    scale = 1024**2 if sys.platform == "darwin" else 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / scale, 1)


def versions(extra: dict | None = None) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist, module in TRACKED.items():
        if module in sys.modules:
            try:
                found[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    if extra:
        found.update({str(k): str(v) for k, v in extra.items()})
    return found


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and other objects into JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    return str(value)


def write_atomic(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path``; never leaves a half-written ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def read_input(path: str):
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    if not os.path.isfile(path):
        raise UsageError(f"input file {path!r} does not exist")
    try:
        adata = ad.read_h5ad(path)
    except Exception as error:  # noqa: BLE001 - any reader failure is a usage error
        raise UsageError(f"cannot read input {path!r}: {type(error).__name__}: {error}") from error
    if not adata.obs_names.is_unique:
        raise UsageError(f"input {path!r} has duplicated obs_names")
    if not (sp.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32):
        adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return adata


def load_method(spec: registry.MethodSpec):
    """Import the method's module; a missing dependency or environment means ``unavailable``.

    Method modules import their heavy packages inside ``run``; they list them in ``REQUIRES``
    (checked here with ``find_spec``, without importing) and may define ``check_available()``
    returning a reason (e.g. Seurat: Rscript missing).
    """
    if spec.unavailable:
        raise Unavailable(spec.unavailable)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as error:
        where = "the project environment" if spec.env == "main" else (
            f"its environment '{spec.env}' (python -m scbench.envs build {spec.env} PREFIX)")
        raise Unavailable(
            f"{spec.name} needs {where}; here: {type(error).__name__}: {error}") from error
    requires = tuple(getattr(module, "REQUIRES", ()))
    missing = [name for name in requires if importlib.util.find_spec(name) is None]
    if missing:
        where = "the project environment" if spec.env == "main" else (
            f"its environment '{spec.env}' (python -m scbench.envs build {spec.env} PREFIX)")
        raise Unavailable(f"{spec.name} needs {where}; missing Python module(s) here: "
                          f"{', '.join(missing)} ({sys.executable})")
    if "torch" in requires:
        import torch  # noqa: F401 - loaded now so it is seeded, thread-capped and asked for CUDA
    check = getattr(module, "check_available", None)
    reason = check() if check is not None else None
    if reason:
        raise Unavailable(reason)
    return module


def check_output(spec: registry.MethodSpec, output: Any, n_obs: int):
    """Validate a method's output; returns (labels, embedding) as numpy arrays."""
    import numpy as np
    import pandas as pd

    name = spec.name
    if not isinstance(output, registry.MethodOutput):
        raise ContractError(f"method {name!r} returned {type(output).__name__}, not MethodOutput")
    labels = np.asarray(output.labels)
    if labels.ndim != 1 or len(labels) != n_obs:
        raise ContractError(
            f"method {name!r} returned labels of shape {labels.shape} for {n_obs} cells "
            f"(need one label per cell: length {len(labels) if labels.ndim else 0} != {n_obs})")
    if pd.isna(pd.Series(labels, dtype=object)).any():
        raise ContractError(f"method {name!r} returned NaN/None labels")
    if labels.dtype.kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ContractError(f"method {name!r} returned non-integer float labels")
        labels = labels.astype(np.int64)
    unassigned = output.extra.get("unassigned_label")
    if np.any(labels.astype(str) == "-1") and str(unassigned) != "-1":
        raise ContractError(
            f"method {name!r} returned label -1 without declaring extra['unassigned_label']")
    embedding = output.embedding
    if embedding is not None:
        embedding = np.asarray(embedding)
        if embedding.ndim != 2 or embedding.shape[0] != n_obs:
            raise ContractError(
                f"method {name!r} returned an embedding of shape {embedding.shape} for {n_obs} "
                f"cells (rows {embedding.shape[0] if embedding.ndim else 0} != {n_obs})")
        if embedding.dtype.kind not in "fiu":
            raise ContractError(f"method {name!r} returned a non-numeric embedding")
        assigned = ~registry.unassigned_mask(labels, unassigned)
        if not np.isfinite(embedding[assigned]).all():  # unassigned cells may have NaN rows
            raise ContractError(
                f"method {name!r} returned a non-finite embedding for assigned cells")
        embedding = embedding.astype(np.float32)
    return labels, embedding


def failure_reason(error: BaseException, limit: int = 1000) -> str:
    """``"<ExceptionType>: message"``, on one line (newlines as " | "), at most ``limit`` chars."""
    message = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())
    reason = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def crash_reason(exit_code: int) -> str:
    """Why a run whose process died with ``exit_code`` (as the shell reports it) failed; 124 is
    the code of ``timeout``, with which the workflow stops a run at its time limit."""
    if exit_code == 124:
        return ("the run did not finish within its time limit (the workflow's runtime resource, "
                "raised on each retry); see its log")
    if exit_code > 128:
        signal = exit_code - 128
        hint = {9: " (SIGKILL: out of memory?)", 11: " (SIGSEGV)", 6: " (SIGABRT)"}.get(signal, "")
        return f"the run's process was killed by signal {signal}{hint}; see its log"
    return f"the run's process exited with code {exit_code} without a record; see its log"


def write_outputs(outdir: Path, cells: Any, labels: Any, embedding: Any) -> None:
    """``labels.tsv`` and ``embedding.npy``, both always written (the workflow declares them as
    outputs): ``embedding`` None gives a float32 array of shape (cells, 0)."""
    import numpy as np
    import pandas as pd

    table = pd.DataFrame({"cell": pd.Index(cells).astype(str), "label": labels})
    write_atomic(outdir / LABELS, lambda p: table.to_csv(p, sep="\t", index=False))
    if embedding is None:
        embedding = np.zeros((len(table), 0), dtype=np.float32)

    def save_npy(path: Path) -> None:
        with open(path, "wb") as handle:  # a handle: np.save(path) would append .npy
            np.save(handle, embedding, allow_pickle=False)

    write_atomic(outdir / EMBEDDING, save_npy)


def finish(record: dict[str, Any], outdir: Path, status: str, reason: str | None) -> int:
    """Write ``record`` with its status (last, atomically); a run that is not ``ok`` gets an
    empty ``labels.tsv`` and ``embedding.npy`` in place of any partial ones."""
    record["status"], record["reason"] = status, reason
    record["versions"] = versions(record["extra"].pop("versions", None))
    if status != "ok":
        record["embedding"] = None
        write_outputs(outdir, [], [], None)
    text = json.dumps(jsonable(record), indent=2, allow_nan=False) + "\n"
    write_atomic(outdir / RECORD, lambda p: p.write_text(text))
    summary = f"status={status}" + (f" reason={reason}" if reason else "")
    print(f"scbench: {record['method']} seed={record['seed']} {summary}", file=sys.stderr)
    return 0


def cleanup(outdir: Path) -> None:
    for name in (LABELS, EMBEDDING, RECORD):
        (outdir / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = registry.get(args.method)
    except KeyError as error:
        print(f"scbench.methods.run: {error.args[0]}", file=sys.stderr)
        return 2
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as error:
        print(f"scbench.methods.run: --params is not valid JSON: {error}", file=sys.stderr)
        return 2
    if not isinstance(params, dict):
        print("scbench.methods.run: --params must be a JSON object", file=sys.stderr)
        return 2

    preset = dict(spec.preset)
    overridden = sorted(set(preset) & set(params))
    if overridden:
        fixed = ", ".join(f"{k}={preset[k]!r}" for k in overridden)
        print(f"scbench.methods.run: {spec.name} fixes {fixed}; use another method row "
              "instead of overriding it", file=sys.stderr)
        return 2
    params = {**params, **preset}
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    set_thread_env(args.threads)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cleanup(outdir)
    record: dict[str, Any] = {
        "method": spec.name, "seed": args.seed, "status": None, "reason": None,
        "runtime_s": None, "peak_mem_mb": None, "peak_gpu_mb": None, "device": None,
        "n_cells": None, "n_clusters_given": None, "n_clusters_found": None,
        "embedding": None, "implementation": spec.implementation, "original": spec.original,
        "source": spec.source, "env": spec.env,
        "threads": args.threads, "versions": {}, "params": params, "extra": {},
    }
    if args.crashed is not None:
        return finish(record, outdir, "failed", crash_reason(args.crashed))
    try:
        adata = read_input(args.input)
    except UsageError as error:
        print(f"scbench.methods.run: {error}", file=sys.stderr)
        return 2
    record["n_cells"] = int(adata.n_obs)

    if spec.needs_k:
        if "celltype" not in adata.obs:
            print(f"scbench.methods.run: {spec.name} needs k but the input has no "
                  "obs['celltype']", file=sys.stderr)
            return 2
        record["n_clusters_given"] = int(adata.obs["celltype"].dropna().nunique())
    try:
        module = load_method(spec)
    except Unavailable as error:
        return finish(record, outdir, "unavailable", str(error))

    import pandas as pd

    if spec.implementation != "control" and "celltype" in adata.obs:
        adata.obs = adata.obs.drop(columns=["celltype"])  # methods never see the truth
    start = None
    try:
        seed_all(args.seed, args.threads)
        device = resolve_device(args.device, spec)
        record["device"] = device
        torch = sys.modules.get("torch")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        limiter = _thread_limiter(args.threads)
        start = time.perf_counter()
        with limiter:
            output = module.run(adata, seed=args.seed, threads=args.threads, device=device,
                                n_clusters=record["n_clusters_given"], params=dict(params))
        record["runtime_s"] = round(time.perf_counter() - start, 3)
        record["peak_mem_mb"] = peak_rss_mb()
        if device == "cuda":
            record["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 1024**2, 1)
        if isinstance(output, registry.MethodOutput):
            record["extra"] = dict(output.extra)
        labels, embedding = check_output(spec, output, adata.n_obs)
        unassigned = registry.unassigned_mask(labels, record["extra"].get("unassigned_label"))
        record["n_clusters_found"] = len(pd.unique(labels[~unassigned].astype(str)))
        write_outputs(outdir, adata.obs_names, labels, embedding)
        record["embedding"] = "method" if embedding is not None else None
    except (Exception, SystemExit) as error:  # noqa: BLE001 - every method failure is a record
        traceback.print_exc()
        if start is not None and record["runtime_s"] is None:
            record["runtime_s"] = round(time.perf_counter() - start, 3)
            record["peak_mem_mb"] = peak_rss_mb()
        return finish(record, outdir, "failed", failure_reason(error))
    return finish(record, outdir, "ok", None)


def _thread_limiter(threads: int):
    """threadpoolctl's BLAS/OpenMP limit when installed (covers libraries loaded before us)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


if __name__ == "__main__":
    sys.exit(main())
