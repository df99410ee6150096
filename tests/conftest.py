"""Shared fixtures: small simulated datasets and the optional real-data mirror."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

from attentionae_sc.simulation import simulate_counts

REPO = Path(__file__).resolve().parents[1]
#: The shared real-data mirror beside the checkout (override with SCBENCH_DATA_MIRROR).
DATA_MIRROR = Path(os.environ.get("SCBENCH_DATA_MIRROR", REPO.parent / "shared" / "datasets"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def separated_counts():
    """400 cells in 8 well-separated groups of about 50 cells; methods should recover them.

    (With the paper's fixed Leiden resolution 1.0, AttentionAE-sc splits larger homogeneous
    groups: 4 groups of 100 cells gave 8-9 clusters. The default chooses the resolution, see
    tests/test_clustering_start.py.)
    """
    return simulate_counts(400, 1000, 8, de_prob=0.2, de_loc=1.0, seed=7)


@pytest.fixture
def tiny_counts():
    """80 cells, 300 genes: for shapes and error paths, not for accuracy."""
    return simulate_counts(80, 300, 3, seed=3)


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    if not (DATA_MIRROR / "MANIFEST.tsv").is_file():
        pytest.skip(f"real-data mirror not found at {DATA_MIRROR}")
    return DATA_MIRROR


@pytest.fixture(scope="session")
def failing_method_config() -> dict:
    """Config overlay: config/test.yaml's methods plus louvain, which always fails (0 neighbours
    passes the workflow's check of parameter names and kinds, but scikit-learn's kNN rejects it);
    the workflow must turn it into ``failed`` rows, not holes."""
    methods = yaml.safe_load((REPO / "config" / "test.yaml").read_text())["methods"]
    return {"methods": [*methods, "louvain"], "method_params": {"louvain": {"n_neighbors": 0}}}


@pytest.fixture
def restore_thread_env(monkeypatch):
    """For tests that call ``scbench.methods.run.main`` in-process: it sets OMP_NUM_THREADS & co.
    and torch's thread count; both are restored after the test."""
    from scbench.methods.run import THREAD_VARS

    # NUMBA_NUM_THREADS is not restored: once numba's threads have started (maybe inside the
    # run), it refuses any value but the number they started with, which is set below
    for var in (v for v in THREAD_VARS if v != "NUMBA_NUM_THREADS"):
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:
            monkeypatch.delenv(var, raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    numba = sys.modules.get("numba")
    if numba is not None and numba.np.ufunc.parallel._is_initialized:
        os.environ["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
