"""Bad input gets a clear error and leaves nothing half-written."""

import json
import os
import stat

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from attentionae_sc import AttentionAESC, InputError
from attentionae_sc.cli import main
from attentionae_sc.runtime import atomic_path
from attentionae_sc.validation import check_counts
from scbench import files

FAST = ["--epochs-pretrain", "3", "--epochs-cluster", "2", "--no-progress"]


def _with_x(adata, matrix):
    out = adata.copy()
    out.X = matrix
    return out


@pytest.mark.parametrize("value, message", [(-1.0, "negative"), (np.nan, "NaN/Inf"),
                                            (np.inf, "NaN/Inf"), (0.5, "non-integer")])
def test_fit_rejects_values_that_are_not_counts(tiny_counts, value, message):
    dense = tiny_counts.X.toarray()
    dense[3, 7] = value
    for matrix in (dense, sp.csr_matrix(dense)):
        with pytest.raises(InputError, match=message):
            AttentionAESC(progress=False).fit(_with_x(tiny_counts, matrix))


def test_non_integer_values_are_allowed_with_an_explicit_opt_in():
    matrix = np.abs(np.random.default_rng(0).normal(size=(5, 4)))
    with pytest.warns(UserWarning, match="non-integer"):
        check_counts(matrix, allow_non_integer=True)


def test_too_few_cells_and_empty_matrices(tiny_counts):
    with pytest.raises(InputError, match="at least 16"):
        AttentionAESC(progress=False).fit(tiny_counts[:12].copy())
    with pytest.raises(InputError, match="at least 16"):
        AttentionAESC(progress=False).fit(_with_x(tiny_counts, np.zeros(tiny_counts.shape)))
    with pytest.raises(InputError, match="no cells or no genes"):
        AttentionAESC(progress=False).fit(tiny_counts[:, []].copy())
    with pytest.raises(InputError, match="layer 'counts' not found"):
        AttentionAESC(progress=False).fit(tiny_counts, layer="counts")


@pytest.fixture
def h5ad(tmp_path, tiny_counts):
    path = tmp_path / "in.h5ad"
    tiny_counts.write_h5ad(path)
    return path


def test_cli_writes_outputs_and_metrics(tmp_path, h5ad):
    out, metrics = tmp_path / "out" / "res.h5ad", tmp_path / "m.json"
    code = main([str(h5ad), "--out", str(out), "--label-key", "celltype",
                 "--metrics-json", str(metrics), "--device", "cpu", *FAST])
    assert code == 0
    result = ad.read_h5ad(out)
    assert "attentionae_sc" in result.obs and result.obsm["X_attentionae_sc"].shape[1] == 16
    record = json.loads(metrics.read_text())
    for key in ("ari", "nmi", "asw", "db", "n_clusters", "pretrain_s", "cluster_s",
                "epochs_pretrain_run", "epochs_cluster_run", "peak_rss_mb"):
        assert key in record
    assert record["epochs_pretrain_run"] == 3 and -1 <= record["ari"] <= 1
    assert not list(out.parent.glob(".*tmp"))


def test_cli_missing_label_key_fails_before_training(tmp_path, h5ad, capsys):
    out = tmp_path / "res.h5ad"
    assert main([str(h5ad), "--out", str(out), "--label-key", "cell_type", *FAST]) == 2
    assert "label key 'cell_type' not found" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--max-cells", "10"], "max_cells"),
    (["--n-hvg", "0"], "n_hvg"),
    (["--resolution", "-1"], "resolution"),
    (["--seed", "-1"], "seed"),
    (["--label-key", "celltype", "--key-added", "celltype"], "overwrite the true labels"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--graph-method", "umap", "--variant", "reference"], "needs graph_knn=True"),
])
def test_cli_bad_options_fail_before_reading(tmp_path, h5ad, capsys, options, message):
    out = tmp_path / "res.h5ad"
    assert main([str(h5ad), "--out", str(out), *options, *FAST]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_missing_and_corrupt_input(tmp_path, h5ad, capsys):
    out = tmp_path / "res.h5ad"
    assert main([str(tmp_path / "nope.h5ad"), "--out", str(out), *FAST]) == 2
    assert "input file not found" in capsys.readouterr().err
    truncated = tmp_path / "truncated.h5ad"
    truncated.write_bytes(h5ad.read_bytes()[:2000])
    assert main([str(truncated), "--out", str(out), *FAST]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not out.exists()


def test_cli_unwritable_output_fails_before_training(tmp_path, h5ad, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([str(h5ad), "--out", str(blocker / "res.h5ad"), *FAST]) == 2
    assert "cannot write output" in capsys.readouterr().err
    assert main([str(h5ad), "--out", str(tmp_path), *FAST]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_cli_bad_counts_report_and_write_nothing(tmp_path, tiny_counts, capsys):
    bad = tiny_counts.copy()
    bad.X = bad.X.toarray() - 1
    path = tmp_path / "scaled.h5ad"
    bad.write_h5ad(path)
    out, metrics = tmp_path / "new" / "res.h5ad", tmp_path / "other" / "deeper" / "m.json"
    assert main([str(path), "--out", str(out), "--metrics-json", str(metrics), *FAST]) == 2
    assert "negative values" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaled.h5ad"]  # no directories either


def test_predict_checks_counts_like_fit(tiny_counts):
    model = AttentionAESC(progress=False, epochs_pretrain=3, epochs_cluster=2).fit(tiny_counts)
    scaled = _with_x(tiny_counts, tiny_counts.X.toarray() * 0.5)
    with pytest.raises(InputError, match="non-integer"):
        model.predict(scaled)
    with pytest.raises(InputError, match="non-integer"):
        model.transform(scaled)
    with pytest.warns(UserWarning, match="non-integer"):
        assert model.predict(scaled, allow_non_integer=True).shape == (tiny_counts.n_obs,)


def test_atomic_path_keeps_the_previous_file_when_writing_fails(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("writer", [atomic_path, files.atomic_path],
                         ids=["attentionae_sc", "scbench"])
def test_atomic_path_gives_the_file_the_usual_permissions(tmp_path, writer):
    previous = os.umask(0o022)
    try:
        with writer(tmp_path / "result.txt") as tmp:
            tmp.write_text("done")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "result.txt").stat().st_mode) == 0o644


def test_cells_identical_to_most_of_their_neighbours_are_reported(tiny_counts):
    # 20 one-count cells with the same gene: scanpy's Gaussian kernel width is 0 for them
    identical = np.zeros((20, tiny_counts.n_vars), dtype=np.float32)
    identical[:, 0] = 1
    adata = ad.AnnData(np.vstack([tiny_counts.X.toarray(), identical]), var=tiny_counts.var)
    with pytest.raises(InputError, match="undefined for 20 cells"):
        AttentionAESC(progress=False, epochs_pretrain=2, epochs_cluster=0).fit(adata)


def test_duplicated_gene_names_are_rejected_in_fit_and_predict(tiny_counts):
    model = AttentionAESC(progress=False, epochs_pretrain=2, epochs_cluster=0).fit(tiny_counts)
    duplicated = tiny_counts.copy()
    duplicated.var_names = [*duplicated.var_names[:-1], duplicated.var_names[0]]
    with pytest.raises(InputError, match="var_names_make_unique"):
        model.predict(duplicated)
    with pytest.raises(InputError, match="1 gene names occur more than once"):
        AttentionAESC(progress=False).fit(duplicated)


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, h5ad, capsys, monkeypatch,
                                              restore_thread_env):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a GPU machine
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        AttentionAESC(device="cuda")
    out = tmp_path / "res.h5ad"
    assert main([str(h5ad), "--out", str(out), "--device", "cuda", *FAST]) == 2
    assert "invalid option: device 'cuda' requested" in capsys.readouterr().err
    assert not out.exists()
    from scbench.methods import run

    runs = tmp_path / "run"
    assert run.main(["--method", "attentionae_sc", "--input", str(h5ad), "--seed", "0",
                     "--outdir", str(runs), "--device", "cuda"]) == 0
    record = json.loads((runs / "record.json").read_text())
    assert record["status"] == "failed" and "no CUDA device is visible" in record["reason"]


def test_a_nan_loss_stops_training_with_a_clear_error(tiny_counts, h5ad, tmp_path, monkeypatch,
                                                       restore_thread_env):
    import torch

    from attentionae_sc import module

    monkeypatch.setattr(module, "zinb_nll", lambda *args: torch.tensor(float("nan")))
    model = AttentionAESC(progress=False, epochs_pretrain=3, epochs_cluster=2)
    with pytest.raises(FloatingPointError, match="pretraining loss is nan at epoch 0"):
        model.fit(tiny_counts)
    assert not hasattr(model, "labels_")
    # in the benchmark the run becomes a failed record naming the cause
    from scbench.methods import run

    runs = tmp_path / "run"
    assert run.main(["--method", "attentionae_sc", "--input", str(h5ad), "--seed", "0",
                     "--outdir", str(runs), "--device", "cpu",
                     "--params", json.dumps({"epochs_pretrain": 3, "epochs_cluster": 2})]) == 0
    record = json.loads((runs / "record.json").read_text())
    assert record["status"] == "failed"
    assert record["reason"] == "FloatingPointError: pretraining loss is nan at epoch 0"


def test_cli_nan_loss_exits_2_with_a_message_and_writes_nothing(h5ad, tmp_path, capsys,
                                                              monkeypatch):
    import torch

    from attentionae_sc import module

    monkeypatch.setattr(module, "zinb_nll", lambda *args: torch.tensor(float("nan")))
    out = tmp_path / "out.h5ad"
    assert main([str(h5ad), "--out", str(out), "--device", "cpu", *FAST]) == 2
    err = capsys.readouterr().err
    assert "pretraining loss is nan at epoch 0" in err and "Traceback" not in err
    assert not out.exists()
