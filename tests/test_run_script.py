"""workflow/scripts/run_method.sh: a killed run is retried, then recorded as failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attentionae_sc.simulation import simulate_counts

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "workflow" / "scripts" / "run_method.sh"


@pytest.fixture
def prepared(tmp_path) -> Path:
    path = tmp_path / "toy.h5ad"
    simulate_counts(60, 50, 2, seed=0).write_h5ad(path)
    return path


@pytest.fixture
def killed_python(tmp_path) -> Path:
    """An interpreter whose method run is killed by SIGKILL (as the OOM killer does)."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\n"
                    f'case "$*" in *--crashed*) exec {sys.executable} "$@";; esac\n'
                    "kill -9 $$\n")
    path.chmod(0o755)
    return path


def run_script(python, attempt: int, prepared: Path, outdir: Path, method: str = "random_labels"):
    log = outdir.parent / "run.log"
    command = ["bash", str(SCRIPT), str(python), str(attempt), "3", str(log), "--",
               "--method", method, "--input", str(prepared), "--seed", "0",
               "--outdir", str(outdir), "--threads", "1", "--device", "cpu", "--params", "{}"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    return done.returncode, log.read_text()


def test_a_normal_run_passes_through(prepared, tmp_path):
    code, _ = run_script(sys.executable, 1, prepared, tmp_path / "out")
    assert code == 0
    assert json.loads((tmp_path / "out" / "record.json").read_text())["status"] == "ok"


def test_a_killed_run_fails_the_job_until_the_last_attempt(prepared, tmp_path, killed_python):
    code, _ = run_script(killed_python, 2, prepared, tmp_path / "early")
    assert code == 137 and not (tmp_path / "early" / "record.json").exists()
    code, log = run_script(killed_python, 3, prepared, tmp_path / "last")
    assert code == 0 and "attempt 3 of 3" in log
    record = json.loads((tmp_path / "last" / "record.json").read_text())
    assert record["status"] == "failed" and "signal 9" in record["reason"]
    assert record["method"] == "random_labels" and record["seed"] == 0
    assert sorted(p.name for p in (tmp_path / "last").iterdir()) == ["record.json"]


def test_usage_errors_still_fail_the_job(prepared, tmp_path):
    code, log = run_script(sys.executable, 3, prepared, tmp_path / "out", method="no_such")
    assert code == 2 and "no_such" in log
    assert not (tmp_path / "out" / "record.json").exists()
