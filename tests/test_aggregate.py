"""Aggregation of per-run score records into metrics and summary tables."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from scbench.aggregate import (
    METRICS_COLUMNS,
    main,
    method_info,
    metrics_table,
    parse_benchmark_paths,
    read_metrics,
    summary_table,
    summary_to_latex,
    summary_to_markdown,
    write_metrics,
    write_summary,
)

DATASETS = ["sim_easy", "sim_hard"]
SEEDS = [0, 1, 2]
METHODS = {
    "attentionae_sc": {"display_name": "AttentionAE-sc", "needs_k": False,
                       "implementation": "original"},
    "km_pca": {"display_name": "k_means", "needs_k": True, "implementation": "reimplementation"},
    "leiden": {"display_name": "Leiden", "needs_k": False, "implementation": "control"},
}


def status_of(dataset: str, method: str, seed: int) -> str:
    """km_pca: seed 2 fails on sim_easy; unavailable on sim_hard."""
    if method == "km_pca" and dataset == "sim_hard":
        return "unavailable"
    if method == "km_pca" and seed == 2:
        return "failed"
    return "ok"


def make_records(rng_seed: int = 0) -> list[dict]:
    """2 datasets x 3 methods x 3 seeds; the control scores best everywhere.

    ARI/NMI/ASW: AttentionAE-sc is the best non-control; DB (lower is better): k-means is.
    """
    rng = np.random.default_rng(rng_seed)
    records = []
    for dataset in DATASETS:
        for method in METHODS:
            for seed in SEEDS:
                status = status_of(dataset, method, seed)
                ok = status == "ok"
                base = {"attentionae_sc": 0.7, "km_pca": 0.5, "leiden": 0.9}[method]
                db = {"attentionae_sc": 1.5, "km_pca": 1.0, "leiden": 0.8}[method]
                noise = rng.uniform(-0.05, 0.05, 4)
                scores = dict(zip(["ari", "nmi", "asw", "db"],
                                  [base + noise[0], base + noise[1], base / 2 + noise[2],
                                   db + noise[3]]))
                records.append({
                    "dataset": dataset, "method": method, "seed": seed, "status": status,
                    "reason": None if ok else f"{status} for a test",
                    **{k: float(v) if ok else None for k, v in scores.items()},
                    "n_clusters": 4 if ok else None, "runtime_s": 10.0 * (seed + 1),
                    "peak_mem_mb": 200.0, "peak_gpu_mb": None, "device": "cpu",
                    "embedding_source": ("pca" if method == "leiden" else "method") if ok else None,
                })
    return records


@pytest.fixture
def records() -> list[dict]:
    return make_records()


@pytest.fixture
def metrics(records) -> pd.DataFrame:
    return metrics_table(records)


def ok_values(records, dataset, method, metric):
    return np.array([r[metric] for r in records if r["dataset"] == dataset
                     and r["method"] == method and r["status"] == "ok"])


def test_metrics_columns_order_and_nan(records, tmp_path):
    bench = tmp_path / "benchmarks" / "sim_easy" / "leiden" / "seed1.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\t"
                     "cpu_time\n12.5\t0:00:12\t321.4\t900\t300\t310\t0\t1\t95\t11.9\n")
    missing = tmp_path / "benchmarks" / "sim_easy" / "leiden" / "seed2.tsv"
    table = metrics_table(records[::-1], parse_benchmark_paths([str(bench), str(missing)]))
    assert list(table.columns) == METRICS_COLUMNS
    assert len(table) == len(DATASETS) * len(METHODS) * len(SEEDS)
    keys = list(zip(table["dataset"], table["method"], table["seed"]))
    assert keys == sorted(keys)
    row = table.set_index(["dataset", "method", "seed"])
    assert row.loc[("sim_easy", "leiden", 1), "bench_s"] == 12.5
    assert row.loc[("sim_easy", "leiden", 1), "bench_max_rss_mb"] == pytest.approx(321.4)
    assert np.isnan(row.loc[("sim_easy", "leiden", 2), "bench_s"])  # file listed but absent
    assert np.isnan(row.loc[("sim_easy", "leiden", 0), "bench_max_rss_mb"])  # not listed
    failed = row.loc[("sim_easy", "km_pca", 2)]
    assert failed["status"] == "failed" and np.isnan(failed["ari"])
    assert pd.isna(failed["n_clusters"]) and table["n_clusters"].dtype == "Int64"
    assert table["peak_gpu_mb"].isna().all()


def test_metrics_duplicates_and_bad_status_are_errors(records):
    with pytest.raises(ValueError, match="duplicate runs.*sim_easy"):
        metrics_table(records + [records[0]])
    with pytest.raises(ValueError, match="unknown status"):
        metrics_table([{**records[0], "status": "done"}])


def test_benchmark_path_must_match_pattern():
    assert parse_benchmark_paths(["x/benchmarks/d_1/m/seed12.tsv"]) == {
        ("d_1", "m", 12): "x/benchmarks/d_1/m/seed12.tsv"}
    with pytest.raises(ValueError, match="does not match"):
        parse_benchmark_paths(["logs/d/m/seed0.tsv"])


def test_summary_numbers_and_status(records, metrics):
    summary = summary_table(metrics, METHODS, "ari")
    assert list(summary.index) == DATASETS + ["Mean"]
    assert list(summary.columns.get_level_values("method").unique()) == [
        "attentionae_sc", "km_pca", "leiden"]
    for dataset in DATASETS:
        values = ok_values(records, dataset, "attentionae_sc", "ari")
        assert summary.loc[dataset, ("attentionae_sc", "mean")] == pytest.approx(values.mean())
        assert summary.loc[dataset, ("attentionae_sc", "sd")] == pytest.approx(values.std(ddof=1))
    partial = ok_values(records, "sim_easy", "km_pca", "ari")
    assert len(partial) == 2
    assert summary.loc["sim_easy", ("km_pca", "mean")] == pytest.approx(partial.mean())
    assert summary.loc["sim_easy", ("km_pca", "status")] == "2/3 ok"
    assert summary.loc["sim_hard", ("km_pca", "status")] == "unavailable"
    assert np.isnan(summary.loc["sim_hard", ("km_pca", "mean")])
    # Mean row: mean of per-dataset means, only for methods complete on every dataset.
    per_dataset = [ok_values(records, d, "leiden", "ari").mean() for d in DATASETS]
    assert summary.loc["Mean", ("leiden", "mean")] == pytest.approx(np.mean(per_dataset))
    assert np.isnan(summary.loc["Mean", ("km_pca", "mean")])
    assert summary.loc["Mean", ("km_pca", "status")] == "incomplete"


def test_a_mean_over_partial_cells_is_marked_and_not_ranked(records):
    # km_pca on sim_hard as well, all seeds ok and best there: its sim_easy cell lacks seed 2
    records = [r for r in records if not (r["method"] == "km_pca" and r["dataset"] == "sim_hard")]
    records += [{**r, "dataset": "sim_hard", "status": "ok", "ari": 0.99}
                for r in records if r["method"] == "km_pca" and r["dataset"] == "sim_easy"]
    summary = summary_table(metrics_table(records), METHODS, "ari")
    assert summary.loc["Mean", ("km_pca", "status")] == "partial"
    assert summary.loc["Mean", ("km_pca", "mean")] > summary.loc["Mean", ("attentionae_sc", "mean")]
    mean_row = summary_to_markdown(summary, METHODS).splitlines()[4].split(" | ")
    assert mean_row[2].endswith("(partial)") and not mean_row[2].startswith("**")
    assert mean_row[1].startswith("**")


def test_seeds_without_a_value_are_counted_and_not_ranked(records):
    # a successful seed with one cluster has no silhouette; it is not a failed seed
    records = [{**r, "asw": None} if (r["method"], r["dataset"], r["seed"]) ==
               ("attentionae_sc", "sim_hard", 0) else r for r in records]
    summary = summary_table(metrics_table(records), METHODS, "asw")
    assert summary.loc["sim_hard", ("attentionae_sc", "status")] == "1 not computable"
    assert summary.loc["sim_hard", ("attentionae_sc", "n_ok")] == 2
    assert summary.loc["Mean", ("attentionae_sc", "status")] == "partial"


def test_values_that_round_to_zero_print_without_a_sign(records):
    records = [{**r, "ari": -0.0001} if r["method"] == "leiden" else r for r in records]
    md = summary_to_markdown(summary_table(metrics_table(records), METHODS, "ari"), METHODS)
    assert "-0.000" not in md and "| 0.000 ± 0.000 |" in md


def test_summary_mixed_failures_and_controls_last(records):
    records = [r for r in records if not (r["method"] == "km_pca" and r["dataset"] == "sim_easy")]
    records += [{**r, "dataset": "sim_easy", "status": "failed" if r["seed"] < 2 else "unavailable"}
                for r in records if r["method"] == "km_pca"]
    reordered = {"leiden": METHODS["leiden"], "km_pca": METHODS["km_pca"],
                 "attentionae_sc": METHODS["attentionae_sc"]}
    summary = summary_table(metrics_table(records), reordered, "nmi")
    assert summary.loc["sim_easy", ("km_pca", "status")] == "failed (2/3)"
    assert list(summary.columns.get_level_values("method").unique()) == [
        "km_pca", "attentionae_sc", "leiden"]


def test_markdown_bold_asterisk_controls(metrics):
    summary = summary_table(metrics, METHODS, "ari")
    md = summary_to_markdown(summary, METHODS)
    header, _, easy, hard = md.splitlines()[:4]
    assert r"k\_means\*" not in header and r"k_means\*" in header  # needs_k asterisk
    assert header.index("controls →") > header.index("AttentionAE-sc")
    assert header.index("controls →") < header.index("Leiden")
    # The control is best but never bold; AttentionAE-sc (best non-control) is.
    assert easy.count("**") == 2 and "| **0." in easy and " ± " in easy
    assert "(2/3 ok)" in easy and "unavailable" in hard
    assert r"\* needs the number of clusters" in md


def test_lower_is_better_for_db_and_partial_runs_are_not_ranked(metrics):
    # columns: dataset, AttentionAE-sc, k_means*, separator, Leiden; k_means has the lowest db
    # but only 2 of its 3 sim_easy seeds succeeded: it is not ranked there.
    md = summary_to_markdown(summary_table(metrics, METHODS, "db"), METHODS)
    easy = md.splitlines()[2].split(" | ")
    assert "(2/3 ok)" in easy[2] and not easy[2].startswith("**") and easy[1].startswith("**")
    assert "shared PCA for: Leiden" in md
    failed = metrics.loc[metrics["status"] == "failed", ["dataset", "seed"]]
    keys = pd.MultiIndex.from_frame(metrics[["dataset", "seed"]])
    # every method on the seeds where none failed: k_means 2 of 2 seeds ok
    without_failures = metrics[~keys.isin(pd.MultiIndex.from_frame(failed))]
    md = summary_to_markdown(summary_table(without_failures, METHODS, "db"), METHODS)
    easy = md.splitlines()[2].split(" | ")
    assert easy[2].startswith("**") and not easy[1].startswith("**")


def test_cost_summaries_rank_the_cheapest_and_clusters_found_are_not_ranked(records):
    # On sim_easy AttentionAE-sc takes 10/20/30 s on its three seeds, k-means 1 s on each
    # (all three succeed here) and finds 3 clusters where the others find 4.
    for rec in records:
        if rec["method"] == "km_pca" and rec["dataset"] == "sim_easy":
            rec.update(status="ok", runtime_s=1.0, n_clusters=3)
    metrics = metrics_table(records)
    runtime = summary_to_markdown(summary_table(metrics, METHODS, "runtime_s"), METHODS)
    easy = runtime.splitlines()[2].split(" | ")
    assert easy[1] == "20 ± 10" and easy[2] == "**1 ± 0**"  # no decimals; lowest is bold
    assert "Runtime (s) (lower is better)" in runtime
    clusters = summary_to_markdown(summary_table(metrics, METHODS, "n_clusters"), METHODS)
    easy = clusters.splitlines()[2].split(" | ")
    assert easy[1] == "4.0 ± 0.0" and easy[2] == "3.0 ± 0.0"
    assert clusters.count("**") == 2  # only the Mean row's label
    assert "Clusters found (not ranked)" in clusters and "bold" not in clusters


def test_latex_escaping_rule_and_bold(metrics):
    methods = {**METHODS, "attentionae_sc": {**METHODS["attentionae_sc"],
                                             "display_name": "Attn_AE & co"}}
    tex = summary_to_latex(summary_table(metrics, methods, "ari"), methods)
    assert r"\begin{tabular}{lrr|r}" in tex
    assert r"Attn\_AE \& co" in tex and r"k\_means*" in tex
    assert r"\textbf{" in tex and r"$\pm$" in tex
    assert r"sim\_easy" in tex and "sim_easy" not in tex


def test_method_info_accepts_objects_and_dicts():
    @dataclass
    class Spec:
        name: str
        display_name: str
        needs_k: bool
        implementation: str

    assert method_info({"x": Spec("x", "X", True, "control")}, "x") == ("X", True, True)
    assert method_info({"x": {"display_name": "X"}}, "x") == ("X", False, False)
    assert method_info(None, "y") == ("y", False, False)


def test_write_summary_and_cli(records, tmp_path):
    summary = summary_table(metrics_table(records), METHODS, "ari")
    write_summary(summary, tmp_path / "s.tsv", tmp_path / "s.md", tmp_path / "s.tex", METHODS)
    tsv = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert {"attentionae_sc_mean", "attentionae_sc_sd", "km_pca_status"} <= set(tsv.columns)
    assert tsv["km_pca_status"].tolist() == ["2/3 ok", "unavailable", "incomplete"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left

    score_dir = tmp_path / "results" / "scores"
    paths = []
    for rec in records:
        path = score_dir / rec["dataset"] / rec["method"] / f"seed{rec['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
        paths.append(str(path))
    out = tmp_path / "results" / "tables"
    main(["--scores", *paths, "--methods-order", "leiden,km_pca,attentionae_sc",
          "--out-metrics", str(out / "metrics.tsv"), "--out-summary-prefix", str(out / "summary")])
    extras = ("", "_nmi", "_asw", "_db", "_runtime_s", "_peak_mem_mb", "_n_clusters")
    expected = {"metrics.tsv"} | {f"summary{m}.{ext}" for m in extras
                                  for ext in ("tsv", "md", "tex")}
    assert {p.name for p in out.iterdir()} == expected
    assert len(pd.read_csv(out / "metrics.tsv", sep="\t")) == len(records)


def test_previous_tables_are_kept_and_new_scores_replace_their_runs(records, tmp_path):
    old = metrics_table(records)
    write_metrics(old, tmp_path / "old.tsv")
    rerun = {**records[0], "ari": 0.123}
    path = tmp_path / "rerun.json"
    path.write_text(json.dumps(rerun))
    main(["--previous", str(tmp_path / "old.tsv"), "--scores", str(path),
          "--out-metrics", str(tmp_path / "metrics.tsv"),
          "--out-summary-prefix", str(tmp_path / "summary")])
    merged = read_metrics(tmp_path / "metrics.tsv")
    assert len(merged) == len(old)  # the rerun replaced its run; nothing else changed
    key = (merged["dataset"] == rerun["dataset"]) & (merged["method"] == rerun["method"]) \
        & (merged["seed"] == rerun["seed"])
    assert merged.loc[key, "ari"].tolist() == [0.123]
    pd.testing.assert_frame_equal(merged[~key].reset_index(drop=True),
                                  read_metrics(tmp_path / "old.tsv")[~key.to_numpy()]
                                  .reset_index(drop=True))
    with pytest.raises(SystemExit):
        main(["--out-metrics", "m.tsv", "--out-summary-prefix", "s"])  # nothing to aggregate


def test_a_method_run_on_fewer_seeds_than_the_others_is_marked_and_not_ranked(records):
    # one seed of attentionae_sc on sim_easy, as after merging a table with a single extra run
    few = [r for r in records if not (r["dataset"] == "sim_easy"
                                      and r["method"] == "attentionae_sc" and r["seed"] > 0)]
    few = [{**r, "ari": 0.99} if r["method"] == "attentionae_sc" else r for r in few]
    summary = summary_table(metrics_table(few), METHODS, "ari")
    assert summary.loc["sim_easy", ("attentionae_sc", "status")] == "1/3 seeds"
    assert summary.loc["sim_hard", ("attentionae_sc", "status")] == "ok"
    assert summary.loc["Mean", ("attentionae_sc", "status")] == "partial"
    markdown = summary_to_markdown(summary, METHODS)
    assert "0.990 (1/3 seeds)" in markdown and "**0.990 (1/3 seeds)**" not in markdown
