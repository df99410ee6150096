"""workflow/scripts/run_method.sh: a killed or timed-out run is retried, then recorded as failed."""

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


def fake_python(tmp_path: Path, behaviour: str) -> Path:
    """An interpreter whose method run does ``behaviour`` (shell) and whose ``--crashed`` call
    runs the real one."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\n"
                    f'case "$*" in *--crashed*) exec {sys.executable} "$@";; esac\n'
                    f"{behaviour}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def killed_python(tmp_path) -> Path:
    """A method run killed by SIGKILL (as the OOM killer does)."""
    return fake_python(tmp_path, "kill -9 $$")


def run_script(python, attempt: int, prepared: Path, outdir: Path, method: str = "random_labels",
               time_limit_s: int = 0):
    log = outdir.parent / "run.log"
    command = ["bash", str(SCRIPT), str(python), str(attempt), "3", str(time_limit_s), str(log),
               "--", "--method", method, "--input", str(prepared), "--seed", "0",
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
    assert sorted(p.name for p in (tmp_path / "last").iterdir()) == [
        "embedding.npy", "labels.tsv", "record.json"]  # the workflow's outputs, empty


def test_usage_errors_still_fail_the_job(prepared, tmp_path):
    code, log = run_script(sys.executable, 3, prepared, tmp_path / "out", method="no_such")
    assert code == 2 and "no_such" in log
    assert not (tmp_path / "out" / "record.json").exists()


def test_a_run_past_its_time_limit_fails_the_job_until_the_last_attempt(prepared, tmp_path):
    python = fake_python(tmp_path, "exec sleep 60")
    code, _ = run_script(python, 2, prepared, tmp_path / "early", time_limit_s=1)
    assert code == 124 and not (tmp_path / "early" / "record.json").exists()


@pytest.mark.parametrize("behaviour", ["exec sleep 60", "trap '' TERM; sleep 60"],
                         ids=["stops_on_sigterm", "needs_sigkill"])
def test_a_run_past_its_time_limit_is_recorded_on_the_last_attempt(prepared, tmp_path, behaviour):
    code, log = run_script(fake_python(tmp_path, behaviour), 3, prepared, tmp_path / "last",
                           time_limit_s=1)
    assert code == 0 and "time limit of 1 s on attempt 3 of 3" in log
    record = json.loads((tmp_path / "last" / "record.json").read_text())
    assert record["status"] == "failed" and "time limit" in record["reason"]


def test_a_run_within_its_time_limit_is_not_stopped(prepared, tmp_path):
    code, _ = run_script(sys.executable, 3, prepared, tmp_path / "out", time_limit_s=600)
    assert code == 0
    assert json.loads((tmp_path / "out" / "record.json").read_text())["status"] == "ok"
