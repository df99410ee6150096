"""The paper's further figures and tables (issue 18): the numbers behind them, on small cases."""

from __future__ import annotations

import json
import re

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_score
from test_workflow import SNAKEMAKE, snakemake

from attentionae_sc import AttentionAESC
from attentionae_sc.simulation import simulate_counts
from scbench.aggregate import metrics_table
from scbench.attention_maps import attention_of, fit_model, plot, same_type_mass
from scbench.case_study import contingency, run_case_study
from scbench.distance_maps import (
    fig_distance_maps,
    relative_cosine,
    stratified_order,
    within_between_ratio,
)
from scbench.rare_types import fig_rare, rare_table, rare_types, recovery
from scbench.silhouette import fig_silhouette, silhouette_table
from scbench.training_time import is_deep, to_markdown, training_time_table
from scbench.umap_grid import fig_umap_grid, grid_methods

METHODS = {"attentionae_sc": {"display_name": "AttentionAE-sc"},
           "scvi": {"display_name": "scvi-tools"}, "leiden": {"display_name": "Leiden"}}


matplotlib.use("Agg")


def run(dataset, method, seed, runtime, status="ok", device="cpu", threads=2):
    return {"dataset": dataset, "method": method, "seed": seed, "status": status,
            "runtime_s": runtime if status == "ok" else None, "device": device,
            "threads": threads}


def test_deep_methods_from_the_registry():
    assert is_deep("attentionae_sc") and is_deep("scvi") and is_deep("desc")
    assert not is_deep("leiden") and not is_deep("kmeans") and not is_deep("unknown")


def test_training_time_table():
    records = [run("a", "attentionae_sc", s, t) for s, t in enumerate([10.0, 20.0, 30.0])]
    records += [run("a", "scvi", 0, 5.0, device="cuda", threads=1),
                run("a", "scvi", 1, None, status="failed"),
                run("b", "attentionae_sc", 0, 7.0), run("a", "leiden", 0, 1.0)]
    table = training_time_table(metrics_table(records), METHODS)
    assert list(zip(table["dataset"], table["method"])) == [
        ("a", "attentionae_sc"), ("b", "attentionae_sc"), ("a", "scvi")]  # no Leiden
    first = table.iloc[0]
    assert first["mean_s"] == pytest.approx(20.0) and first["sd_s"] == pytest.approx(10.0)
    assert (first["n_ok"], first["device"], first["threads"]) == (3, "cpu", "2")
    scvi = table.iloc[2]
    # 2 of the 3 seeds run on "a", one of them failed
    assert scvi["mean_s"] == 5.0 and scvi["status"] == "2/3 seeds; 1/2 ok"
    assert scvi["device"] == "cuda"
    text = to_markdown(table, METHODS)
    assert "| AttentionAE-sc (cpu, 2 thr.) | scvi-tools (cuda, 1 thr.) |" in text
    assert "| a | 20.0 ± 10.0 | 5.0 (2/3 seeds; 1/2 ok) |" in text
    assert "| b | 7.0 | – |" in text


def test_training_time_without_deep_methods():
    table = training_time_table(metrics_table([run("a", "leiden", 0, 1.0)]), METHODS)
    assert table.empty and "No deep method" in to_markdown(table, METHODS)


def write_run(folder, cells, labels, *, embedding=None, status="ok", unassigned=None,
              method="m", seed=0):
    """The three files of one run, as scbench.methods.run writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"method": method, "seed": seed, "status": status,
              "embedding": None if embedding is None else "method",
              "extra": {} if unassigned is None else {"unassigned_label": unassigned}}
    (folder / "record.json").write_text(json.dumps(record))
    pd.DataFrame({"cell": cells, "label": labels}).to_csv(folder / "labels.tsv", sep="\t",
                                                         index=False)
    np.save(folder / "embedding.npy",
            np.empty((len(cells), 0)) if embedding is None else embedding)


@pytest.fixture
def two_groups(tmp_path):
    """A prepared dataset of 40 cells in two types, its PCA, and runs of two methods."""
    rng = np.random.default_rng(0)
    cells = [f"c{i}" for i in range(40)]
    truth = np.repeat(["A", "B"], 20)
    pca = np.vstack([rng.normal(0, 1, (20, 5)), rng.normal(6, 1, (20, 5))]).astype(np.float32)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    ad.AnnData(np.ones((40, 3), np.float32), obs=pd.DataFrame({"celltype": truth}, index=cells)
               ).write_h5ad(prepared / "d.h5ad")
    np.save(prepared / "d.pca.npy", pca)
    good = np.where(truth == "A", 0, 1)
    good[0] = -1  # one cell left unassigned
    own = rng.normal(0, 1, (40, 2))
    write_run(tmp_path / "runs/d/good/seed0", cells, good, embedding=own, unassigned=-1,
              method="good")
    write_run(tmp_path / "runs/d/shuffled/seed0", cells, rng.permutation(good), method="shuffled")
    write_run(tmp_path / "runs/d/broken/seed0", cells, ["x"] * 40, status="failed",
              method="broken")
    metrics = metrics_table([
        {"dataset": "d", "method": "good", "seed": 0, "status": "ok", "asw": 0.5,
         "embedding_source": "method"},
        {"dataset": "d", "method": "shuffled", "seed": 0, "status": "ok", "asw": 0.0,
         "embedding_source": "pca"},
        {"dataset": "d", "method": "broken", "seed": 0, "status": "failed"}])
    return {"cells": cells, "truth": truth, "pca": pca, "good": good, "own": own,
            "metrics": metrics, "root": tmp_path}


def test_silhouette_on_the_shared_pca(two_groups, tmp_path):
    case = two_groups
    table = silhouette_table(case["metrics"], case["root"] / "runs", case["root"] / "prepared")
    assert list(table["method"]) == ["good", "shuffled"]  # the failed run has no labels
    good = table.set_index("method").loc["good"]
    assigned = case["good"] >= 0  # the unassigned cell is left out, as in scoring
    expected = silhouette_score(case["pca"][assigned], case["good"][assigned])
    assert good["asw_pca"] == pytest.approx(expected) and expected > 0.7
    assert good["asw_own"] == 0.5 and good["own_space"] == "method"  # from metrics.tsv
    assert table.set_index("method").loc["shuffled", "asw_pca"] < 0.2
    fig_silhouette(table, None, tmp_path / "s.png", tmp_path / "s.pdf")
    assert (tmp_path / "s.png").stat().st_size > 1000 and (tmp_path / "s.pdf").is_file()


def brute_force_ratio(x, types):
    distance = cdist(x, x, metric="cosine")
    same = types[:, None] == types[None, :]
    off = ~np.eye(len(x), dtype=bool)
    return distance[same & off].mean() / distance[~same].mean()


def test_within_between_ratio_on_known_structure():
    types = np.repeat(["a", "b", "c"], [3, 4, 5])
    axes = np.eye(3)[np.repeat([0, 1, 2], [3, 4, 5])]  # each type along its own axis
    assert within_between_ratio(axes * np.arange(1, 13)[:, None], types) == pytest.approx(0.0)
    # a = {e1, e2}, b = {-e1, -e2}: within 1 (orthogonal), between (2 + 1 + 1 + 2) / 4 = 1.5
    square = np.array([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    assert within_between_ratio(square, ["a", "a", "b", "b"]) == pytest.approx(2 / 3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)) + np.repeat(np.eye(4)[:3] * 2, 10, axis=0)
    labels = np.repeat(["p", "q", "r"], 10)
    assert within_between_ratio(x, labels) == pytest.approx(brute_force_ratio(x, labels))
    assert within_between_ratio(x, labels) < 0.8  # separated types: within < between
    assert within_between_ratio(x, rng.permutation(labels)) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="two types"):
        within_between_ratio(x, ["p"] * 30)
    with pytest.raises(ValueError, match="nonzero norm"):
        within_between_ratio(np.vstack([x[:29], np.zeros(4)]), labels)


def test_relative_cosine_and_the_subsample():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_allclose(relative_cosine(x), [[0, 0.5, 1], [0.5, 0, 0.5], [1, 0.5, 0]])
    types = np.array(["b"] * 90 + ["a"] * 9 + ["c"])
    order = stratified_order(types, 50)
    assert list(types[order]) == ["a"] * 4 + ["b"] * 45 + ["c"]  # sorted, each type kept
    assert len(set(order)) == len(order)


def test_distance_maps_figure_says_what_did_not_run(tmp_path):
    rng = np.random.default_rng(0)
    types = np.repeat(["A", "B"], 20)
    z = rng.normal(size=(40, 3)) + np.repeat([[5, 0, 0], [0, 5, 0]], 20, axis=0)
    z[0] = np.nan  # an unassigned cell: left out
    table = fig_distance_maps([("Z", z), ("DAE", "not run")], types, "t",
                              tmp_path / "d.png", tmp_path / "d.pdf")
    assert table["n_cells"].tolist() == [39, 0] and np.isnan(table["ratio"][1])
    assert table["ratio"][0] == pytest.approx(brute_force_ratio(z[1:], types[1:]))
    assert (tmp_path / "d.png").stat().st_size > 1000 and (tmp_path / "d.pdf").is_file()


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A briefly trained model on 80 simulated cells of 3 types, saved."""
    adata = simulate_counts(80, 300, 3, seed=3)
    folder = tmp_path_factory.mktemp("model")
    path = folder / "model.pt"
    data = folder / "data.h5ad"
    adata.write_h5ad(data)
    fit_model(data, 0, {"epochs_pretrain": 4, "epochs_cluster": 2, "n_hvg": 200}, path)
    return data, path


@pytest.mark.slow
def test_attention_weights_reproduce_the_fused_block(small_model):
    data, path = small_model
    model = AttentionAESC.load(path, device="cpu")
    adata = ad.read_h5ad(data)
    queries = np.arange(adata.n_obs)
    weights = attention_of(model, adata, queries)
    assert set(weights) == {"fusion1", "fusion2"}
    heads = model.config.heads
    for name, w in weights.items():
        assert w.shape == (heads, adata.n_obs, adata.n_obs)
        np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-5)
    # the weights times the values, through the head merge, give what the fused kernel gave
    captured = {}
    block = model.module_.fusion2
    hook = block.register_forward_hook(lambda _, args, out: captured.update(args=args, out=out))
    model.transform(adata)
    hook.remove()
    query_source, key_source = captured["args"]
    with torch.no_grad():
        value = block._split(block.to_value(key_source))[0]
        mixed = torch.from_numpy(weights["fusion2"]) @ value
        out = block.unify_heads(mixed.transpose(0, 1).reshape(adata.n_obs, -1))
    np.testing.assert_allclose(out.numpy(), captured["out"].numpy(), rtol=1e-4, atol=1e-5)


def test_same_type_mass():
    weights = np.array([[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]])  # 1 head, 2 queries, 3 keys
    mass = same_type_mass(weights, np.array(["a", "b"]), np.array(["a", "b", "b"]))
    np.testing.assert_allclose(mass, [(0.5 + 1.0) / 2])


@pytest.mark.slow
def test_attention_figure_and_table(small_model, tmp_path):
    data, path = small_model
    adata = ad.read_h5ad(data)
    model = AttentionAESC.load(path, device="cpu")
    write_run(tmp_path / "run", list(adata.obs_names), model.labels_, unassigned=-1)
    table = plot(data, path, tmp_path / "run", tmp_path / "a.tsv", tmp_path / "a.png",
                 tmp_path / "a.pdf")
    assert len(table) == 2 * model.config.heads
    assert (table["ari_model_vs_run"] == 1.0).all()  # the run's own labels
    shares = adata.obs["celltype"].value_counts(normalize=True)
    assert table["same_type_chance"].iloc[0] == pytest.approx((shares**2).sum())
    assert table["same_type_mass"].between(0, 1).all()
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "a.pdf").is_file()


def test_rare_type_recall_on_a_constructed_case():
    # 100 cells: A 60, B 36, rare R 4 (4 %)
    truth = np.array(["A"] * 60 + ["B"] * 36 + ["R"] * 4)
    assert rare_types(truth) == ["R"]
    # R's cells: 3 in cluster "r" (with 1 B cell), 1 in A's cluster
    predicted = np.array(["a"] * 60 + ["b"] * 35 + ["r"] + ["r"] * 3 + ["a"], dtype=object)
    recall, purity, n = recovery(truth, predicted, "R")
    assert (recall, purity, n) == (0.75, 0.75, 1)
    # merged into the large cluster: no cluster has R as its majority
    merged = np.array(["a"] * 60 + ["b"] * 36 + ["a"] * 4, dtype=object)
    recall, purity, n = recovery(truth, merged, "R")
    assert recall == 0.0 and np.isnan(purity) and n == 0
    # split over two R clusters, one cell unassigned (None): 3 of 4 found, both clusters pure
    split = np.array(["a"] * 60 + ["b"] * 36 + ["r1", "r1", "r2", None], dtype=object)
    assert recovery(truth, split, "R") == (0.75, 1.0, 2)
    table = rare_table(truth, {("m", 0): predicted, ("m", 1): split, ("x", 0): None})
    assert table[["seed", "recall", "purity"]].values.tolist() == [[0, 0.75, 0.75],
                                                                   [1, 0.75, 1.0]]
    assert (table["share"] == 0.04).all() and (table["n_cells"] == 4).all()


def test_rare_type_figure(tmp_path):
    truth = np.array(["A"] * 60 + ["B"] * 36 + ["R"] * 4)
    predicted = np.array(["a"] * 60 + ["b"] * 36 + ["r"] * 4, dtype=object)
    table = rare_table(truth, {("m", 0): predicted})
    coords = np.random.default_rng(0).normal(size=(100, 2))
    fig_rare(table, truth, coords, None, "t", tmp_path / "r.png", tmp_path / "r.pdf")
    fig_rare(rare_table(truth[:96], {}), truth[:96], coords[:96], None, "no rare type",
             tmp_path / "n.png", tmp_path / "n.pdf")
    for stem in ("r", "n"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000


def test_umap_grid_columns():
    configured = ["kmeans", "desc", "louvain", "attentionae_sc", "phenograph", "leiden", "seurat"]
    assert grid_methods(configured) == ["attentionae_sc", "leiden", "louvain", "seurat",
                                        "phenograph"]
    assert grid_methods(["kmeans", "louvain"]) == ["louvain"]


@pytest.mark.slow
def test_umap_grid_figure(two_groups, tmp_path):
    case = two_groups
    adata = ad.read_h5ad(case["root"] / "prepared/d.h5ad")
    labels = np.where(case["good"] < 0, None, case["good"].astype(str)).astype(object)
    columns = [("attentionae_sc", labels, case["own"]), ("leiden", labels, None),
               ("louvain", None, None)]
    fig_umap_grid(adata, columns, case["pca"], "t", tmp_path / "g.png", tmp_path / "g.pdf")
    assert (tmp_path / "g.png").stat().st_size > 1000 and (tmp_path / "g.pdf").is_file()


def test_contingency_rows_are_cluster_fractions():
    labels = np.array(["x"] * 3 + ["y"] * 5)
    truth = np.array(["A", "A", "B", "B", "B", "B", "B", "A"])
    table = contingency(labels, truth)
    assert list(table.index) == ["y", "x"]  # largest first
    np.testing.assert_allclose(table.loc["x"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(table.loc["y"], [0.2, 0.8])
    assert list(contingency(np.zeros(3), np.array(["10", "2", "1"])).columns) == ["1", "2", "10"]


@pytest.mark.slow
def test_case_study_writes_every_output(tmp_path):
    adata = simulate_counts(150, 400, 3, seed=5)
    prepared = tmp_path / "sim.h5ad"
    adata.write_h5ad(prepared)
    truth = adata.obs["celltype"].astype(str).to_numpy()
    codes = pd.factorize(truth, sort=True)[0]
    labels = codes.copy()
    labels[:3] = -1  # unassigned cells are left out
    embedding = np.eye(3)[codes] * 5 + np.random.default_rng(0).normal(size=(150, 3))
    write_run(tmp_path / "run", list(adata.obs_names), labels, embedding=embedding,
              unassigned=-1)
    choices = run_case_study(prepared, tmp_path / "run", tmp_path / "out", compare=("0", "2"))
    assert choices["compare"] == "0 vs 2" and choices["cluster"] in {"0", "1", "2"}
    for stem in ("overview", "dotplot", "subclusters"):
        assert (tmp_path / f"out/{stem}.png").stat().st_size > 1000
    degs = pd.read_csv(tmp_path / "out/degs_between.tsv", sep="\t")
    assert len(degs) > 100  # every expressed gene, ranked
    assert set(degs["cluster"]) == {0} and set(degs["reference"]) == {2}
    markers = pd.read_csv(tmp_path / "out/markers.tsv", sep="\t")
    assert markers.groupby("cluster").size().tolist() == [3, 3, 3]
    table = pd.read_csv(tmp_path / "out/cluster_vs_type.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert table.to_numpy().max(axis=1).min() == 1.0  # each cluster is one type here
    with pytest.raises(ValueError, match="no cluster"):
        run_case_study(prepared, tmp_path / "run", tmp_path / "bad", cluster="9")


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")
def test_figures_target_plans_every_paper_figure(tmp_path):
    result = snakemake(tmp_path, "-n", "figures")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = result.stdout + result.stderr
    for rule in ("s3_training_time", "figure_silhouette", "figure_umap_grid",
                 "figure_distance_maps", "figure_rare_types", "attention_model",
                 "figure_attention", "case_study"):
        assert re.search(rf"^{rule}\s+\d+$", planned, re.MULTILINE), rule
