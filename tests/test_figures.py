"""Benchmark figures: the numbers each one draws, and non-empty PNG and PDF files."""

from __future__ import annotations

import json

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from test_aggregate import METHODS, make_records

from scbench.aggregate import metrics_table, write_metrics
from scbench.figures import fig_cost, fig_metric_bars, fig_s2, main

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    return metrics_table(make_records())


def assert_written(tmp_path, stem: str) -> None:
    for suffix in (".png", ".pdf"):
        path = tmp_path / f"{stem}{suffix}"
        assert path.is_file() and path.stat().st_size > 1000, path
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def bar_values(ax) -> tuple[list[float], list[float]]:
    """(bar heights, seed dots) drawn on ``ax``, each sorted."""
    heights = sorted(patch.get_height() for patch in ax.patches)
    dots = sorted(y for c in ax.collections if isinstance(c, PathCollection)  # scatter
                  for _, y in c.get_offsets())
    return heights, dots


def expected_values(metrics: pd.DataFrame, column: str, log: bool = False):
    """(mean of the ok seeds per dataset and method, every ok value): what the bars show."""
    ok = metrics[metrics["status"] == "ok"].dropna(subset=[column])
    if log:
        ok = ok[ok[column] > 0]
    return (sorted(ok.groupby(["dataset", "method"])[column].mean()),
            sorted(ok[column].astype(float)))


def test_metric_bars(metrics, tmp_path, monkeypatch):
    fig_metric_bars(metrics, METHODS, "ari", tmp_path / "fig2.png", tmp_path / "fig2.pdf")
    assert_written(tmp_path, "fig2")
    captured = _captured_figure(monkeypatch)
    fig_metric_bars(metrics, METHODS, "ari", "fig2.png", "fig2.pdf")
    heights, dots = bar_values(captured[0].axes[0])
    means, values = expected_values(metrics, "ari")
    np.testing.assert_allclose(heights, means)  # one bar per dataset and method: the mean
    np.testing.assert_allclose(dots, values)  # and a dot per successful seed


def test_bars_mark_a_mean_over_only_some_seeds(metrics):
    import matplotlib.pyplot as plt

    from scbench.figures import _bar_panel, method_styles

    order = ["attentionae_sc", "km_pca", "leiden"]
    fig, ax = plt.subplots()
    _bar_panel(ax, metrics, order, ["sim_easy", "sim_hard"], method_styles(order, METHODS), "ari")
    texts = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert texts.count("2/3") == 1 and "n/a" in texts  # k-means: 2 of 3 seeds; unavailable
    fig, ax = plt.subplots()
    _bar_panel(ax, metrics[metrics["method"] != "leiden"], order, ["sim_easy"],
               method_styles(order, METHODS), "ari")
    texts = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert "not run" in texts  # a method without runs on a dataset says so


def test_s2_and_cost(metrics, tmp_path, monkeypatch):
    fig_s2(metrics, METHODS, tmp_path / "s2.png", tmp_path / "s2.pdf")
    gpu = metrics.assign(peak_gpu_mb=np.where(metrics["method"] == "attentionae_sc", 500.0, np.nan))
    fig_cost(gpu, None, tmp_path / "cost.png", tmp_path / "cost.pdf")
    assert_written(tmp_path, "s2")
    assert_written(tmp_path, "cost")
    captured = _captured_figure(monkeypatch)
    fig_s2(metrics, METHODS, "s2.png", "s2.pdf")
    fig_cost(gpu, None, "cost.png", "cost.pdf")
    s2, cost = captured
    for ax, column in zip(s2.axes, ("nmi", "asw", "db")):
        for got, want in zip(bar_values(ax), expected_values(metrics, column, column == "db")):
            np.testing.assert_allclose(got, want, err_msg=column)
    assert len(cost.axes) == 3  # runtime, memory and, as one method recorded it, GPU memory
    filled = gpu.assign(runtime_s=gpu["runtime_s"].fillna(gpu["bench_s"]),
                        peak_mem_mb=gpu["peak_mem_mb"].fillna(gpu["bench_max_rss_mb"]))
    for ax, column in zip(cost.axes, ("runtime_s", "peak_mem_mb", "peak_gpu_mb")):
        for got, want in zip(bar_values(ax), expected_values(filled, column, log=True)):
            np.testing.assert_allclose(got, want, err_msg=column)


def test_figures_cli(metrics, tmp_path):
    write_metrics(metrics, tmp_path / "metrics.tsv")
    main(["bars", str(tmp_path / "metrics.tsv"), "--metric", "nmi",
          "--methods-order", "attentionae_sc,km_pca,leiden", "--out-png", str(tmp_path / "b.png"),
          "--out-pdf", str(tmp_path / "b.pdf")])
    assert_written(tmp_path, "b")


@pytest.mark.slow
def test_umaps_from_run_records(tmp_path, monkeypatch):
    """60 cells, 3 types: one run with an embedding (and two unassigned cells with NaN rows),
    one without, one failed (CLI path). Labels come in reverse cell order: each predicted
    panel must colour every cell as its true type (the labels are right once aligned)."""
    rng = np.random.default_rng(0)
    truth = np.repeat(["alpha", "beta", "gamma"], 20)
    counts = rng.poisson(1.0, (60, 40)).astype(np.float32)
    for i in range(3):
        counts[i * 20:(i + 1) * 20, i * 10:(i + 1) * 10] += 8
    adata = ad.AnnData(counts)
    adata.obs_names = [f"cell{i}" for i in range(60)]
    adata.obs["celltype"] = pd.Categorical(truth)
    adata.write_h5ad(tmp_path / "prepared.h5ad")
    np.save(tmp_path / "pca.npy", np.log1p(counts) @ rng.normal(size=(40, 5)))
    files = {"records": [], "labels": [], "embeddings": []}
    for method, status, embedding in [("attentionae_sc", "ok", True), ("leiden", "ok", False),
                                      ("km_pca", "failed", False)]:
        run_dir = tmp_path / "runs" / method / "seed0"
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text(json.dumps(
            {"method": method, "status": status, "extra": {"unassigned_label": -1},
             "embedding": "method" if embedding else None}))
        for key, name in (("records", "record.json"), ("labels", "labels.tsv"),
                          ("embeddings", "embedding.npy")):
            files[key].append(str(run_dir / name))
        labels = np.arange(60) // 20
        rows = np.zeros((60 if status == "ok" else 0, 0))
        if embedding:
            labels[:2] = -1
            rows = counts[:, :30] + rng.normal(0, 0.1, (60, 30))
            rows[:2] = np.nan
        np.save(run_dir / "embedding.npy", rows)
        cells = adata.obs_names[::-1] if status == "ok" else []  # reverse order: aligned by name
        pd.DataFrame({"cell": cells, "label": labels[::-1][:len(cells)]}
                     ).to_csv(run_dir / "labels.tsv", sep="\t", index=False)
    main(["umaps", str(tmp_path / "prepared.h5ad"), "--records", *files["records"],
          "--labels", *files["labels"], "--embeddings", *files["embeddings"],
          "--pca", str(tmp_path / "pca.npy"), "--seed", "0",
          "--out-png", str(tmp_path / "umap.png"), "--out-pdf", str(tmp_path / "umap.pdf")])
    assert_written(tmp_path, "umap")

    captured = _captured_figure(monkeypatch)
    main(["umaps", str(tmp_path / "prepared.h5ad"), "--records", *files["records"],
          "--labels", *files["labels"], "--embeddings", *files["embeddings"],
          "--pca", str(tmp_path / "pca.npy"), "--out-png", "u.png", "--out-pdf", "u.pdf"])
    axes = captured[0].axes
    assert len(axes) == 4  # two rows: the failed run has none, and is named below instead
    assert "km_pca" in captured[0].get_supxlabel()
    assert [axes[0].get_title(), axes[1].get_title(), axes[3].get_title()] == [
        "True labels", "Predicted (3 clusters, 2 unassigned)", "Predicted (3 clusters)"]
    assert "method embedding" in axes[0].get_ylabel()
    assert "shared PCA" in axes[2].get_ylabel()
    for truth_ax, predicted_ax, first in ((axes[0], axes[1], 2), (axes[2], axes[3], 0)):
        true_colours = truth_ax.collections[0].get_facecolors()
        predicted = predicted_ax.collections[0]
        np.testing.assert_array_equal(predicted.get_offsets(),
                                      truth_ax.collections[0].get_offsets()[first:])
        np.testing.assert_array_equal(predicted.get_facecolors(), true_colours[first:])


def test_only_controls_get_grey_bars():
    from matplotlib.colors import to_rgb

    from scbench.figures import method_styles
    from scbench.methods.registry import METHODS as REGISTRY

    styles = method_styles(list(REGISTRY), REGISTRY)
    for name, style in styles.items():
        red, green, blue = to_rgb(style["facecolor"])
        grey = max(red, green, blue) - min(red, green, blue) < 0.05
        assert grey == (REGISTRY[name].implementation == "control"), name


def _captured_figure(monkeypatch):
    """Make the figure functions hand over their Figure instead of saving it."""
    import scbench.figures as figures

    captured = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, *paths: captured.append(fig))
    return captured


def test_cost_legend_gives_threads_and_leaves_out_methods_that_never_ran(metrics, monkeypatch):
    captured = _captured_figure(monkeypatch)
    threads = metrics["method"].map({"attentionae_sc": 2, "km_pca": 1, "leiden": 1})
    cost = metrics.assign(threads=threads.astype("Int64"),
                          runtime_s=np.where(metrics["method"] == "leiden", 0.0, 3.0))
    cost.loc[cost["method"] == "km_pca", "status"] = "unavailable"
    fig_cost(cost, METHODS, "cost.png", "cost.pdf")
    legend = [t.get_text() for t in captured[0].legends[0].get_texts()]
    assert legend == ["AttentionAE-sc (2 threads)", "Leiden (control, 1 thread)"]
    assert "k_means*" in captured[0].get_supxlabel()  # named below instead
    runtime_texts = [t.get_text() for t in captured[0].axes[0].texts]
    assert runtime_texts.count("0") == 2  # leiden's zero runtime on each dataset, not dropped


def test_split_clusters_keep_the_colours_of_their_types():
    from scbench.figures import cluster_colour_slots

    truth = np.repeat(["A", "B", "C"], [40, 20, 20])
    predicted = np.repeat(["p", "q", "r", "s"], [25, 15, 20, 20])  # A split into p and q
    assert cluster_colour_slots(predicted, truth, ["A", "B", "C"]) == {
        "p": 0, "r": 1, "s": 2, "q": 3}


def test_dataset_names_are_rotated_only_where_they_would_collide(metrics, monkeypatch):
    captured = _captured_figure(monkeypatch)
    short = metrics.assign(dataset=metrics["dataset"].map({"sim_easy": "a", "sim_hard": "b"}))
    long = metrics.assign(dataset=metrics["dataset"] + "_a_long_descriptive_name")
    for table in (short, long):
        fig_metric_bars(table, METHODS, "ari", "fig2.png", "fig2.pdf")
    rotations = [{t.get_rotation() for t in fig.axes[0].get_xticklabels()} for fig in captured]
    assert rotations == [{0.0}, {30.0}]
