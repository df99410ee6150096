"""The paper's experiments: expansion into runs, perturbations, tables and figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from scbench import experiments as ex
from scbench.experiment_figures import level_order, summary_table, write_outputs

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "config" / "experiments-quick.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def names(settings):
    return [(s.method, s.name) for s in settings]


def test_sweep_settings_equal_to_the_defaults_are_the_one_base_run():
    spec = {"datasets": ["d"], "seeds": [0], "grid": {
        "graph_method": ["gauss", "umap"], "heads": [1, 8], "resolution": ["auto", 0.5]}}
    got = names(ex.settings("sweeps", spec, {}))
    assert got == [("attentionae_sc", "base"), ("attentionae_sc", "graph_method-umap"),
                   ("attentionae_sc", "heads-1"), ("attentionae_sc", "resolution-0.5")]
    # method_params move the defaults: heads 1 is then the base, 8 a setting
    moved = names(ex.settings("sweeps", spec, {"attentionae_sc": {"heads": 1}}))
    assert ("attentionae_sc", "heads-8") in moved and ("attentionae_sc", "heads-1") not in moved


def test_bad_experiment_settings_are_refused_by_name():
    base = {"datasets": ["d"], "seeds": [0]}
    with pytest.raises(ValueError, match="no parameter 'head'"):
        ex.settings("sweeps", {**base, "grid": {"head": [2]}}, {})
    with pytest.raises(ValueError, match="heads"):
        ex.settings("sweeps", {**base, "grid": {"heads": [0]}}, {})
    with pytest.raises(ValueError, match="fixes ablation"):
        ex.settings("ablations", {**base, "method": "attentionae_sc_dae",
                                  "conditions": ["no_zinb"]}, {})
    with pytest.raises(ValueError, match="leiden cannot"):
        ex.settings("robustness", {**base, "methods": ["leiden"], "downsample": [0.5]}, {})


def test_robustness_plan_pairs_each_method_with_each_perturbation():
    spec = {"datasets": ["a", "b"], "seeds": [0, 1], "methods": ["attentionae_sc", "leiden"],
            "dropout": [0.1, 0.5], "downsample_by": []}
    runs = ex.plan("robustness", spec, {})
    assert len(runs) == 2 * 2 * 2 * 3  # datasets x seeds x methods x (base + 2 dropouts)
    dropped = {r.setting.name: r.setting.perturbation for r in runs}
    assert dropped == {"base": None, "dropout-0.1": "dropout-0.1", "dropout-0.5": "dropout-0.5"}


@pytest.mark.parametrize("sparse", [False, True])
def test_dropout_removes_the_asked_fraction_of_nonzero_counts(sparse):
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(60, 40)).astype(np.float32)
    x = sp.csr_matrix(counts) if sparse else counts
    out = ex.drop_counts(x, 0.3, np.random.default_rng(1))
    dense = out.toarray() if sparse else out
    assert sp.issparse(out) == sparse and out.shape == x.shape and out.dtype == x.dtype
    nnz = np.count_nonzero(counts)
    assert np.count_nonzero(dense) == nnz - round(0.3 * nnz)
    kept = dense != 0
    assert np.array_equal(dense[kept], counts[kept])  # the rest is untouched
    again = ex.drop_counts(x, 0.3, np.random.default_rng(1))
    assert np.array_equal(dense, again.toarray() if sparse else again)  # seeded


def test_stratified_downsampling_keeps_the_fraction_of_each_type():
    labels = np.array(["a"] * 50 + ["b"] * 10 + ["c"] * 2)
    mask = ex.training_mask(len(labels), 0.4, np.random.default_rng(0), labels)
    assert [mask[labels == t].sum() for t in "abc"] == [20, 4, 1]
    random = ex.training_mask(len(labels), 0.4, np.random.default_rng(0))
    assert random.sum() == round(0.4 * 62)
    with pytest.raises(ValueError):
        ex.training_mask(10, 0.0, np.random.default_rng(0))


def test_perturb_names_a_known_perturbation():
    adata = ad.AnnData(np.ones((60, 5), dtype=np.float32),
                       obs=pd.DataFrame({"celltype": ["x", "y"] * 30},
                                        index=[f"c{i}" for i in range(60)]))
    out = ex.perturb(adata, "downsample-stratified-0.5", seed=3)
    assert out.obs[ex.TRAIN_COLUMN].sum() == 30 and ex.TRAIN_COLUMN not in adata.obs
    with pytest.raises(ValueError, match="not a perturbation"):
        ex.perturb(adata, "dropout-random-0.5", seed=3)


@pytest.mark.slow
def test_downsampled_training_predicts_every_cell():
    from attentionae_sc.simulation import simulate_counts
    from scbench.methods import attentionae_sc

    adata = simulate_counts(n_cells=150, n_genes=300, n_groups=3, seed=4)
    adata.obs = adata.obs.rename(columns={"group": "celltype"})
    adata = ex.perturb(adata, "downsample-random-0.4", seed=0)
    out = attentionae_sc.run(adata, seed=0, threads=1, device="cpu", n_clusters=None,
                             params={"epochs_pretrain": 5, "epochs_cluster": 2,
                                     "train_mask": ex.TRAIN_COLUMN})
    assert out.labels.shape == (150,) and (out.labels >= 0).all()
    assert out.embedding.shape[0] == 150 and np.isfinite(out.embedding).all()
    assert out.extra["n_training_cells"] == 60
    trained = out.extra["clustering_stage"]["training_cells"]
    assert set(trained) <= set(np.flatnonzero(adata.obs[ex.TRAIN_COLUMN]))


def _runs() -> pd.DataFrame:
    """A small runs table: heads 1 vs the base (8) on two datasets x two seeds."""
    rows = []
    for dataset in ("d1", "d2"):
        for seed in (0, 1):
            for value, ari in (("1", 0.2 + 0.1 * seed), ("8", 0.6 + 0.1 * seed)):
                rows.append({"experiment": "sweeps", "factor": "heads", "value": value,
                             "dataset": dataset, "method": "attentionae_sc",
                             "setting": "base" if value == "8" else "heads-1", "seed": seed,
                             "uses_labels": False, "status": "ok", "ari": ari, "nmi": ari,
                             "asw": 0.1, "db": 1.0, "n_clusters": 3})
    rows.append({**rows[0], "seed": 2, "status": "failed", "ari": None})
    return pd.DataFrame(rows, columns=ex.RUN_COLUMNS)


def test_summary_means_over_datasets_and_seeds_and_counts_failed_runs():
    summary = summary_table(_runs())
    overall = summary[summary["dataset"] == "all"].set_index("value")
    assert overall.loc["1", "ari_mean"] == pytest.approx(0.25)
    assert overall.loc["8", "ari_mean"] == pytest.approx(0.65)
    assert overall.loc["1", "ari_sd"] == pytest.approx(np.std([0.2, 0.3, 0.2, 0.3], ddof=1))
    assert (overall.loc["1", "n_ok"], overall.loc["1", "n_runs"]) == (4, 5)
    per_dataset = summary[summary["dataset"] == "d1"].set_index("value")
    assert per_dataset.loc["8", "ari_mean"] == pytest.approx(0.65)


def test_experiment_figure_and_tables_are_written(tmp_path):
    write_outputs(_runs(), tmp_path, "Sweeps", ("ari", "nmi"))
    for name in ("runs.tsv", "summary.tsv", "summary.md", "figure.png", "figure.pdf"):
        assert (tmp_path / name).stat().st_size > 0
    assert "0.250 ± 0.058" in (tmp_path / "summary.md").read_text()


def test_figure_layouts_follow_factors_metrics_and_methods():
    from scbench.experiment_figures import experiment_figure

    sweeps = _runs()
    two_factors = pd.concat([sweeps, sweeps.assign(factor="n_hvg")], ignore_index=True)
    fig = experiment_figure(two_factors, "Sweeps", ("ari", "nmi"))
    assert len(fig.axes) == 4  # factors in columns, metrics in rows
    ablations = sweeps.assign(factor="ablation",
                              value=sweeps["value"].map({"1": "no_zinb", "8": "none"}))
    fig = experiment_figure(ablations, "Ablations", ("ari", "nmi", "asw", "db"))
    assert [ax.get_title() for ax in fig.axes][:2] == ["ARI", "NMI"]  # one factor: side by side
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["w/o\nZINB", "full\nmodel"]
    robustness = pd.concat([sweeps, sweeps.assign(method="attentionae_sc_dae", ari=0.1)])
    fig = experiment_figure(robustness.assign(factor="dropout"), "Robustness")
    means = sorted(t.get_text() for t in fig.axes[0].texts)
    assert means == ["0.10", "0.10", "0.25", "0.65"]  # printed under each box, per method
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-2:] == ["d1", "d2"]  # pooled datasets: one marker each, named
    markers = {tuple(c.get_paths()[0].vertices.round(3).ravel()) for c in fig.axes[0].collections
               if len(c.get_offsets())}
    assert len(markers) == 2


def test_levels_are_plotted_words_first_then_numbers_ascending():
    assert level_order(["1.0", "auto", "0.2", "2.0", "0.1"]) == ["auto", "0.1", "0.2", "1.0",
                                                                 "2.0"]


def test_base_run_stands_in_each_factor_at_its_default():
    spec = {"datasets": ["d"], "seeds": [0], "grid": {"heads": [2], "n_hvg": [500]}}
    runs = ex.plan("sweeps", spec, {"attentionae_sc": {"n_hvg": 1000}})
    scores = {ex.score_path(r.dataset, r.setting.method, r.setting.name, r.seed):
              {"status": "ok", "ari": 0.5} for r in runs}
    table = ex.runs_table(runs, scores, {"attentionae_sc": {"n_hvg": 1000}})
    base = table[table["setting"] == "base"].set_index("factor")["value"].to_dict()
    assert base == {"heads": "8", "n_hvg": "1000"}


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")
def test_quick_config_dry_run_has_one_job_per_planned_run(tmp_path):
    config = yaml.safe_load(QUICK.read_text())
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"registry": str(REPO / "config" / "datasets.yaml")}))
    result = subprocess.run(
        [str(SNAKEMAKE), "paper_experiments", "-n", "-s", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(QUICK), str(extra)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    runs = {(r.dataset, r.setting.method, r.setting.name, r.seed)
            for name, spec in config["experiments"].items()
            for r in ex.plan(name, spec, config["method_params"])}
    perturbed = {(d, s, seed) for d, _, s, seed in runs if s != "base" and "-" in s
                 and s.split("-")[0] in ("dropout", "downsample")}
    # AttentionAE-sc: base + 5 sweep settings (gauss, 8 heads, 2500 HVGs are the base)
    # + 4 ablations + 4 perturbations; the DAE: base + 4 perturbations; 2 datasets x 2 seeds
    assert len(runs) == 2 * 2 * (1 + 5 + 4 + 4 + 5)
    assert int(counts["run_experiment"]) == len(runs) == int(counts["score_experiment"])
    assert int(counts["perturb"]) == len(perturbed) == 2 * 2 * 4
    assert int(counts["experiment_summary"]) == 3


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")
def test_an_experiment_target_without_its_config_says_what_is_missing(tmp_path):
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(REPO / "config" / "test.yaml"), "--config",
         f"registry={REPO / 'config' / 'datasets.yaml'}", "--", "sweeps"],
        capture_output=True, text=True)
    assert result.returncode != 0
    assert "no experiments.sweeps" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")
def test_quick_experiments_run_end_to_end(tmp_path):
    """config/experiments-quick.yaml, as CI runs it: every experiment's tables and figure."""
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"registry": str(REPO / "config" / "datasets.yaml")}))
    result = subprocess.run(
        [str(SNAKEMAKE), "paper_experiments", "--cores", "2", "-s", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(QUICK), str(extra)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load(QUICK.read_text())
    for name, spec in config["experiments"].items():
        out = tmp_path / "results" / "experiments" / name
        runs = pd.read_csv(out / "runs.tsv", sep="\t")
        planned = ex.plan(name, spec, config["method_params"])
        assert set(zip(runs["dataset"], runs["setting"], runs["seed"])) == {
            (r.dataset, r.setting.name, r.seed) for r in planned}
        assert (runs["status"] == "ok").all() and runs["n_clusters"].ge(1).all()
        assert runs["ari"].between(-1, 1).all()
        summary = pd.read_csv(out / "summary.tsv", sep="\t")
        assert set(summary["dataset"]) == {"all", *spec["datasets"]}
        assert (out / "figure.png").stat().st_size > 10_000
    robustness = pd.read_csv(tmp_path / "results/experiments/robustness/runs.tsv", sep="\t")
    down = robustness[robustness["factor"].str.startswith("downsample")]
    trained = down.loc[down["setting"] != "base"].set_index("factor")["n_training_cells"]
    assert (trained["downsample-random"] == 150).all()  # half of the 300 cells
    assert trained["downsample-stratified"].between(145, 155).all()  # half of each type
    stratified = (down["factor"] == "downsample-stratified") & (down["setting"] != "base")
    assert down["uses_labels"].eq(stratified).all()  # the base run uses no labels
