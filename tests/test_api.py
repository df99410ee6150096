"""scikit-learn and scverse habits: random_state, fitted attributes, fit_predict, save/load,
parameters that round-trip through AnnData, logging and warnings that point at the caller."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from attentionae_sc import AttentionAEConfig, AttentionAESC, NotFittedError, cluster

FAST = {"epochs_pretrain": 10, "epochs_cluster": 5}


@pytest.fixture(scope="module")
def fitted(request):
    from attentionae_sc.simulation import simulate_counts

    adata = simulate_counts(120, 200, 3, seed=5)
    return adata, AttentionAESC(random_state=1, progress=False, **FAST).fit(adata)


def test_random_state_and_its_alias_seed():
    assert AttentionAESC(seed=3).random_state == 3 == AttentionAESC(random_state=3).seed
    assert AttentionAESC().random_state == 0
    with pytest.raises(ValueError, match="differ"):
        AttentionAESC(random_state=1, seed=2)


def test_fitted_attributes_exist_only_after_fit(fitted):
    adata, model = fitted
    fresh = AttentionAESC(**FAST)
    trailing = [name for name in vars(model) if name.endswith("_") and not name.startswith("_")]
    assert {"labels_", "embedding_", "module_", "centres_", "gene_space_", "history_",
            "start_resolution_", "collapsed_"} <= set(trailing)
    assert not [name for name in vars(fresh) if name.endswith("_") and not name.startswith("_")]
    with pytest.raises(SklearnNotFittedError):  # sklearn's, subclassed
        fresh.predict(adata)
    with pytest.raises(NotFittedError):
        fresh.run_info()


def test_fit_predict_returns_the_labels(fitted):
    adata, model = fitted
    again = AttentionAESC(random_state=1, progress=False, **FAST)
    np.testing.assert_array_equal(again.fit_predict(adata), model.labels_)


def test_save_and_load_round_trip(fitted, tmp_path):
    adata, model = fitted
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = AttentionAESC.load(path, device="cpu")
    assert loaded.config == model.config and loaded.random_state == 1
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    np.testing.assert_array_equal(loaded.predict(adata), model.predict(adata))
    np.testing.assert_array_equal(loaded.transform(adata), model.transform(adata))
    info, loaded_info = model.run_info(), loaded.run_info()
    np.testing.assert_array_equal(info["history"]["cluster"]["labels"],
                                  loaded_info["history"]["cluster"]["labels"])
    assert info["start_resolution"] == loaded_info["start_resolution"]
    with pytest.raises(NotFittedError):
        AttentionAESC().save(tmp_path / "unfitted.pt")
    torch.save({"format": 99}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format"):
        AttentionAESC.load(tmp_path / "other.pt")


def test_params_stored_in_uns_can_be_passed_back(tmp_path):
    from attentionae_sc.simulation import simulate_counts

    adata = simulate_counts(100, 150, 2, seed=0)
    config = AttentionAEConfig.from_variant("paper", max_cells=None, **FAST)
    cluster(adata, config=config, random_state=4, progress=False)
    adata.write_h5ad(tmp_path / "out.h5ad")
    params = dict(ad.read_h5ad(tmp_path / "out.h5ad").uns["attentionae_sc"]["params"])
    rebuilt = AttentionAESC(**params)
    assert rebuilt.config == config and rebuilt.random_state == 4


def test_stage_summaries_go_to_the_package_logger(fitted, caplog):
    adata, _ = fitted
    with caplog.at_level(logging.INFO, logger="attentionae_sc"):
        AttentionAESC(random_state=1, progress=False, **FAST).fit(adata)
    messages = [r.getMessage() for r in caplog.records if r.name == "attentionae_sc"]
    assert any(m.startswith("pretraining: 10 epochs") for m in messages)
    assert any(m.startswith("clustering: ") for m in messages)
    assert any(m.startswith("done: ") for m in messages)


def test_warnings_point_at_the_callers_line(fitted):
    adata, model = fitted
    genes = adata[:, model.gene_space_.genes].copy()  # fewer genes than in fit: warns
    with pytest.warns(UserWarning, match="pass the full gene set") as record:
        model.predict(genes)
    assert record[0].filename == __file__
