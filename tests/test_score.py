"""Scores of one run: unassigned cells count, cell names and labels are read as text."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from attentionae_sc.metrics import clustering_scores
from scbench.score import score_run

TRUTH = np.repeat(["alpha", "beta"], 50)


def test_unassigned_cells_cost_ari_and_nmi():
    perfect = np.repeat([0, 1], 50)
    assert clustering_scores(perfect, true_labels=TRUTH)["ari"] == 1.0
    partial = perfect.copy()
    partial[:10] = -1  # ten alpha cells left unassigned
    scores = clustering_scores(partial, true_labels=TRUTH)
    assert scores["n_unassigned"] == 10 and scores["n_clusters"] == 2
    assert scores["ari"] < 0.9 and scores["nmi"] < 0.9
    assert scores["n_cells_scored"] == 100


def test_cells_without_a_true_label_are_not_scored():
    truth = TRUTH.astype(object)
    truth[:5] = None
    scores = clustering_scores(np.repeat([0, 1], 50), true_labels=truth)
    assert scores["n_cells_scored"] == 95 and scores["ari"] == 1.0


def test_internal_scores_use_the_assigned_cells_only():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    embedding = rng.normal(size=(100, 2)) + labels[:, None] * 10
    expected = clustering_scores(labels[5:], embedding=embedding[5:])
    labels[:5], embedding[:5] = -1, np.nan
    scores = clustering_scores(labels, embedding=embedding)
    assert scores["asw"] == pytest.approx(expected["asw"])
    assert scores["db"] == pytest.approx(expected["db"])


def _run(tmp_path, labels, record, embedding):
    """A prepared dataset (100 cells named "0".."99"), its shared PCA and one run's files."""
    prepared = ad.AnnData(np.ones((100, 3), dtype=np.float32),
                          obs=pd.DataFrame({"celltype": TRUTH}, index=[str(i) for i in range(100)]))
    prepared.write_h5ad(tmp_path / "prepared.h5ad")
    np.save(tmp_path / "pca.npy", np.random.default_rng(0).normal(size=(100, 2)))
    pd.DataFrame({"cell": prepared.obs_names, "label": labels}).to_csv(
        tmp_path / "labels.tsv", sep="\t", index=False)
    (tmp_path / "record.json").write_text(json.dumps({"status": "ok", **record}))
    np.save(tmp_path / "embedding.npy", embedding)
    return [tmp_path / name for name in ("record.json", "labels.tsv", "embedding.npy",
                                         "prepared.h5ad", "pca.npy")]


def test_score_run_reads_numeric_cell_names_and_the_declared_sentinel(tmp_path):
    labels = np.repeat(["NA", "7"], 50)  # labels that pandas would otherwise parse
    labels[:4] = "x"
    files = _run(tmp_path, labels, {"extra": {"unassigned_label": "x"}, "embedding": None},
                 np.zeros((100, 0), dtype=np.float32))
    scores = score_run(*files)
    assert scores["n_unassigned"] == 4 and scores["n_clusters"] == 2
    assert 0.8 < scores["ari"] < 1.0 and scores["embedding_source"] == "pca"


def test_the_run_record_chooses_the_embedding_and_a_file_that_disagrees_is_an_error(tmp_path):
    labels = np.repeat([0, 1], 50)
    separated = labels[:, None] * 10.0 + np.random.default_rng(1).normal(size=(100, 3))
    files = _run(tmp_path, labels, {"embedding": "method"}, separated)
    scores = score_run(*files)
    assert scores["embedding_source"] == "method" and scores["asw"] > 0.8  # not the random PCA
    np.save(files[2], np.zeros((100, 0), dtype=np.float32))  # the method's embedding is lost
    with pytest.raises(ValueError, match="names the method's embedding"):
        score_run(*files)
    files[0].write_text(json.dumps({"status": "ok", "embedding": None}))
    assert score_run(*files)["embedding_source"] == "pca"
    np.save(files[2], separated)  # the record says no embedding, but there is one
    with pytest.raises(ValueError, match="says the method has no embedding"):
        score_run(*files)
