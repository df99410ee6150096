"""scGAC, SCEA and scGNN (re-implementations): registry rows, graph rules on tiny inputs with
values worked out by hand, recovery of well-separated simulated groups, determinism and bad
input. Quick settings (fewer epochs) keep the file near a minute; the real-data validation is in
docs/results/baselines_part2.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from scbench.methods import _scgac_graph as gac_graph
from scbench.methods import _scgnn_graph as gnn_graph
from scbench.methods import registry, scea, scgac, scgnn

REPO = Path(__file__).resolve().parents[1]
QUICK = {
    "scgac": {"epochs_pretrain": 30, "max_iter": 20},
    "scea": {"epochs_pretrain": 30, "max_iter": 20},
    "scgnn": {"epochs": 150, "em_iterations": 2, "em_epochs": 10, "cluster_autoencoders": False},
}
MODULES = {"scgac": scgac, "scea": scea, "scgnn": scgnn}


@pytest.fixture(scope="module")
def groups():
    """240 cells x 300 genes, 3 well-separated groups (raw counts, CSR float32)."""
    from attentionae_sc.simulation import simulate_counts

    adata = simulate_counts(240, 300, 3, de_prob=0.3, de_loc=1.0, seed=1)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return adata


def run_method(name, adata, seed=0, **params):
    import torch

    torch.set_num_threads(1)
    return MODULES[name].run(adata, seed=seed, threads=1, device="cpu", n_clusters=3,
                             params={**QUICK[name], **params})


# --- registry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, doi, needs_k", [
    ("scgac", "10.1093/bioinformatics/btac099", True),
    ("scea", "10.1186/s12864-023-09344-y", True),
    ("scgnn", "10.1038/s41467-021-22197-x", False),
])
def test_registry_rows(name, doi, needs_k):
    spec = registry.get(name)
    assert spec.display_name.endswith("(re-impl.)") and not spec.original
    assert spec.implementation == "reimplementation" and spec.env == "main"
    assert doi in spec.reference and spec.needs_k is needs_k and spec.gpu
    assert spec.module == f"scbench.methods.{name}" and spec.unavailable is None
    assert spec.source.startswith("github.com/") and len(spec.source.split("@")[1]) == 40


# --- scGAC's graph rules ----------------------------------------------------------------------

def test_scgac_neighbour_count_rule():
    assert gac_graph.neighbours_k(300, 4) == 7      # (300 // 4) // 10
    assert gac_graph.neighbours_k(100, 5) == 6      # 2, raised to 6
    assert gac_graph.neighbours_k(10_000, 2) == 20  # 500, capped at 20


def test_scgac_knn_mask_keeps_ties_and_the_diagonal():
    similarity = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.5], [0.2, 0.9, 1.0]])
    expected = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(gac_graph.knn_mask(similarity, 2), expected)


def test_scgac_outlier_filter_is_three_iqr():
    # Q1 = 2, Q3 = 4: the range is [-4, 10]
    np.testing.assert_array_equal(gac_graph.iqr_keep(np.array([1.0, 2, 3, 4, 100])),
                                  [True, True, True, True, False])


@pytest.mark.parametrize("spread, expected", [
    # bins of width 0.01 from 0: counts 5, 1, 3 -> the local minimum, bin 1
    ([0.005] * 5 + [0.015] + [0.025] * 3, 0.015),
    # counts 8, 3, 1, 0 fall without a local minimum: the last bin under half the previous one
    ([0.005] * 8 + [0.015] * 3 + [0.025], 0.035),
])
def test_scgac_histogram_threshold(spread, expected):
    # zeros fall in no open bin; 1.0 sets the range; the two 5.0 are the dropped top 2 %
    values = np.array([0.0] * 88 + spread + [1.0, 5.0, 5.0])
    assert int(len(values) * 0.02) == 2
    assert gac_graph.histogram_threshold(values) == pytest.approx(expected)


def test_scgac_edge_attention_matches_the_dense_masked_form():
    import torch

    from scbench.methods._scgac_model import EdgeAggregate

    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(6, 6, generator=generator) < 0.4
    mask.fill_diagonal_(True)
    edges = mask.nonzero().T
    weight = torch.rand(2, edges.shape[1], generator=generator, dtype=torch.float64,
                        requires_grad=True)
    feats = torch.rand(2, 6, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    dense = torch.stack([torch.zeros(6, 6, dtype=torch.float64).index_put(tuple(edges), w)
                         for w in weight])
    torch.testing.assert_close(EdgeAggregate.apply(edges, weight, feats), dense @ feats)
    assert torch.autograd.gradcheck(lambda w, f: EdgeAggregate.apply(edges, w, f),
                                    (weight, feats))


# --- scGNN's graph rules ----------------------------------------------------------------------

def test_scgnn_pruned_knn_and_its_undirected_graph():
    z = np.array([[0.0], [1.0], [3.0], [7.0], [8.0]])
    src, dst, weight = gnn_graph.pruned_knn(z, k=3)
    # each cell's farthest of its 3 neighbours lies beyond mean + sd of the three distances
    np.testing.assert_array_equal(src, np.repeat(np.arange(5), 3))
    np.testing.assert_array_equal(dst, [1, 2, 3, 0, 2, 3, 1, 0, 3, 4, 2, 1, 3, 2, 1])
    np.testing.assert_array_equal(weight, [1, 1, 0] * 5)
    low, high = gnn_graph.undirected_edges(src, dst, weight)
    # {2, 3}: cell 2 pruned it but cell 3 (listed later) kept it, and the last one wins
    assert set(zip(low.tolist(), high.tolist())) == {(0, 1), (0, 2), (1, 2), (2, 3), (2, 4),
                                                     (3, 4)}


def test_scgnn_louvain_k_and_trim():
    assert gnn_graph.louvain_k(10, 0.5) == 5
    assert gnn_graph.louvain_k(5, 0.5) == 2   # int(2.5) < 3
    assert gnn_graph.louvain_k(4, 0.8) == 3
    labels = np.array([0] * 6 + [1] * 5 + [2] * 7 + [31] * 7)
    expected = np.array([0] * 6 + [30] * 5 + [2] * 7 + [30] * 7)
    np.testing.assert_array_equal(gnn_graph.trim_clusters(labels), expected)


def test_scgnn_preprocessing_filters_and_selects_by_variance():
    counts = np.zeros((200, 5))
    counts[:, 0] = np.arange(200) % 7          # variance high
    counts[:, 1] = 1 + np.arange(200) % 2      # variance low; every cell has counts
    counts[0, 2] = 1                            # non-zero in 0.5 % of cells: dropped
    counts[:, 3] = (np.arange(200) % 3) * 10   # variance highest
    cells, genes, x = scgnn.preprocess(counts, {**scgnn.DEFAULTS, "n_top_genes": 2})
    np.testing.assert_array_equal(genes, [True, False, False, True, False])
    assert cells.all() and np.allclose(x, np.log1p(counts[:, [0, 3]]))


# --- the methods on simulated data --------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["scgac", "scea", "scgnn"])
def test_recovers_well_separated_groups_deterministically(name, groups):
    first = run_method(name, groups)
    second = run_method(name, groups)
    labels = np.asarray(first.labels)
    truth = groups.obs["celltype"].astype(str)
    if name == "scgnn":
        # LouvainK picks k itself, and here it splits groups (Louvain finds 7 communities,
        # KMeans then gets 5): every cluster must lie within one group
        score = homogeneity_score(truth, labels)
    else:  # given the true k
        score = adjusted_rand_score(truth, labels)
    assert score > 0.9, f"{name} score {score:.3f}"
    np.testing.assert_array_equal(labels, second.labels)
    np.testing.assert_array_equal(first.embedding, second.embedding)
    assert first.embedding.shape[0] == groups.n_obs and first.extra["unassigned_label"] == -1


def test_other_seed_gives_other_weights(groups):
    one, other = run_method("scgnn", groups, seed=0), run_method("scgnn", groups, seed=1)
    assert not np.allclose(one.embedding, other.embedding)


@pytest.mark.slow
def test_scgac_through_the_runner(groups, tmp_path):
    path = tmp_path / "groups.h5ad"
    groups.write_h5ad(path)
    command = [sys.executable, "-m", "scbench.methods.run", "--method", "scgac", "--input",
               str(path), "--seed", "0", "--outdir", str(tmp_path / "out"), "--threads", "1",
               "--device", "cpu", "--params", json.dumps(QUICK["scgac"])]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    assert record["status"] == "ok", record["reason"]
    assert record["n_clusters_given"] == 3 and record["original"] is False
    assert record["source"].startswith("github.com/Joye9285/scGAC@")
    extra = record["extra"]
    assert extra["graph_k"] == gac_graph.neighbours_k(240 - extra["n_unassigned"], 3)
    assert extra["iterations_run"] <= 20 and extra["unassigned_label"] == -1


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["scgac", "scea"])
def test_needs_k(name, groups):
    with pytest.raises(ValueError, match="needs n_clusters"):
        MODULES[name].run(groups, seed=0, threads=1, device="cpu", n_clusters=None, params={})


@pytest.mark.parametrize("name", ["scgac", "scea", "scgnn"])
def test_bad_input_is_named(name, groups):
    with pytest.raises(ValueError, match=f"unknown parameter.*{name}"):
        run_method(name, groups, epoch=3)
    negative = groups.copy()
    negative.X = -negative.X
    with pytest.raises(ValueError, match="needs raw counts"):
        run_method(name, negative)
    tiny = groups[:8].copy()
    with pytest.raises(ValueError, match=r"only \d cells"):
        run_method(name, tiny)
