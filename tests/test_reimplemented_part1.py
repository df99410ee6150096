"""The re-implemented baselines of issue 20: scDeepCluster, graph-sc and SC3 (and SC3s's entry).

Methods are called through their module's ``run`` (the runner's contract is covered in
test_methods.py; one test here goes through ``run.main`` for the failed-record path). Training
lengths are cut for speed: the quality checks are on well-separated simulated groups.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from attentionae_sc.simulation import simulate_counts
from scbench.methods import graph_sc, registry, run, sc3, scdeepcluster

REPO = Path(__file__).resolve().parents[1]
N_GROUPS = 4
FAST = {
    "scdeepcluster": (scdeepcluster, {"pretrain_epochs": 30}),
    "graph_sc": (graph_sc, {}),
    "sc3": (sc3, {"kmeans_nstart": 10}),
}
REIMPLEMENTED = {"scdeepcluster": "10.1038/s42256-019-0037-0",
                 "graph_sc": "10.1093/bioinformatics/btab787", "sc3": "10.1038/nmeth.4236"}


@pytest.fixture(scope="module")
def groups():
    """240 cells x 400 genes in 4 well-separated groups (raw counts, CSR float32)."""
    adata = simulate_counts(240, 400, N_GROUPS, de_prob=0.3, de_loc=1.0, seed=0)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return adata


def call(name, adata, seed=0, **params):
    module, fast = FAST[name]
    k = N_GROUPS if registry.get(name).needs_k else None
    return module.run(adata.copy(), seed=seed, threads=1, device="cpu", n_clusters=k,
                      params={**fast, **params})


def test_registry_entries_are_marked_reimplementations():
    for name, doi in REIMPLEMENTED.items():
        spec = registry.get(name)
        assert spec.display_name.endswith("(re-impl.)") and not spec.original
        assert spec.implementation == "reimplementation" and spec.env == "main"
        assert doi in spec.reference and spec.source.startswith("github.com/")
        assert spec.module and spec.unavailable is None
    assert registry.get("scdeepcluster").needs_k and registry.get("scdeepcluster").gpu
    assert not registry.get("graph_sc").needs_k and registry.get("graph_sc").gpu
    assert not registry.get("sc3").needs_k and not registry.get("sc3").gpu


@pytest.fixture(scope="module")
def groups_file(groups, tmp_path_factory):
    path = tmp_path_factory.mktemp("groups") / "groups.h5ad"
    groups.write_h5ad(path)
    return path


def run_cli(name, path, outdir):
    """One run through the runner in a fresh process (its thread caps; an in-process torch run
    after numba's OpenMP threads have started is many times slower on a busy machine)."""
    command = [sys.executable, "-m", "scbench.methods.run", "--method", name, "--input",
               str(path), "--seed", "0", "--outdir", str(outdir), "--threads", "1",
               "--device", "cpu", "--params", json.dumps(FAST[name][1])]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((outdir / run.RECORD).read_text())
    assert record["status"] == "ok", record["reason"]
    labels = pd.read_csv(outdir / run.LABELS, sep="\t", dtype={"cell": str})
    embedding = outdir / run.EMBEDDING
    return record, labels, np.load(embedding) if embedding.exists() else None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAST))
def test_recovers_groups_and_is_deterministic(name, groups, groups_file, tmp_path):
    record, labels, embedding = run_cli(name, groups_file, tmp_path / "a")
    _, again, embedding_again = run_cli(name, groups_file, tmp_path / "b")
    truth = groups.obs["celltype"].astype(str).reindex(labels["cell"]).to_numpy()
    score = adjusted_rand_score(truth, labels["label"])
    print(f"{name}: ARI {score:.3f} in {record['runtime_s']:.1f} s")
    assert score > 0.9, f"{name} ARI {score:.3f}"
    assert record["n_clusters_found"] == N_GROUPS
    np.testing.assert_array_equal(labels["label"], again["label"])
    if embedding is not None:
        assert embedding.shape[0] == groups.n_obs
        np.testing.assert_array_equal(embedding, embedding_again)


@pytest.mark.parametrize("n_groups, seed", [(3, 1), (5, 2), (6, 3)])
def test_tracy_widom_estimate_finds_the_number_of_groups(n_groups, seed):
    adata = simulate_counts(240, 400, n_groups, de_prob=0.3, de_loc=1.0, seed=seed)
    data = sc3.log_data(adata.X.toarray().astype(float), 10, 90)
    assert sc3.estimate_k(data) == n_groups


def test_tracy_widom_estimate_on_noise_is_small():
    rng = np.random.default_rng(0)
    assert sc3.estimate_k(rng.normal(size=(200, 300))) <= 1


@pytest.mark.slow
def test_sc3_labels_cells_beyond_svm_max_with_the_svm(groups):
    out = call("sc3", groups, svm_max=120)
    assert out.extra["n_svm_train"] == 120 and out.extra["k_used"] == N_GROUPS
    assert adjusted_rand_score(groups.obs["celltype"], out.labels) > 0.9


def test_sc3_consensus_cuts_the_tree_at_k():
    a, b = np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 1, 2])
    labels, consensus = sc3.consensus_labels([a, b], 3)
    assert consensus[0, 1] == 1.0 and consensus[2, 3] == 0.5 and consensus[0, 5] == 0.0
    assert len(set(labels)) == 3 and labels[0] == labels[1] and labels[3] != labels[5]


def test_graph_sc_graph_on_a_tiny_matrix():
    counts = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    weights, per_cell = graph_sc.build_graph(counts)
    # cell 0: log1p weights (log 2, log 4) over their sum (3 log 2, + 1e-6): 1/3 and 2/3, then
    # rescaled to sum to its 2 in-edges; cell 1: one edge of weight 1; cell 2: no edge
    total = 3 * np.log(2)
    expected_per_cell = [[np.log(2) / (total + 1e-6), 0, np.log(4) / (total + 1e-6)],
                         [0, np.log(3) / (np.log(3) + 1e-6), 0], [0, 0, 0]]
    np.testing.assert_allclose(per_cell.toarray(), expected_per_cell, rtol=1e-12)
    np.testing.assert_allclose(weights.toarray(), [[2 / 3, 0, 4 / 3], [0, 1, 0], [0, 0, 0]],
                               rtol=1e-12)
    assert weights.nnz == 3


def test_graph_sc_loss_targets_the_identity():
    import torch

    torch.manual_seed(0)
    z = torch.eye(4) * 20.0  # z_i . z_i = 400, z_i . z_j = 0: logits near the identity target
    far = graph_sc.batch_loss(z, dropout=0.0)
    better = graph_sc.batch_loss(z - 10.0 * (1 - torch.eye(4)), dropout=0.0)  # i != j: -200
    # exact value at z = 0: norm * mean(BCE) = (16 / 24) * (4 * 3 * log 2 + 12 * log 2) / 16
    zero = graph_sc.batch_loss(torch.zeros(4, 3), dropout=0.0)
    assert zero.item() == pytest.approx(16 / 24 * 24 * np.log(2) / 16)
    assert better.item() < far.item() < zero.item()


def test_graph_sc_kmeans_needs_k(groups):
    with pytest.raises(ValueError, match="needs n_clusters"):
        graph_sc.cluster(np.zeros((10, 2)), {**graph_sc.DEFAULTS, "cluster": "kmeans"},
                         seed=0, n_clusters=None)
    data = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    labels = graph_sc.cluster(data, {**graph_sc.DEFAULTS, "cluster": "kmeans", "n_clusters": 2},
                              seed=0, n_clusters=None)
    assert adjusted_rand_score([0] * 5 + [1] * 5, labels) == 1.0


@pytest.mark.parametrize("name", sorted(FAST))
def test_bad_input_raises_a_clear_error(name, groups):
    module, _ = FAST[name]
    k = N_GROUPS if registry.get(name).needs_k else None
    bad = groups.copy()
    bad.X = groups.X * 0.5
    with pytest.raises(ValueError, match="raw counts"):
        module.run(bad, seed=0, threads=1, device="cpu", n_clusters=k, params={})
    with pytest.raises(ValueError, match=f"unknown parameter.*{name}|{name}.*unknown"):
        module.run(groups.copy(), seed=0, threads=1, device="cpu", n_clusters=k,
                   params={"bogus": 1})
    with pytest.raises(ValueError, match="at least 10 cells"):
        module.run(groups[:5].copy(), seed=0, threads=1, device="cpu", n_clusters=k, params={})


def test_scdeepcluster_needs_k(groups):
    with pytest.raises(ValueError, match="needs n_clusters"):
        scdeepcluster.run(groups.copy(), seed=0, threads=1, device="cpu", n_clusters=None,
                          params={})


def test_runner_records_bad_input_as_failed(groups, tmp_path):
    bad = groups.copy()
    bad.X = sp.csr_matrix(groups.X.toarray() - 1.0)
    path = tmp_path / "bad.h5ad"
    bad.write_h5ad(path)
    args = ["--method", "sc3", "--input", str(path), "--seed", "0", "--outdir",
            str(tmp_path / "out"), "--threads", "1", "--device", "cpu"]
    assert run.main(args) == 0
    record = json.loads((tmp_path / "out" / run.RECORD).read_text())
    assert record["status"] == "failed" and "sc3 needs raw counts" in record["reason"]
    assert record["implementation"] == "reimplementation" and record["original"] is False
