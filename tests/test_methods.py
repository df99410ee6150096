"""Method registry, runner contract, per-method recovery on a toy dataset, and env tooling.

Methods run through the runner CLI (``python -m scbench.methods.run``) in a temp dir. A method
whose environment is not built runs with the project interpreter instead; when that makes it
``unavailable`` (missing package, or R/Seurat missing), the test is skipped with the reason, or
fails with it under ``SCBENCH_REQUIRE_BASELINES=1`` (set by ``.ci/run``, which builds every env).
Method envs are looked up under ``$SCBENCH_ENV_ROOT`` (default ``<repo>/resources/envs``), i.e.
``python -m scbench.envs build ENV $SCBENCH_ENV_ROOT/ENV``.

Contract tests register fake methods by monkeypatching ``registry.METHODS`` with specs whose
``module`` is a throw-away module written to ``tmp_path``, and call ``run.main`` in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scbench import envs
from scbench.methods import registry, run
from scbench.methods.params import accepted_params, check_params

REPO = Path(__file__).resolve().parents[1]
ENV_ROOT = Path(os.environ.get("SCBENCH_ENV_ROOT", REPO / "resources" / "envs"))
#: CI (.ci/run): a runnable baseline that cannot run here is a failure, not a skip.
REQUIRE_BASELINES = os.environ.get("SCBENCH_REQUIRE_BASELINES") == "1"
N_CELLS, N_GENES, N_GROUPS = 300, 500, 4

# Small overrides keep the suite fast; everything else is each method's default. scvi also gets
# Leiden resolution 0.5: at its default 1.0 it splits the largest toy group in two (ARI 0.86,
# measured with 100 and 400 epochs alike), a property of scVI + Leiden on 300 cells.
FAST_PARAMS = {
    "scvi": {"max_epochs": 30, "resolution": 0.5},
    "desc": {"pretrain_epochs": 20, "max_iter": 200},
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """300 cells x 500 genes, 4 well-separated groups (raw counts, CSR float32)."""
    from attentionae_sc.simulation import simulate_counts

    adata = simulate_counts(N_CELLS, N_GENES, N_GROUPS, de_prob=0.3, de_loc=1.0, seed=0)
    path = tmp_path_factory.mktemp("toy") / "toy.h5ad"
    adata.write_h5ad(path)
    return path, adata.obs["celltype"].astype(str)


def interpreter(env: str) -> str:
    if env != envs.MAIN and envs.is_ready(env, ENV_ROOT / env):
        return envs.python_for(env, ENV_ROOT)
    return sys.executable


def run_cli(method, toy_path, outdir, *, python=None, params=None, seed=0, threads=1, check=True):
    spec = registry.get(method) if method in registry.METHODS else None
    python = python or interpreter(spec.env if spec else envs.MAIN)
    command = [python, "-m", "scbench.methods.run", "--method", method, "--input", str(toy_path),
               "--seed", str(seed), "--outdir", str(outdir), "--threads", str(threads),
               "--device", "cpu"]
    if params is not None:
        command += ["--params", json.dumps(params)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def skip_unavailable(method: str, record: dict) -> None:
    """Skip the test of a baseline that is ``unavailable`` here (its env or R not installed);
    fail it instead under ``SCBENCH_REQUIRE_BASELINES=1``."""
    if record["status"] != "unavailable":
        return
    message = f"{method} unavailable here: {record['reason']}"
    if REQUIRE_BASELINES:
        pytest.fail(f"SCBENCH_REQUIRE_BASELINES=1 but {message}")
    pytest.skip(message)


def read_record(outdir: Path) -> dict:
    return json.loads((Path(outdir) / run.RECORD).read_text())


def assert_no_results(outdir: Path) -> None:
    """A run that is not ok still has its three files, the workflow's declared outputs: a
    labels.tsv with only its header and an embedding without rows or columns."""
    assert sorted(p.name for p in Path(outdir).iterdir()) == sorted(
        [run.LABELS, run.EMBEDDING, run.RECORD])  # and no temporary files
    assert read_labels(outdir).empty
    assert np.load(Path(outdir) / run.EMBEDDING).shape == (0, 0)
    assert read_record(outdir)["embedding"] is None


def read_labels(outdir: Path) -> pd.Series:
    table = pd.read_csv(Path(outdir) / run.LABELS, sep="\t", dtype={"cell": str})
    assert list(table.columns) == ["cell", "label"]
    return table.set_index("cell")["label"]


def ari(truth: pd.Series, labels: pd.Series) -> float:
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(truth.to_numpy(), labels.reindex(truth.index).astype(str))


# --- registry ---------------------------------------------------------------------------------

EXPECTED = {"attentionae_sc", "attentionae_sc_paper", "attentionae_sc_reference",
            "attentionae_sc_dae", "leiden",
            "louvain", "kmeans", "phenograph", "scvi", "desc", "seurat", "random_labels",
            "true_labels", "sc3", "sc3s", "scgnn", "scgac", "graph_sc", "scdeepcluster", "scea"}


def test_registry_lists_every_method_with_metadata():
    assert set(registry.METHODS) == EXPECTED
    for name, spec in registry.METHODS.items():
        assert spec.name == name and spec.display_name and spec.reference
        assert spec.implementation in {"original", "reimplementation", "control"}
        assert spec.module and spec.unavailable is None
        if spec.env != envs.MAIN:
            assert (REPO / "envs" / f"{spec.env}.yaml").is_file()
            assert (REPO / "envs" / "pip" / f"{spec.env}.txt").is_file()
    assert "10.1371/journal.pcbi.1011641" in registry.get("attentionae_sc").reference
    variants = {name: dict(registry.get(name).preset).get("variant") for name in
                ("attentionae_sc", "attentionae_sc_paper", "attentionae_sc_reference")}
    assert variants == {"attentionae_sc": "default", "attentionae_sc_paper": "paper",
                        "attentionae_sc_reference": "reference"}
    assert dict(registry.get("attentionae_sc_dae").preset) == {"variant": "default",
                                                               "ablation": "dae"}
    assert {n for n, s in registry.METHODS.items() if s.implementation == "control"} == {
        "random_labels", "true_labels"}
    assert registry.get("kmeans").needs_k and registry.get("random_labels").needs_k
    assert not registry.get("leiden").needs_k
    sc3s = registry.get("sc3s")
    assert sc3s.display_name == "SC3s" and sc3s.original and sc3s.needs_k
    assert sc3s.env == "sc3s" and "10.1186/s12859-022-05085-z" in sc3s.reference


def test_get_unknown_method_lists_valid_names():
    with pytest.raises(KeyError, match="valid methods: .*leiden"):
        registry.get("nope")


def test_method_modules_import_without_heavy_dependencies():
    """Every method module (and the runner) imports with the standard library only."""
    modules = sorted({s.module for s in registry.METHODS.values() if s.module})
    code = ("import sys, importlib\n"
            f"for m in {modules!r} + ['scbench.methods.run', 'scbench.envs']:\n"
            "    assert callable(getattr(importlib.import_module(m), 'run', None)) or "
            "m.endswith(('.run', 'envs')), m\n"
            "heavy = {'numpy', 'pandas', 'anndata', 'scanpy', 'torch', 'tensorflow', 'scipy'}\n"
            "print(sorted(heavy & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_method_declares_the_parameters_it_accepts():
    """The workflow's start-up check reads them: each default passes it, as does None."""
    from dataclasses import fields

    from attentionae_sc import AttentionAEConfig

    for name, spec in registry.METHODS.items():
        accepted = accepted_params(name)
        assert (spec.module is None) <= (accepted == {}), name
        check_params(name, accepted)
    assert set(accepted_params("attentionae_sc")) == {
        f.name for f in fields(AttentionAEConfig)} | {"train_mask"}


@pytest.mark.parametrize("method, bad, match", [
    ("kmeans", {"n_clusters": 3}, "unknown parameter.*n_clusters.*valid: n_init"),
    ("kmeans", {"n_init": 2.5}, "n_init must be an integer"),
    ("kmeans", {"n_init": True}, "n_init must be an integer"),
    ("leiden", {"resolution": "1"}, "resolution must be a number"),
    ("attentionae_sc", {"detach_target": 0}, "detach_target must be a boolean"),
    ("attentionae_sc", {"max_cells": 5}, "max_cells .* must exceed n_neighbors"),
    ("true_labels", {"k": 3}, "takes no parameters"),
    ("sc3s", {"k": 3}, "unknown parameter.*k; valid: batch_size, d_range"),
    ("sc3s", {"d_range": [20, 25]}, "d_range must be an integer"),
    ("attentionae_sc", {"train_mask": True}, "train_mask must be the name of a boolean obs"),
])
def test_parameter_check_names_the_method_and_the_problem(method, bad, match):
    with pytest.raises(ValueError, match=match):
        check_params(method, bad)
    check_params("leiden", {"resolution": 1})  # an integer where the default is a float
    check_params("attentionae_sc", {"max_cells": None, "hidden": [32, 16, 8]})


def test_an_unavailable_baseline_fails_where_baselines_are_required(monkeypatch):
    record = {"status": "unavailable", "reason": "its environment is not built"}
    monkeypatch.setitem(globals(), "REQUIRE_BASELINES", False)
    with pytest.raises(pytest.skip.Exception, match="desc unavailable here"):
        skip_unavailable("desc", record)
    monkeypatch.setitem(globals(), "REQUIRE_BASELINES", True)
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_BASELINES=1 but desc unavailable"):
        skip_unavailable("desc", record)
    skip_unavailable("desc", {"status": "ok"})  # an available baseline neither skips nor fails
    ci = (REPO / ".ci" / "run").read_text()
    assert "SCBENCH_REQUIRE_BASELINES=1" in ci and "SCBENCH_SLURM_TEST=1" in ci


# --- methods on the toy data ------------------------------------------------------------------

RECOVERING = ["leiden", "louvain", "kmeans", "phenograph", "scvi", "desc", "seurat", "sc3s"]


@pytest.mark.parametrize("method", RECOVERING)
def test_method_recovers_well_separated_groups(method, toy, tmp_path):
    toy_path, truth = toy
    spec = registry.get(method)
    run_cli(method, toy_path, tmp_path, params=FAST_PARAMS.get(method))
    record = read_record(tmp_path)
    if spec.env != envs.MAIN:
        skip_unavailable(method, record)
    assert record["status"] == "ok", record["reason"]
    assert record["method"] == method and record["seed"] == 0 and record["n_cells"] == N_CELLS
    assert record["implementation"] == spec.implementation
    assert record["runtime_s"] > 0 and record["peak_mem_mb"] > 0
    assert record["n_clusters_given"] == (N_GROUPS if spec.needs_k else None)
    labels = read_labels(tmp_path)
    assert len(labels) == N_CELLS and set(labels.index) == set(truth.index)
    if record["embedding"] == "method":
        assert np.load(tmp_path / run.EMBEDDING).shape[0] == N_CELLS
    score = ari(truth, labels)
    print(f"{method}: ARI {score:.3f} in {record['runtime_s']:.1f} s")
    assert score > 0.9, f"{method} ARI {score:.3f}"


def test_seurat_takes_non_count_values_as_they_are(toy, tmp_path):
    # TPM-like values (most below 0.5): rounding them to integers would erase most of the data
    adata = ad.read_h5ad(toy[0])
    adata.X = adata.X * 0.01
    scaled = tmp_path / "scaled.h5ad"
    adata.write_h5ad(scaled)
    run_cli("seurat", scaled, tmp_path / "out")
    record = read_record(tmp_path / "out")
    skip_unavailable("seurat", record)
    assert record["status"] == "ok", record["reason"]
    assert ari(toy[1], read_labels(tmp_path / "out")) > 0.9


def test_sc3s_is_deterministic_and_rejects_non_counts(toy, tmp_path):
    toy_path, truth = toy
    runs = [tmp_path / "a", tmp_path / "b"]
    for outdir in runs:
        run_cli("sc3s", toy_path, outdir)
        record = read_record(outdir)
        skip_unavailable("sc3s", record)
        assert record["status"] == "ok", record["reason"]
    assert record["versions"]["sc3s"] == "0.1.1" and record["versions"]["numpy"].startswith("1.")
    assert record["extra"]["d_used"] == 25 and record["extra"]["n_facility"] == 3 * N_GROUPS
    pd.testing.assert_series_equal(read_labels(runs[0]), read_labels(runs[1]))
    embeddings = [np.load(outdir / run.EMBEDDING) for outdir in runs]
    assert embeddings[0].shape == (N_CELLS, 25)
    np.testing.assert_array_equal(*embeddings)
    adata = ad.read_h5ad(toy_path)
    adata.X = adata.X * 0.5
    adata.write_h5ad(tmp_path / "halved.h5ad")
    run_cli("sc3s", tmp_path / "halved.h5ad", tmp_path / "bad")
    record = read_record(tmp_path / "bad")
    assert record["status"] == "failed" and "sc3s needs raw counts" in record["reason"]


def test_controls(toy, tmp_path):
    toy_path, truth = toy
    run_cli("true_labels", toy_path, tmp_path / "true")
    assert ari(truth, read_labels(tmp_path / "true")) == 1.0
    run_cli("random_labels", toy_path, tmp_path / "random", seed=3)
    record = read_record(tmp_path / "random")
    assert record["status"] == "ok" and record["n_clusters_given"] == N_GROUPS
    assert record["embedding"] is None  # and its embedding.npy has no columns
    assert np.load(tmp_path / "random" / run.EMBEDDING).shape == (N_CELLS, 0)
    random_labels = read_labels(tmp_path / "random")
    assert random_labels.nunique() == N_GROUPS and abs(ari(truth, random_labels)) < 0.1


def test_attentionae_sc_contract_smoke(toy, tmp_path):
    """A few epochs only: the model's own tests cover its quality; this checks the contract."""
    toy_path, _ = toy
    params = {"epochs_pretrain": 5, "epochs_cluster": 2}
    run_cli("attentionae_sc", toy_path, tmp_path, params=params)
    record = read_record(tmp_path)
    assert record["status"] == "ok", record["reason"]
    assert record["device"] == "cpu" and record["versions"]["torch"].startswith("2.13.0")
    assert record["params"] == {**params, "variant": "default"}  # the row's preset is recorded
    assert record["extra"]["epochs_pretrain_run"] == 5
    stage = record["extra"]["clustering_stage"]
    assert len(stage["labels"]) == len(stage["n_clusters"]) == record["extra"]["epochs_cluster_run"]
    assert len(stage["labels"][0]) == len(stage["training_cells"]) == N_CELLS
    assert np.load(tmp_path / run.EMBEDDING).shape == (N_CELLS, 16)
    labels = read_labels(tmp_path)
    assert len(labels) == N_CELLS and record["n_clusters_found"] >= 1


# --- runner contract --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_thread_env(restore_thread_env):
    """In-process ``run.main`` sets OMP_NUM_THREADS & co.; undo it after each test."""


@pytest.fixture
def fake_method(tmp_path, monkeypatch):
    """``fake_method(name, body, **spec)`` registers a method whose ``run`` body is ``body``."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, body: str, header: str = "", **spec_fields) -> str:
        source = ("import numpy as np\nfrom scbench.methods.registry import MethodOutput\n"
                  f"{header}\n"
                  "def run(adata, *, seed, threads, device, n_clusters, params):\n"
                  + textwrap.indent(textwrap.dedent(body), "    "))
        (tmp_path / f"{name}.py").write_text(source)
        fields = {"name": name, "display_name": name, "reference": "test", "needs_k": False,
                  "gpu": False, "env": "main", "implementation": "reimplementation",
                  "module": name, **spec_fields}
        monkeypatch.setitem(registry.METHODS, name, registry.MethodSpec(**fields))
        sys.modules.pop(name, None)
        return name

    return make


def main_args(method, toy_path, outdir, *extra):
    return ["--method", method, "--input", str(toy_path), "--seed", "0", "--outdir", str(outdir),
            "--threads", "1", "--device", "cpu", *extra]


def test_wrong_length_labels_fail_with_clear_reason(fake_method, toy, tmp_path):
    name = fake_method("fake_short", "return MethodOutput(labels=np.zeros(adata.n_obs - 1))")
    assert run.main(main_args(name, toy[0], tmp_path / "out")) == 0
    record = read_record(tmp_path / "out")
    assert record["status"] == "failed"
    assert all(word in record["reason"] for word in ("fake_short", "299", "300"))
    assert record["reason"].startswith("ContractError:")
    assert_no_results(tmp_path / "out")


def test_raising_method_fails_and_leaves_empty_outputs(fake_method, toy, tmp_path, capsys):
    name = fake_method("fake_raise", "raise ValueError('boom')")
    out = tmp_path / "out"
    out.mkdir()
    (out / run.LABELS).write_text("stale\n")  # from an earlier run: must not survive
    (out / run.EMBEDDING).write_text("stale")
    assert run.main(main_args(name, toy[0], out)) == 0
    record = read_record(out)
    assert record["status"] == "failed" and record["reason"] == "ValueError: boom"
    assert record["runtime_s"] is not None
    assert_no_results(out)  # the stale files replaced, no partial or temp files
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("body, match", [
    ("return MethodOutput(labels=np.zeros(adata.n_obs), embedding=np.zeros((5, 2)))",
     "embedding of shape"),
    ("e = np.zeros((adata.n_obs, 2)); e[0, 0] = np.nan\n"
     "return MethodOutput(labels=np.zeros(adata.n_obs), embedding=e)", "non-finite"),
    ("return MethodOutput(labels=np.r_[np.nan, np.zeros(adata.n_obs - 1)])", "NaN"),
    ("return MethodOutput(labels=np.r_[-1, np.zeros(adata.n_obs - 1, int)])", "unassigned_label"),
    ("return np.zeros(adata.n_obs)", "not MethodOutput"),
])
def test_contract_violations_fail(fake_method, toy, tmp_path, body, match):
    name = fake_method("fake_bad", body)
    assert run.main(main_args(name, toy[0], tmp_path)) == 0
    record = read_record(tmp_path)
    assert record["status"] == "failed" and match in record["reason"]


def test_runner_passes_the_contracted_input(fake_method, toy, tmp_path):
    """CSR float32 counts, no truth for non-controls, k only when needs_k; -1 when declared."""
    name = fake_method("fake_probe", """
        import scipy.sparse as sp
        assert sp.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32
        assert "celltype" not in adata.obs, "truth leaked"
        assert n_clusters == 4 and params == {"a": 1} and device == "cpu" and threads == 1
        labels = np.arange(adata.n_obs) % n_clusters
        labels[0] = -1
        embedding = np.ones((adata.n_obs, 3))
        embedding[0] = np.nan  # allowed: the cell is unassigned
        return MethodOutput(labels=labels, embedding=embedding,
                            extra={"unassigned_label": -1, "versions": {"tool": "9"}})
        """, needs_k=True)
    out = tmp_path / "out"
    assert run.main(main_args(name, toy[0], out, "--params", '{"a": 1}')) == 0
    record = read_record(out)
    assert record["status"] == "ok", record["reason"]
    assert record["n_clusters_given"] == 4 and record["n_clusters_found"] == 4
    assert record["embedding"] == "method" and record["versions"]["tool"] == "9"
    assert record["params"] == {"a": 1} and record["peak_gpu_mb"] is None
    embedding = np.load(out / run.EMBEDDING)
    assert embedding.shape == (N_CELLS, 3) and np.isnan(embedding[0]).all()
    assert read_labels(out).iloc[0] == -1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [run.LABELS, run.EMBEDDING, run.RECORD])  # no temp files left behind
    assert (out / run.RECORD).stat().st_mode & 0o044  # readable by others (not mkstemp's 0600)


def test_unavailable_methods_record_the_reason(fake_method, toy, tmp_path, monkeypatch):
    spec = registry.MethodSpec(
        name="fake_registered", display_name="Fake", reference="test", needs_k=True, gpu=False,
        env="fake", implementation="original", module=None, unavailable="its env needs numpy<2")
    monkeypatch.setitem(registry.METHODS, spec.name, spec)
    assert run.main(main_args(spec.name, toy[0], tmp_path / "registered")) == 0
    record = read_record(tmp_path / "registered")
    assert record["status"] == "unavailable" and "numpy<2" in record["reason"]
    assert record["n_clusters_given"] is not None  # it needs k: k was given, then not run
    assert_no_results(tmp_path / "registered")
    name = fake_method("fake_missing_dep", "pass", header="import package_that_is_not_there")
    assert run.main(main_args(name, toy[0], tmp_path / "dep")) == 0
    record = read_record(tmp_path / "dep")
    assert record["status"] == "unavailable" and "package_that_is_not_there" in record["reason"]
    name = fake_method("fake_requires", "pass", header='REQUIRES = ("another_missing_pkg",)')
    assert run.main(main_args(name, toy[0], tmp_path / "req")) == 0
    record = read_record(tmp_path / "req")
    assert record["status"] == "unavailable" and "another_missing_pkg" in record["reason"]


def test_usage_errors_exit_nonzero(toy, tmp_path):
    done = run_cli("no_such_method", toy[0], tmp_path / "a", check=False)
    assert done.returncode != 0 and "valid methods" in done.stderr
    assert not (tmp_path / "a" / run.RECORD).exists()
    assert run.main(main_args("leiden", tmp_path / "missing.h5ad", tmp_path / "b")) == 2
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    assert run.main(main_args("leiden", tmp_path / "bad.h5ad", tmp_path / "c")) == 2
    assert run.main(main_args("leiden", toy[0], tmp_path / "d", "--params", "[1]")) == 2


def test_cli_method_error_is_a_failed_record_with_exit_0(toy, tmp_path):
    done = run_cli("kmeans", toy[0], tmp_path, params={"bogus": 1})
    record = read_record(tmp_path)
    assert record["status"] == "failed"
    assert "unknown parameter(s) for kmeans: bogus" in record["reason"]
    assert "Traceback" in done.stderr
    assert_no_results(tmp_path)


# --- environments -----------------------------------------------------------------------------


def test_pip_requirement_files_are_fully_pinned():
    files = sorted((REPO / "envs" / "pip").glob("*.txt"))
    assert files
    for path in files:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                assert "==" in line, f"{path.name}: unpinned {line!r}"
                if line.lower().startswith("torch=="):
                    assert line == "torch==2.13.0", f"{path.name}: torch must be 2.13.0"


def test_conda_main_env_pins_the_project_dependencies():
    import tomllib
    import yaml

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((REPO / "envs" / "main.yaml").read_text())["dependencies"]
    pip = next(item["pip"] for item in conda if isinstance(item, dict))
    assert sorted(pip) == sorted(project)


def test_env_list_names_the_envs_of_runnable_methods_only(capsys, monkeypatch):
    """`.ci/run` builds what `python -m scbench.envs list` prints; an unavailable method's env
    is not built (its runs use the project env, to record why)."""
    fake = registry.MethodSpec(
        name="fake_registered", display_name="Fake", reference="test", needs_k=False, gpu=False,
        env="fake_env", implementation="original", module=None, unavailable="not built")
    monkeypatch.setitem(registry.METHODS, fake.name, fake)
    assert envs.run_env(fake.name) == envs.MAIN
    assert envs.main(["list"]) == 0
    listed = capsys.readouterr().out.split()
    runnable = {spec.env for spec in registry.METHODS.values() if spec.module is not None}
    assert set(listed) == runnable - {envs.MAIN}
    assert {"phenograph", "scvi", "desc", "seurat", "sc3s"} <= set(listed)
    for env in listed:
        assert envs.requirement_files(env)


def test_env_build_is_skipped_when_ready_matches(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "envs" / "pip").mkdir(parents=True)
    (root / "envs" / "pip" / "toy.txt").write_text("six==1.17.0\n")
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    (prefix / "ready").write_text(envs.requirements_hash("toy", root) + "\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("must not rebuild"))
    assert envs.build("toy", prefix, root=root) is False
    before = envs.requirements_hash("toy", root)
    (root / "envs" / "pip" / "toy.nodeps.txt").write_text("desc==2.1.1\n")
    assert envs.requirements_hash("toy", root) != before  # a pin change means a rebuild
    assert not envs.is_ready("toy", prefix, root)
    assert envs.python_for("main", "anywhere") == sys.executable
    assert envs.python_for("scvi", "/x") == "/x/scvi/bin/python"
    with pytest.raises(FileNotFoundError, match="no requirement file"):
        envs.requirements_hash("absent", root)


def test_seurat_without_r_is_unavailable(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Rscript on PATH
    assert run.main(main_args("seurat", toy[0], tmp_path / "out")) == 0
    record = read_record(tmp_path / "out")
    assert record["status"] == "unavailable" and "Rscript" in record["reason"]
    assert "apt-get install" in record["reason"]


def test_a_rows_preset_cannot_be_overridden(toy, tmp_path):
    done = run_cli("attentionae_sc_paper", toy[0], tmp_path / "out", params={"variant": "default"},
                   check=False)
    assert done.returncode == 2
    assert "attentionae_sc_paper fixes variant='paper'" in done.stderr
    assert not (tmp_path / "out" / run.RECORD).exists()
