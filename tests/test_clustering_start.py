"""The default's clustering start (Leiden resolution chosen by the silhouette of Z), the three
variants, the per-epoch record of the clustering stage, progress lines and partial labels."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from attentionae_sc import AttentionAEConfig, AttentionAESC
from attentionae_sc import graph as graphs
from attentionae_sc.cli import main
from attentionae_sc.model import collapsed
from attentionae_sc.simulation import simulate_counts

FAST = {"epochs_pretrain": 20, "epochs_cluster": 10}


def two_elongated_types(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart types of 150 cells, each a continuous band (a gradient inside the type):
    modularity at resolution 1.0 cuts each band into chunks, which are redundant."""
    rng = np.random.default_rng(seed)
    bands = []
    for offset in (0.0, 40.0):
        t = rng.uniform(0, 12, 150)
        points = rng.normal(0, 0.3, (150, 16))
        points[:, 0] += t + offset
        bands.append(points)
    return np.vstack(bands).astype(np.float32), np.repeat([0, 1], 150)


def start_partition(z: np.ndarray, **config) -> tuple[np.ndarray, float, np.ndarray]:
    """Labels, resolution and resolution scan of the clustering start on ``z``."""
    graph = graphs.neighbor_graph(z, n_neighbors=15, method="gauss", knn=False,
                                  metric="cosine", seed=0)
    labels, resolution, scan = AttentionAESC(seed=0, progress=False, **config)._start_partition(
        z, graph.connectivities)
    return labels, resolution, np.asarray(scan)


def test_redundant_chunks_of_one_type_merge_into_its_cluster():
    z, types = two_elongated_types()
    fixed, _, _ = start_partition(z, resolution=1.0)
    assert len(np.unique(fixed)) > 2  # the paper's start cuts each band into chunks
    auto, resolution, scan = start_partition(z)
    assert adjusted_rand_score(types, auto) == 1.0
    np.testing.assert_allclose(scan[:, 0], AttentionAEConfig().resolution_grid)
    chosen = scan[scan[:, 0] == resolution][0]
    assert chosen[1] == 2 and chosen[2] == np.nanmax(scan[:, 2])


def test_a_fixed_resolution_is_used_as_given():
    z, _ = two_elongated_types()
    labels, resolution, scan = start_partition(z, resolution=0.7)
    assert resolution == 0.7 and len(scan) == 1 and scan[0][1] == len(np.unique(labels))


def test_variants_set_the_start_and_the_cli_reads_auto():
    assert AttentionAEConfig().resolution == "auto"
    assert AttentionAEConfig.from_variant("paper").resolution == 1.0
    reference = AttentionAEConfig.from_variant("reference")
    assert reference.resolution == 1.0 and reference.detach_target is False
    assert AttentionAEConfig.from_variant("paper", resolution="auto").resolution == "auto"
    for bad in ({"resolution": "fine"}, {"resolution": 0}, {"resolution_grid": ()},
                {"resolution_grid": (0.5, -1.0)}):
        with pytest.raises(ValueError, match="resolution"):
            AttentionAEConfig(**bad)


@pytest.mark.parametrize(("max_q", "n_centres", "n_clusters", "caught"), [
    (0.8, 5, 5, False),   # DEC sharpening: q near 1
    (0.21, 5, 5, True),   # rows near 1/5 = 0.2: Q has flattened, the labels mean nothing
    (0.99, 5, 1, True),   # every cell in one cluster
])
def test_a_collapsed_clustering_stage_is_caught(max_q, n_centres, n_clusters, caught):
    assert collapsed(max_q, n_centres, n_clusters) is caught


def test_a_collapse_is_caught_in_a_run(monkeypatch, caplog):
    # a clustering stage whose Q rows are uniform: every centre equally far from every cell
    adata = simulate_counts(120, 200, 3, seed=1)
    monkeypatch.setattr(AttentionAESC, "_soft_assignment",
                        lambda self, z: (z[:, :1] * 0 + 1).expand(-1, len(self.centres_))
                        / len(self.centres_))
    with caplog.at_level(logging.WARNING, logger="attentionae_sc"):
        model = AttentionAESC(seed=0, progress=False, **FAST).fit(adata)
    assert model.run_info()["collapsed"] is True
    assert any("collapsed" in r.getMessage() for r in caplog.records)


def test_history_keeps_each_epoch_and_logs_progress(caplog):
    adata = simulate_counts(120, 200, 3, seed=1)
    with caplog.at_level(logging.INFO, logger="attentionae_sc"):
        model = AttentionAESC(seed=0, progress=False, min_cluster_epochs=20, **FAST).fit(adata)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines if " epoch " in line] == [
        "pretrain epoch 10/20", "pretrain epoch 20/20", "cluster epoch 10/10"]
    assert any(line.startswith("clustering start: resolution") for line in lines)
    info = model.run_info()
    history = info["history"]["cluster"]
    assert history["labels"].shape == (10, 120)
    np.testing.assert_array_equal(history["n_clusters"],
                                  [len(np.unique(row)) for row in history["labels"]])
    assert ((history["max_q"] > 0) & (history["max_q"] <= 1)).all()
    np.testing.assert_array_equal(info["training_cells"], np.arange(120))
    assert info["resolution_scan"].shape == (10, 3) and info["collapsed"] is False


def test_cli_scores_only_the_labelled_cells_and_says_so(tmp_path, capsys):
    adata = simulate_counts(150, 200, 3, seed=2)
    partial = adata.obs["celltype"].astype(object).to_numpy()
    partial[:40] = None
    adata.obs["partial"] = pd.Categorical(partial)
    adata.write_h5ad(tmp_path / "in.h5ad")
    metrics = tmp_path / "m.json"
    code = main([str(tmp_path / "in.h5ad"), "--out", str(tmp_path / "out.h5ad"), "--label-key",
                 "partial", "--metrics-json", str(metrics), "--epochs-pretrain", "10",
                 "--epochs-cluster", "5", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr()
    assert "on the 110 cells with a label; 40 without one left out" in printed.out
    # not a terminal: progress lines go to stderr
    assert "pretrain epoch 10/10" in printed.err and "cluster epoch" in printed.err
    record = json.loads(metrics.read_text())
    assert record["n_cells_scored"] == 110
    result = __import__("anndata").read_h5ad(tmp_path / "out.h5ad")
    known = result.obs["partial"].notna().to_numpy()
    expected = adjusted_rand_score(result.obs["partial"][known].astype(str),
                                   result.obs["attentionae_sc"][known].astype(str))
    assert record["ari"] == pytest.approx(expected)


@pytest.mark.slow
def test_default_keeps_large_groups_whole_where_the_paper_start_splits_them():
    # 4 groups of 100 cells: the paper's resolution 1.0 gave 8-9 clusters on such data
    adata = simulate_counts(400, 1000, 4, de_prob=0.2, de_loc=1.0, seed=7)
    truth = adata.obs["celltype"].to_numpy()
    default = AttentionAESC(seed=0, progress=False, epochs_pretrain=60,
                            epochs_cluster=30).fit(adata)
    paper = AttentionAESC(AttentionAEConfig.from_variant("paper", epochs_pretrain=60,
                                                          epochs_cluster=30),
                          seed=0, progress=False).fit(adata)
    assert adjusted_rand_score(truth, default.labels_) > 0.9
    assert len(np.unique(paper.labels_)) > len(np.unique(default.labels_))
