import ast
import inspect

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from attentionae_sc import AttentionAEConfig, AttentionAESC, cluster
from attentionae_sc.simulation import simulate_counts

FAST = {"epochs_pretrain": 15, "epochs_cluster": 5}


@pytest.fixture(scope="module")
def full_fit():
    """The full model fitted on tiny_counts' data (80 cells, 3 groups) with FAST settings."""
    return AttentionAESC(seed=0, progress=False, **FAST).fit(simulate_counts(80, 300, 3, seed=3))


@pytest.mark.slow
def test_recovers_well_separated_groups_with_the_defaults(separated_counts):
    adata = separated_counts.copy()
    cluster(adata, seed=0, progress=False)
    ari = adjusted_rand_score(adata.obs["celltype"], adata.obs["attentionae_sc"])
    assert ari > 0.9, f"ARI {ari:.3f}"
    info = adata.uns["attentionae_sc"]
    assert info["epochs_pretrain_run"] >= 50
    assert 1 <= info["epochs_cluster_run"] <= 100
    history = info["history"]
    assert len(history["pretrain"]["loss"]) == info["epochs_pretrain_run"]
    assert history["pretrain"]["loss"][-1] < history["pretrain"]["loss"][0]
    assert len(history["cluster"]["n_clusters"]) == info["epochs_cluster_run"]
    for stage in ("pretrain", "cluster"):
        seconds = history[stage]["seconds"]
        assert len(seconds) == len(history[stage]["loss"]) and (seconds > 0).all()


def test_cluster_writes_labels_embedding_and_run_info(tiny_counts):
    adata = tiny_counts.copy()
    assert cluster(adata, seed=0, progress=False, key_added="aae", **FAST) is None
    assert isinstance(adata.obs["aae"].dtype, pd.CategoricalDtype)
    assert adata.obsm["X_aae"].shape == (adata.n_obs, 16)
    info = adata.uns["aae"]
    assert info["params"]["random_state"] == 0 and info["params"]["epochs_pretrain"] == 15
    timings = {"preprocess_s", "pretrain_s", "cluster_init_s", "cluster_s", "total_s"}
    assert timings <= set(info["timings"])
    assert info["memory"]["peak_rss_mb"] > 0
    expressed = int((np.asarray(tiny_counts.X.sum(axis=0)).ravel() > 0).sum())
    assert info["n_genes"] == expressed  # fewer genes than n_hvg: all expressed genes are used
    copy = cluster(tiny_counts, seed=0, progress=False, copy=True, **FAST)
    assert "attentionae_sc" in copy.obs and "attentionae_sc" not in tiny_counts.obs


def test_same_seed_same_labels_on_cpu():
    # 200 cells: the 15-NN adjacency is sparse enough to train through the sparse-CSR path
    adata = simulate_counts(200, 300, 3, seed=3)
    first = AttentionAESC(seed=3, device="cpu", progress=False, **FAST).fit(adata)
    second = AttentionAESC(seed=3, device="cpu", progress=False, **FAST).fit(adata)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.embedding_, second.embedding_)
    other = AttentionAESC(seed=4, device="cpu", progress=False, **FAST).fit(adata)
    assert not np.array_equal(first.embedding_, other.embedding_)


def test_umap_cell_graph_trains_and_initialises_from_the_gaussian_kernel(tiny_counts):
    umap = AttentionAESC(seed=0, progress=False, graph_method="umap", **FAST).fit(tiny_counts)
    gauss = AttentionAESC(seed=0, progress=False, **FAST).fit(tiny_counts)
    assert umap.init_graph_ == "knn" and (umap.labels_ >= 0).all()  # default: kNN kernel of Z
    assert not np.array_equal(umap.embedding_, gauss.embedding_)
    with pytest.raises(ValueError, match="needs graph_knn=True"):
        AttentionAEConfig(graph_method="umap", graph_knn=False)


def test_refit_starts_afresh_and_a_failed_fit_leaves_no_model(tiny_counts):
    model = AttentionAESC(seed=0, progress=False, **FAST).fit(tiny_counts)
    first = model.run_info()
    model.fit(tiny_counts)
    again = model.run_info()
    assert again["epochs_pretrain_run"] == first["epochs_pretrain_run"] == FAST["epochs_pretrain"]
    assert len(again["history"]["pretrain"]["loss"]) == FAST["epochs_pretrain"]
    np.testing.assert_array_equal(again["history"]["pretrain"]["loss"],
                                  first["history"]["pretrain"]["loss"])
    broken = tiny_counts.copy()
    broken.X = broken.X.toarray() * np.nan
    with pytest.raises(ValueError):
        model.fit(broken)
    assert not hasattr(model, "labels_") and not hasattr(model, "module_")
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(tiny_counts)


def test_seed_must_be_a_valid_seed():
    with pytest.raises(ValueError, match="seed"):
        AttentionAESC(seed=-1)


def test_cells_without_counts_are_unassigned(tiny_counts):
    adata = tiny_counts.copy()
    counts = adata.X.toarray()
    counts[[0, 5]] = 0
    adata.X = sp.csr_matrix(counts)
    cluster(adata, seed=0, progress=False, **FAST)
    labels = adata.obs["attentionae_sc"]
    assert labels.isna().sum() == 2 and labels.iloc[[0, 5]].isna().all()
    assert np.isnan(adata.obsm["X_attentionae_sc"][[0, 5]]).all()
    assert np.isfinite(adata.obsm["X_attentionae_sc"][1:5]).all()


def test_max_cells_trains_on_a_subsample_and_predict_reproduces_every_label(tiny_counts):
    model = AttentionAESC(seed=0, progress=False, max_cells=50, **FAST).fit(tiny_counts)
    assert model.n_training_cells_ == 50
    assert (model.labels_ >= 0).all() and len(model.labels_) == tiny_counts.n_obs
    rows = model._training_rows(1000)
    assert len(rows) == 50 and len(np.unique(rows)) == 50
    # predict after a subsampled fit: all cells, as fit assigned them (30 never trained on)
    np.testing.assert_array_equal(model.predict(tiny_counts), model.labels_)
    np.testing.assert_allclose(model.transform(tiny_counts), model.embedding_, rtol=1e-5,
                               atol=1e-6)
    part = model.predict(tiny_counts[:40].copy())
    assert len(part) == 40 and set(part) <= set(model.labels_)


def test_labels_in_obs_cannot_change_the_fit(tiny_counts, full_fit):
    # by construction: the same counts without any obs column give the same fit
    bare = ad.AnnData(tiny_counts.X.copy(), obs=pd.DataFrame(index=tiny_counts.obs_names),
                      var=tiny_counts.var.copy())
    assert "celltype" in tiny_counts.obs and bare.obs.columns.empty
    fit = AttentionAESC(seed=0, progress=False, **FAST).fit(bare)
    np.testing.assert_array_equal(fit.labels_, full_fit.labels_)
    np.testing.assert_array_equal(fit.embedding_, full_fit.embedding_)
    # by reading: the code that gets the user's AnnData never touches its obs (the graph
    # functions get arrays; graph.leiden reads the obs of an AnnData of its own)
    from attentionae_sc import losses, model, module, preprocessing, validation

    sources = [inspect.getsource(m) for m in (model, preprocessing, module, losses)]
    sources.append(inspect.getsource(validation.count_matrix))
    for source in sources:
        attributes = {n.attr for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)}
        assert "obs" not in attributes


def test_counts_from_a_layer_give_the_same_fit_as_counts_in_x(tiny_counts, full_fit):
    layered = tiny_counts.copy()
    layered.layers["counts"] = tiny_counts.X.copy()
    layered.X = sp.csr_matrix(np.log1p(tiny_counts.X.toarray()))  # not counts: must be ignored
    from_layer = AttentionAESC(seed=0, progress=False, **FAST).fit(layered, layer="counts")
    np.testing.assert_array_equal(from_layer.labels_, full_fit.labels_)
    np.testing.assert_array_equal(from_layer.embedding_, full_fit.embedding_)
    np.testing.assert_array_equal(from_layer.predict(layered, layer="counts"), full_fit.labels_)


def test_labels_are_numbered_by_cluster_size():
    # the paper's fixed start (resolution 1.0) gives several clusters of different sizes here
    fit = AttentionAESC(seed=0, progress=False, resolution=1.0, **FAST).fit(
        simulate_counts(80, 300, 3, seed=3))
    sizes = np.bincount(fit.labels_[fit.labels_ >= 0])
    assert len(sizes) >= 3 and (sizes > 0).all()
    assert (np.diff(sizes) <= 0).all(), sizes  # 0 = the largest cluster
    from attentionae_sc.model import _size_order

    # centre 2 holds most cells, 0 and 3 tie (the lower index first), centre 1 holds none
    np.testing.assert_array_equal(_size_order(np.array([2, 2, 2, 0, 3]), 4), [1, 3, 0, 2])


def test_pretraining_stops_when_patience_epochs_in_a_row_bring_no_lower_loss(tiny_counts):
    # lr near 0: the loss moves only with the input noise, so it stops improving early
    model = AttentionAESC(seed=0, progress=False, epochs_pretrain=80, epochs_cluster=0,
                          lr=1e-9, pretrain_patience=3).fit(tiny_counts)
    loss = model.history_.pretrain["loss"]
    stop = len(loss) - 1
    best = int(np.argmin(loss[:stop]))
    assert stop < 79 and stop - best == 4, loss  # the 4th epoch in a row without a lower loss
    assert min(loss[best + 1:]) >= loss[best]
    longer = AttentionAESC(seed=0, progress=False, epochs_pretrain=stop + 5, epochs_cluster=0,
                           lr=1e-9, pretrain_patience=stop + 5).fit(tiny_counts)
    assert len(longer.history_.pretrain["loss"]) == stop + 5  # patience past the end: no stop


@pytest.mark.parametrize(("tol", "epochs_run"), [(1.0, 4), (0.0, 12)])
def test_clustering_stops_once_labels_change_less_than_tol(tiny_counts, tol, epochs_run):
    # the test starts after min_cluster_epochs (2): with tol 1 any change stops at epoch 3,
    # with tol 0 nothing does
    model = AttentionAESC(seed=0, progress=False, epochs_pretrain=2, epochs_cluster=12,
                          min_cluster_epochs=2, tol=tol).fit(tiny_counts)
    assert len(model.history_.cluster["loss"]) == epochs_run
    assert model.run_info()["epochs_cluster_run"] == epochs_run


def test_the_graph_of_10000_cells_or_more_is_built_on_50_pcs(monkeypatch):
    from attentionae_sc import graph
    from attentionae_sc.preprocessing import Cells

    calls = []
    real = graph.neighbor_graph

    def recording(features, **kw):
        calls.append((features.shape[0], kw["n_pcs"]))
        return real(features, **kw)

    monkeypatch.setattr(graph, "neighbor_graph", recording)
    model = AttentionAESC(seed=0, progress=False, device="cpu")
    assert model.config.graph_pcs_from_cells == 10_000
    rng = np.random.default_rng(0)
    for n in (9_999, 10_000):
        log_norm = rng.random((n, 60), dtype=np.float32)
        cells = Cells(np.arange(n), log_norm, log_norm, np.ones(n, dtype=np.float32))
        assert model._graph(cells, with_target=False).adjacency.shape == (n, n)
    assert calls == [(9_999, 0), (10_000, 50)]


def test_predict_on_the_training_cells_reproduces_labels(tiny_counts):
    model = AttentionAESC(seed=0, progress=False, max_cells=None, **FAST).fit(tiny_counts)
    np.testing.assert_array_equal(model.predict(tiny_counts), model.labels_)
    np.testing.assert_allclose(model.transform(tiny_counts), model.embedding_, rtol=1e-5,
                               atol=1e-6)


def test_predict_needs_the_model_genes(tiny_counts):
    model = AttentionAESC(seed=0, progress=False, **FAST).fit(tiny_counts)
    renamed = tiny_counts.copy()
    renamed.var_names = [f"other{i}" for i in range(renamed.n_vars)]
    with pytest.raises(ValueError, match="genes are missing"):
        model.predict(renamed)
    with pytest.raises(NotFittedError, match="not fitted"):
        AttentionAESC().predict(tiny_counts)


def test_predict_warns_about_a_smaller_gene_set(tiny_counts):
    # library sizes over fewer genes than in fit() shift the normalisation
    model = AttentionAESC(seed=0, progress=False, **FAST).fit(tiny_counts)
    model_genes = tiny_counts[:, model.gene_space_.genes].copy()
    with pytest.warns(UserWarning, match="pass the full gene set"):
        model.predict(model_genes)


@pytest.mark.parametrize("ablation", ["no_attention", "no_zinb", "no_residual", "no_gnn"])
def test_every_ablation_changes_the_computation(tiny_counts, full_fit, ablation):
    model = AttentionAESC(seed=0, progress=False, ablation=ablation, **FAST).fit(tiny_counts)
    assert model.embedding_.shape == (tiny_counts.n_obs, 16)
    assert not np.allclose(model.embedding_, full_fit.embedding_, atol=1e-3)
    names = {name.split(".")[0] for name, _ in model.module_.named_parameters()}
    dropped = {"no_attention": {"fusion1", "fusion2"}, "no_gnn": {"gcn1", "gcn2"},
               "no_zinb": {"pi_head", "mu_head", "theta_head"}, "no_residual": set()}[ablation]
    assert dropped <= {name.split(".")[0] for name, _ in full_fit.module_.named_parameters()}
    assert not dropped & names  # the ablated part has no weights, so it cannot be used
    graph = np.asarray(model.history_.pretrain["graph"])
    assert (graph == 0).all() == (ablation == "no_gnn")
    reconstruction = model.history_.pretrain["reconstruction"][0]
    full_reconstruction = full_fit.history_.pretrain["reconstruction"][0]
    # no_zinb: the MSE of the scaled input (about 1 at the start), not the ZINB NLL of counts
    assert (abs(reconstruction - 1) < 0.5) == (ablation == "no_zinb")
    assert (abs(full_reconstruction - 1) < 0.5) is False
    if ablation == "no_residual":  # the same weights, but z without the residual sum
        x = torch.randn(5, model.module_.enc1[0].in_features)
        full = type(model.module_)(x.shape[1]).eval()
        full.load_state_dict(model.module_.state_dict())
        model.module_.eval()
        assert not torch.allclose(full.encode(x, torch.eye(5).to_sparse())[0],
                                  model.module_.encode(x, torch.eye(5).to_sparse())[0])


def test_reference_variant_switches_every_documented_setting(tiny_counts):
    config = AttentionAEConfig.from_variant("reference")
    assert (config.gcn_normalization, config.graph_target, config.theta_activation,
            config.student_t_power, config.noise, config.graph_knn, config.detach_target) == (
        "none", "distances", "softplus", 2.0, "relative", False, False)
    model = AttentionAESC(config, seed=0, progress=False, **FAST).fit(tiny_counts)
    assert (model.labels_ >= 0).all()
    with pytest.raises(ValueError, match="variant"):
        AttentionAEConfig.from_variant("authors")


@pytest.mark.parametrize("bad", [
    {"ablation": "no_decoder"}, {"graph_target": "adjacancy"}, {"noise": "gaussian"},
    {"max_cells": 10}, {"resolution": -1.0}, {"lr": 0.0}, {"attention_dropout": 1.5},
    {"student_t_alpha": 0.0}, {"tol": -1e-3}, {"n_hvg": 0},
])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        AttentionAEConfig(**bad)


def test_leiden_initialisation_embedding_mode_changes_the_initial_embedding(tiny_counts):
    # Authors' code: Z for the Leiden initialisation comes from the network in training mode
    # (noise, query dropout on). The switch must change that embedding, and stay seeded.
    seen = {}
    for train_mode in (True, False, True):
        model = AttentionAESC(seed=0, progress=False, init_embedding_train_mode=train_mode,
                              epochs_pretrain=5, epochs_cluster=0)
        initial = model._initial_centres
        model._initial_centres = lambda z, _init=initial, _mode=train_mode: (
            seen.setdefault(_mode, []).append(z.clone()) or _init(z))
        model.fit(tiny_counts)
    assert torch.equal(seen[True][0], seen[True][1])
    assert not torch.allclose(seen[True][0], seen[False][0])


def test_leiden_initialisation_graph_is_dense_only_up_to_the_cell_limit(tiny_counts, monkeypatch):
    # The authors' dense kernel for training sets up to the limit; a sparse kNN graph above it.
    from attentionae_sc import graph

    calls = []
    neighbor_graph = graph.neighbor_graph
    def recording(features, **kw):
        calls.append(kw["knn"])
        return neighbor_graph(features, **kw)

    monkeypatch.setattr(graph, "neighbor_graph", recording)
    for limit, expected in ((tiny_counts.n_obs, "dense"), (tiny_counts.n_obs - 1, "knn")):
        calls.clear()
        model = AttentionAESC(seed=0, progress=False, init_graph_dense_max_cells=limit,
                              epochs_pretrain=3, epochs_cluster=0).fit(tiny_counts)
        assert model.run_info()["init_graph"] == expected
        # first call: the input graph (kNN by default); second: the graph of Z
        assert calls == [True, expected == "knn"]
    with pytest.raises(ValueError, match="init_graph_dense_max_cells"):
        AttentionAEConfig(init_graph_dense_max_cells=-1)


def test_gradient_through_the_target_distribution_changes_training(tiny_counts):
    # The authors' code does not detach P; DEC's fixed target (the default) does.
    embeddings = [
        AttentionAESC(seed=0, progress=False, detach_target=detach, epochs_pretrain=5,
                      epochs_cluster=5, min_cluster_epochs=5).fit(tiny_counts).embedding_
        for detach in (True, False)
    ]
    assert not np.allclose(*embeddings)


@pytest.mark.parametrize(("variant", "diagonal"), [("paper", 1.0), ("reference", 0.0)])
def test_graph_target_diagonal(tiny_counts, monkeypatch, variant, diagonal):
    # The paper reconstructs A of eq. 1 (unit diagonal); the authors' code the kNN distances.
    from attentionae_sc import model as model_module

    targets = []
    from_scipy = model_module.GraphTarget.from_scipy
    def recording(matrix, *args, **kwargs):
        targets.append(matrix)
        return from_scipy(matrix, *args, **kwargs)

    monkeypatch.setattr(model_module.GraphTarget, "from_scipy", recording)
    AttentionAESC(AttentionAEConfig.from_variant(variant, epochs_pretrain=1, epochs_cluster=0),
                  seed=0, progress=False).fit(tiny_counts)
    np.testing.assert_array_equal(targets[0].diagonal(), diagonal)
