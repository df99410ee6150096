"""profiles/slurm against a real one-node SLURM cluster (.ci/slurm_cluster.sh).

Opt-in: runs only with SCBENCH_SLURM_TEST=1 (.ci/run sets it); otherwise every test here
skips. Once opted in, nothing skips: without root, without apt (or SLURM already installed),
with an /etc/slurm/slurm.conf of another SLURM, or when the install or the cluster fails, the
tests fail and say why.

    SCBENCH_SLURM_TEST=1 python -m pytest -m slurm tests/test_slurm.py -v
    # snakemake from another environment:
    SCBENCH_SLURM_TEST=1 SCBENCH_SNAKEMAKE=/path/to/venv/bin/snakemake python -m pytest ...

What it proves:
  (a) tests/slurm/Snakefile through `snakemake --profile profiles/slurm`: a rule
      with `resources: gpu=1` gets a GPU from SLURM (TresPerJob=gres:gpu:1,
      CUDA_VISIBLE_DEVICES in the job), and a failed job is resubmitted with
      mem_mb * attempt: the toy job exits 1 while SLURM granted it less than
      500 MB (300 MB on attempt 1) and succeeds with the 600 MB of attempt 2.
      No process runs out of memory (this cluster has no cgroups to enforce a
      limit): what is proven is the profile's resubmission with more memory.
      The failed attempt's SLURM log stays in the profile's slurm-logdir.
  (b) the real workflow (Snakefile + config/test.yaml) run through the profile
      gives the same results/tables/metrics.tsv (status, ari, nmi, n_clusters per
      dataset/method/seed) as the same config run locally with --cores 2, and
      every job whose rule asks for a GPU was given one by SLURM.
  (c) the paper's experiments (`robustness` target, a tiny grid) run through the
      profile: the perturbations, experiment runs and scores are SLURM jobs, every
      experiment run of a GPU-capable method got a GPU, and every run is ok.
The cluster is always stopped (exactly the daemons the script started).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from scbench.methods.registry import METHODS

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "slurm_cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
TOY_SNAKEFILE = REPO / "tests" / "slurm" / "Snakefile"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
# Columns of results/tables/metrics.tsv that must agree between SLURM and local runs.
KEY_COLUMNS = ("dataset", "method", "seed")
COMPARED_COLUMNS = ("status", "ari", "nmi", "n_clusters")
# The snakemake to run: this interpreter's, or SCBENCH_SNAKEMAKE (a snakemake executable
# from another environment that has snakemake + snakemake-executor-plugin-slurm).
SNAKEMAKE = (
    [os.environ["SCBENCH_SNAKEMAKE"]]
    if os.environ.get("SCBENCH_SNAKEMAKE")
    else [sys.executable, "-m", "snakemake"]
)
# Poll SLURM quickly: the profile's 40 s first status check is for real clusters.
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5"]


def _cluster_script(command: str, cluster_dir, env: dict, timeout: int):
    """Run ``.ci/slurm_cluster.sh COMMAND DIR`` and return the completed process."""
    return subprocess.run(["bash", str(SCRIPT), command, str(cluster_dir)], check=False,
                          capture_output=True, text=True, env=env, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


def _start_snakemake(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    """Start snakemake in cwd; its stdout and stderr go to cwd/snakemake.out."""
    with (cwd / "snakemake.out").open("w") as out:
        return subprocess.Popen(
            [*SNAKEMAKE, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _finish_snakemake(proc: subprocess.Popen, cwd: Path, timeout: int) -> tuple[int, str]:
    """Wait for proc (killing it after timeout); return (exit code, its output)."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode, (cwd / "snakemake.out").read_text()


def _snakemake(args: list[str], cwd: Path, env: dict, timeout: int) -> tuple[int, str]:
    return _finish_snakemake(_start_snakemake(args, cwd, env), cwd, timeout)


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the one-node cluster in a fresh dir; yield the environment to use it."""
    if os.environ.get("SCBENCH_SLURM_TEST") != "1":
        pytest.skip("set SCBENCH_SLURM_TEST=1 to run the SLURM tests")
    # Opted in: from here on, whatever keeps the cluster from starting is a failure.
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.fail("SCBENCH_SLURM_TEST=1 but not root: the SLURM test needs root (apt, slurmd)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.fail("SCBENCH_SLURM_TEST=1 but neither apt-get nor SLURM is installed")
    helptext = subprocess.run(
        [*SNAKEMAKE, "--help"], check=False, capture_output=True, text=True, timeout=120
    )
    if "--slurm-status-command" not in helptext.stdout:
        pytest.fail(
            f"SCBENCH_SLURM_TEST=1 but {' '.join(SNAKEMAKE)} lacks "
            "snakemake-executor-plugin-slurm:\n" + _tail(helptext.stdout + helptext.stderr, 5)
        )

    # A stale link left by a crashed run of this test points into a deleted tmp dir: drop it.
    if (
        SYSTEM_CONF.is_symlink()
        and not SYSTEM_CONF.exists()
        and "scbench-slurm-" in os.readlink(SYSTEM_CONF)
    ):
        SYSTEM_CONF.unlink()
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        pytest.fail(f"SCBENCH_SLURM_TEST=1 but {SYSTEM_CONF} already exists (a real or running "
                    "SLURM); not touching it")

    inst = subprocess.run(
        ["bash", str(SCRIPT), "install"], check=False, capture_output=True, text=True, timeout=600
    )
    if inst.returncode != 0:
        pytest.fail(f"could not install SLURM from apt: {_tail(inst.stderr, 10)}")

    cluster_dir = Path(tempfile.mkdtemp(prefix="scbench-slurm-", dir="/tmp"))
    env = dict(os.environ)
    # Free ports, so a SLURM already listening on 6817/6818 does not get in the way.
    env["SCBENCH_SLURM_CTLD_PORT"] = str(_free_port())
    env["SCBENCH_SLURM_SLURMD_PORT"] = str(_free_port())
    # Keep finished jobs' records (scontrol show job) for the whole test, not just 300 s.
    env["SCBENCH_SLURM_MIN_JOB_AGE"] = "3600"
    try:
        start = _cluster_script("start", cluster_dir, env, timeout=180)
        assert start.returncode == 0, f"cluster did not start:\n{start.stderr}"
        m = re.search(r"^export SLURM_CONF=(\S+)$", start.stdout, re.MULTILINE)
        assert m, f"no SLURM_CONF in start output: {start.stdout!r}"
        env["SLURM_CONF"] = m.group(1)
        yield env
    finally:
        stop = _cluster_script("stop", cluster_dir, env, timeout=120)
        left = (
            (cluster_dir / "started.pids").read_text()
            if (cluster_dir / "started.pids").exists()
            else ""
        )
        shutil.rmtree(cluster_dir, ignore_errors=True)
        assert stop.returncode == 0, f"cluster did not stop:\n{stop.stderr}"
        assert not left.strip(), f"daemons left running: {left}"


def _scontrol_job(env: dict, jobid: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", jobid],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode == 0, f"scontrol show job {jobid}: {out.stderr}"
    return out.stdout


def test_gpu_request_and_retry_with_more_memory(slurm_cluster, tmp_path):
    env = slurm_cluster
    rc, log = _snakemake(
        ["-s", str(TOY_SNAKEFILE), "--profile", str(PROFILE), *FAST_POLLING], tmp_path, env, 600
    )
    assert rc == 0, _tail(log)

    # GPU: SLURM allocated the gres to the job, and the job saw it.
    gpu = dict(
        line.split("=", 1) for line in (tmp_path / "gpu.txt").read_text().split("\n") if "=" in line
    )
    assert gpu["SLURM_JOB_ID"], gpu
    assert "gpu" in gpu.get("TresPerJob", "") + gpu.get("TresPerNode", ""), gpu
    assert gpu["CUDA_VISIBLE_DEVICES"] == "0", gpu
    assert "gpu" in _scontrol_job(env, gpu["SLURM_JOB_ID"])

    # Retry: attempt 1 got 300 MB and failed, attempt 2 got 600 MB and succeeded.
    attempts = (tmp_path / "attempts.log").read_text().split("\n")
    attempts = [a for a in attempts if a]
    assert len(attempts) == 2, attempts
    assert "mem=300 " in attempts[0] and attempts[0].endswith("status=fail"), attempts
    assert "mem=600 " in attempts[1] and attempts[1].endswith("status=ok"), attempts
    assert (tmp_path / "retry.txt").read_text().strip() == "mem=600"
    failed_job = re.search(r"job=(\d+)", attempts[0]).group(1)
    assert "JobState=FAILED" in _scontrol_job(env, failed_job)
    # slurm-logdir: the failed attempt's log is kept there (successful ones are deleted).
    assert (tmp_path / "logs" / "slurm" / "rule_retry" / f"{failed_job}.log").is_file()


# --- (b) the real workflow -------------------------------------------------------------

# Left out of the copies: what a run makes (results, logs, resources: downloads, prepared data,
# method envs), so both runs start from scratch, and caches. The first set only at the top level.
_TOP_LEVEL_SKIP = {".git", ".venv", "venv", "results", "resources", "logs", ".snakemake"}
_ANY_LEVEL_SKIP = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", "*.egg-info", ".ruff_cache"
)


def _ignore(directory: str, names: list[str]) -> set[str]:
    skip = set(_ANY_LEVEL_SKIP(directory, names))
    if Path(directory) == REPO:
        skip |= _TOP_LEVEL_SKIP.intersection(names)
    return skip


def _copy_repo(dest: Path) -> Path:
    """Copy the checkout (sources, config, profiles; no results) to dest."""
    shutil.copytree(REPO, dest, symlinks=True, ignore=_ignore)
    # Paths like ../shared/... in a config keep working from the copy.
    sibling = dest.parent / "shared"
    if (REPO.parent / "shared").exists() and not sibling.exists():
        sibling.symlink_to(REPO.parent / "shared")
    return dest


def _read_metrics(path: Path) -> dict:
    assert path.is_file(), f"missing {path}"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert rows, f"{path} has no rows"
    missing = [c for c in (*KEY_COLUMNS, "status") if c not in rows[0]]
    assert not missing, f"{path} lacks columns {missing}"
    cols = [c for c in COMPARED_COLUMNS if c in rows[0]]
    table = {tuple(r[k] for k in KEY_COLUMNS): {c: r[c] for c in cols} for r in rows}
    assert len(table) == len(rows), f"duplicate {KEY_COLUMNS} rows in {path}"
    return table


def _submitted_jobs(log: str) -> list[tuple[str, str, str, str]]:
    """(rule, method wildcard, SLURM job id, resources line) of every job submitted to SLURM."""
    resources: dict[str, str] = {}
    rule_of: dict[str, str] = {}
    method_of: dict[str, str] = {}
    rule = jobid = None
    for line in log.splitlines():
        s = line.strip()
        if m := re.match(r"^(?:local)?rule (\S+):$", s):
            rule, jobid = m.group(1), None
        elif m := re.match(r"^jobid: (\d+)$", s):
            jobid = m.group(1)
            rule_of[jobid] = rule
        elif s.startswith("resources:") and jobid is not None:
            resources[jobid] = s
        elif (m := re.match(r"^wildcards:.*\bmethod=(\w+)", s)) and jobid is not None:
            method_of[jobid] = m.group(1)
    return [
        (rule_of.get(job, "?"), method_of.get(job, "?"), slurm_id, resources.get(job, ""))
        for job, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
    ]


def _gpu_slurm_jobs(log: str) -> list[tuple[str, str, str]]:
    """(rule, method wildcard, SLURM job id) of every submitted job whose resources include a
    GPU."""
    return [
        (rule, method, slurm_id)
        for rule, method, slurm_id, res in _submitted_jobs(log)
        if re.search(r"\b(gpu=[1-9]|gres=\S*gpu)", res)
    ]


@pytest.mark.skipif(
    not ((REPO / "Snakefile").is_file() and (REPO / "config" / "test.yaml").is_file()),
    reason="workflow (Snakefile, config/test.yaml) not present",
)
def test_workflow_on_slurm_matches_local(slurm_cluster, tmp_path, failing_method_config):
    env = slurm_cluster
    local_dir = _copy_repo(tmp_path / "local")
    slurm_dir = _copy_repo(tmp_path / "slurm")
    for workdir in (local_dir, slurm_dir):
        (workdir / "always_fails.yaml").write_text(yaml.safe_dump(failing_method_config))
    config = ["--configfile", "config/test.yaml", "always_fails.yaml"]

    # The local run goes alongside the SLURM one: the SLURM run mostly waits on status polls.
    local = _start_snakemake(["--cores", "2", *config], local_dir, env)
    try:
        # --max-threads 2: the CI node has 2 CPUs (sbatch rejects more); the local run's
        # --cores 2 caps threads the same way, so both runs use the same thread counts.
        slurm_profile = str(slurm_dir / "profiles" / "slurm")
        rc, log = _snakemake(
            ["--profile", slurm_profile, *config, *FAST_POLLING, "--max-threads", "2"],
            slurm_dir,
            env,
            1200,
        )
    finally:
        local_rc, local_log = _finish_snakemake(local, local_dir, 1200)
    assert local_rc == 0, "local run failed:\n" + _tail(local_log)
    assert rc == 0, "SLURM run failed:\n" + _tail(log)
    assert "has been submitted with SLURM jobid" in log, "nothing was submitted to SLURM"

    local_metrics = _read_metrics(local_dir / "results" / "tables" / "metrics.tsv")
    slurm_metrics = _read_metrics(slurm_dir / "results" / "tables" / "metrics.tsv")
    assert sorted(slurm_metrics) == sorted(local_metrics)
    diffs = {
        k: (local_metrics[k], slurm_metrics[k])
        for k in local_metrics
        if local_metrics[k] != slurm_metrics[k]
    }
    assert not diffs, f"SLURM and local metrics differ (local, slurm): {diffs}"
    # the failing method is a row with status "failed" (it exits 0, so SLURM does not retry it)
    failed = {k: v for k, v in slurm_metrics.items() if k[1] == "louvain"}
    assert failed and all(v["status"] == "failed" for v in failed.values()), failed

    # Jobs of GPU-capable methods asked SLURM for the GPU and got it (job records; MinJobAge=3600).
    gpu_jobs = _gpu_slurm_jobs(log)
    gpu_runs = [k for k in slurm_metrics if METHODS[k[1]].gpu and not METHODS[k[1]].unavailable]
    assert gpu_runs, "config/test.yaml runs no GPU-capable method: nothing to check"
    # exactly the runs of GPU-capable methods asked for a GPU, and no other job
    assert sorted(method for _, method, _ in gpu_jobs) == sorted(k[1] for k in gpu_runs), (
        f"GPU method runs {gpu_runs}, GPU jobs {gpu_jobs}")
    assert {rule for rule, _, _ in gpu_jobs} == {"run_method"}, gpu_jobs
    for rule, _, jobid in gpu_jobs:
        record = _scontrol_job(env, jobid)
        assert re.search(r"TresPer(Job|Node)=\S*gpu", record), (
            f"{rule} job {jobid} has no GPU: {record}"
        )


# --- (c) the experiments --------------------------------------------------------------

TINY_ROBUSTNESS = {
    "methods": ["attentionae_sc"],
    "datasets": ["sim_tiny"],
    "seeds": [0],
    "dropout": [0.5],
    "downsample": [0.5],
    "downsample_by": ["random"],
}


@pytest.mark.skipif(
    not ((REPO / "Snakefile").is_file() and (REPO / "config" / "test.yaml").is_file()),
    reason="workflow (Snakefile, config/test.yaml) not present",
)
def test_experiments_on_slurm(slurm_cluster, tmp_path):
    env = slurm_cluster
    workdir = _copy_repo(tmp_path / "experiments")
    (workdir / "tiny_experiments.yaml").write_text(
        yaml.safe_dump({"experiments": {"robustness": TINY_ROBUSTNESS}})
    )
    rc, log = _snakemake(
        ["robustness", "--profile", str(workdir / "profiles" / "slurm"),
         "--configfile", "config/test.yaml", "tiny_experiments.yaml", *FAST_POLLING,
         "--max-threads", "2"],
        workdir,
        env,
        1200,
    )
    assert rc == 0, "SLURM run failed:\n" + _tail(log)

    # the dataset, its two perturbed inputs (dropout 0.5, random down-sampling to 0.5), and
    # three runs (base and those two), each scored: every one a SLURM job
    submitted = sorted(rule for rule, *_ in _submitted_jobs(log))
    expected = ["prepare", "shared_pca", *["perturb"] * 2, *["run_experiment"] * 3]
    assert submitted == sorted(expected + ["score_experiment"] * 3), submitted
    with (workdir / "results" / "experiments" / "robustness" / "runs.tsv").open() as fh:
        runs = list(csv.DictReader(fh, delimiter="\t"))
    # the base run is a row of each factor
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs), runs
    gpu_jobs = _gpu_slurm_jobs(log)
    assert sorted(rule for rule, _, _ in gpu_jobs) == ["run_experiment"] * 3, gpu_jobs
    for _, _, jobid in gpu_jobs:
        assert re.search(r"TresPer(Job|Node)=\S*gpu", _scontrol_job(env, jobid)), jobid
