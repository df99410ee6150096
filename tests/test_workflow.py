"""The Snakemake workflow end to end, in a temporary working directory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

pytestmark = pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` with an extra config file."""
    extra = workdir / "extra.yaml"
    extra.write_text(yaml.safe_dump({"registry": str(REPO / "config" / "datasets.yaml"),
                                     **(config or {})}))
    command = [str(SNAKEMAKE), *args, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", "--configfile", str(REPO / "config" / "test.yaml"), str(extra)]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir)


@pytest.mark.slow
def test_tiny_config_fills_every_table_and_figure(tmp_path, failing_method_config):
    # the failing method becomes rows too (unavailable runs: tests/test_aggregate.py; no
    # registered method is unavailable since sc3s got its environment)
    methods = [m for m in failing_method_config["methods"] if m != "louvain"]  # test.yaml's
    config = failing_method_config
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = pd.read_csv(tmp_path / "results/tables/metrics.tsv", sep="\t")
    assert len(metrics) == (len(methods) + 1) * 2
    status = metrics.groupby("method")["status"].agg(set)
    assert status["louvain"] == {"failed"}
    failed = metrics[metrics["method"] == "louvain"]
    assert failed["reason"].str.contains("n_neighbors").all() and failed["ari"].isna().all()
    metrics = metrics[metrics["method"].isin(methods)]
    assert set(metrics["status"]) == {"ok"}
    by_method = metrics.groupby("method")["ari"].mean()
    assert by_method["true_labels"] == pytest.approx(1.0)
    assert abs(by_method["random_labels"]) < 0.1
    assert by_method["leiden"] > 0.9
    source = metrics.groupby("method")["embedding_source"].agg(set)
    assert source["attentionae_sc"] == {"method"} and source["true_labels"] == {"pca"}
    assert (metrics["runtime_s"] >= 0).all() and (metrics["peak_mem_mb"] > 0).all()
    for name in ("summary", "summary_nmi"):
        for ext in ("tsv", "md", "tex"):
            assert (tmp_path / f"results/tables/{name}.{ext}").stat().st_size > 0
    for name in ("fig2_ari", "figS2_metrics", "fig_cost", "umap_sim_tiny",
                 "clustering_stage_sim_tiny"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"results/figures/{name}.{ext}").stat().st_size > 1000
    stage = pd.read_csv(tmp_path / "results/tables/clustering_stage_sim_tiny.tsv", sep="\t")
    assert set(stage["method"]) == {"attentionae_sc", "attentionae_sc_paper",
                                    "attentionae_sc_reference"}
    assert set(stage["seed"]) == {0, 1} and stage["ari"].between(-1, 1).all()
    final = stage.loc[stage.groupby(["method", "seed"])["epoch"].idxmax()]
    assert (final["n_clusters"] >= 1).all()
    # every run, failed ones too, has the three declared outputs
    runs = sorted((tmp_path / "results/runs").glob("*/*/seed*"))
    assert len(runs) == len(metrics) + 2  # + louvain, two seeds
    for run_dir in runs:
        assert {p.name for p in run_dir.iterdir()} == {"record.json", "labels.tsv",
                                                      "embedding.npy"}, run_dir
    # a second run has nothing to do: outputs are complete and up to date
    again = snakemake(tmp_path, "-n", config=config)
    assert "Nothing to be done" in again.stdout + again.stderr
    # the HTML report builds from these results, with the figures and the metrics table
    report = snakemake(tmp_path, "--report", "report.html", config=config)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert "fig2_ari.png" in html and "metrics.tsv" in html


def test_values_given_on_the_command_line_get_their_types(tmp_path):
    result = snakemake(tmp_path, "-n", "-p", "--config", "seeds=[0,7]",
                       "method_params={kmeans: {n_init: 5, scale_max: 7.5}}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "seed7" in result.stdout
    assert """'{"n_init": 5, "scale_max": 7.5}'""" in result.stdout  # numbers, not strings


def test_only_runnable_gpu_methods_request_a_gpu(tmp_path):
    # the GPU-capable methods ask for one; the others (sc3s: its own env) do not
    result = snakemake(tmp_path, "-n", config={
        "methods": ["scgnn", "attentionae_sc", "leiden", "sc3s"], "seeds": [0]})
    assert result.returncode == 0, result.stderr[-2000:]
    gpu = dict(re.findall(r"wildcards: .*method=(\w+).*\n\s*resources: .*gpu=(\d)",
                          result.stdout))
    assert gpu == {"scgnn": "1", "attentionae_sc": "1", "leiden": "0", "sc3s": "0"}


@pytest.mark.parametrize("key, value, expected", [
    ("datasets", ["sim_tiny", "no_such_data"], "unknown datasets 'no_such_data'"),
    ("methods", ["leiden", "magic_method"], "unknown methods 'magic_method'"),
    ("method_params", {"attentionae_cs": {"epochs_pretrain": 5}},
     "unknown method_params 'attentionae_cs'"),
    ("method_params", {"attentionae_sc": {"epoch_pretrain": 5}},
     "unknown parameter(s) for attentionae_sc: epoch_pretrain"),
    ("method_params", {"attentionae_sc": {"ablation": "no_gcn"}}, "ablation must be one of"),
    ("method_params", {"leiden": {"resolution": "high"}}, "resolution must be a number"),
    ("method_params", {"random_labels": {"k": 3}}, "it takes no parameters"),
    ("simulations", {"sim_tiny": {"n_cells": 240, "n_genes": 600, "n_groups": 4, "seed": 1,
                                  "de_porb": 0.3}}, "de_porb"),
    ("custom_datasets", {"mine": {"path": "x.h5ad", "format": "h5ad", "labels": "ct"}}, "labels"),
    ("seeds", [-1], "seeds"),
])
def test_bad_config_fails_at_start_naming_the_key(tmp_path, key, value, expected):
    # a real run, not a dry run: it must stop before its first job (the dataset's preparation)
    result = snakemake(tmp_path, config={key: value})
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "logs").exists()


def test_corrupted_mirror_file_is_rejected_and_nothing_is_written(tmp_path, data_mirror):
    mirror = tmp_path / "mirror"
    shutil.copytree(data_mirror / "worm_neuron_cell", mirror / "worm_neuron_cell")
    target = mirror / "worm_neuron_cell" / "worm_neuron_cell.h5"
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0xFF
    target.write_bytes(bytes(content))
    work = tmp_path / "work"
    work.mkdir()
    result = snakemake(work, "resources/prepared/worm_neuron_cell.h5ad",
                       config={"data_mirror": str(mirror), "datasets": ["worm_neuron_cell"]})
    assert result.returncode != 0
    log = (work / "logs/fetch/worm_neuron_cell/worm_neuron_cell.h5.log").read_text()
    assert "checksum mismatch" in log and "expected sha256 4f2a3c4b" in log
    downloads = work / "resources/downloads/worm_neuron_cell"
    assert not downloads.exists() or not any(downloads.iterdir())


@pytest.mark.realdata
@pytest.mark.slow
def test_real_mirror_dataset_runs_through_the_workflow(tmp_path, data_mirror):
    result = snakemake(tmp_path, config={
        "data_mirror": str(data_mirror), "datasets": ["Baron_Pancreas_mouse"],
        "methods": ["leiden", "true_labels"], "seeds": [0]})
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = pd.read_csv(tmp_path / "results/tables/metrics.tsv", sep="\t")
    leiden = metrics.set_index("method").loc["leiden"]
    assert leiden["status"] == "ok" and 0.3 < leiden["ari"] < 0.9
    prepared = json.loads((tmp_path / "results/scores/Baron_Pancreas_mouse/true_labels/seed0.json")
                          .read_text())
    assert prepared["n_clusters"] == 13
