"""Registry, download/mirror, readers and the prepared dataset: good and bad input."""

from __future__ import annotations

import hashlib
import http.client
import io
import subprocess
import zipfile
from dataclasses import asdict
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from attentionae_sc.simulation import simulate_counts
from attentionae_sc.validation import InputError
from scbench import download
from scbench.catalog import DatasetSpec, load_registry, resolve
from scbench.datasets import prepare
from scbench.download import ChecksumError, fetch, file_hashes
from scbench.readers import FormatError, read

REGISTRY = Path(__file__).resolve().parents[1] / "config" / "datasets.yaml"


def _write_xy(path: Path, counts: np.ndarray, labels: np.ndarray) -> Path:
    with h5py.File(path, "w") as handle:
        handle["X"] = counts
        handle["Y"] = labels
    return path


@pytest.fixture
def xy_file(tmp_path):
    rng = np.random.default_rng(0)
    return _write_xy(tmp_path / "toy.h5", rng.poisson(2.0, (60, 30)).astype(np.float64),
                     np.repeat([1.0, 2.0, 3.0], 20))


def test_registry_has_the_paper_datasets_with_checksums_and_pinned_urls():
    registry = load_registry(REGISTRY)
    in_paper = [name for name, entry in registry.items() if entry.get("in_paper")]
    assert len(in_paper) >= 17  # Table 1's 16 datasets (Baron human as 4) + BRCA
    assert registry["Baron_Pancreas_mouse"]["paper_cells"] == 1886
    for name, entry in registry.items():
        for file in entry.get("files") or []:
            assert file.get("sha256") or file.get("git_blob"), (name, file["name"])
            if "github.com" in file.get("url", ""):
                assert "/raw/" in file["url"] and len(file["url"].split("/raw/")[1]
                                                       .split("/")[0]) == 40, file["url"]


def test_git_blob_id_matches_git(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(b"hello\n")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    if expected.returncode != 0:
        pytest.skip("git not available")
    hashes = file_hashes(path)
    assert hashes["git_blob"] == expected.stdout.strip()
    assert hashes["sha256"] == hashlib.sha256(b"hello\n").hexdigest()


def test_fetch_from_mirror_verifies_and_never_leaves_a_partial_file(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "d").mkdir(parents=True)
    (mirror / "d" / "f.bin").write_bytes(b"content")
    good = {"name": "f.bin", "mirror_path": "d/f.bin", **file_hashes(mirror / "d" / "f.bin")}
    dest = tmp_path / "out" / "f.bin"
    fetch(good, dest, mirror)
    assert dest.read_bytes() == b"content"

    bad = {**good, "sha256": "0" * 64}
    dest2 = tmp_path / "out2" / "f.bin"
    with pytest.raises(ChecksumError, match="expected sha256 0000.*got "):
        fetch(bad, dest2, mirror)
    assert not dest2.exists() and not list(dest2.parent.iterdir())
    with pytest.raises(FileNotFoundError, match="not found in the data mirror"):
        fetch({**good, "mirror_path": "d/missing.bin"}, dest2, mirror)


def test_download_retries_broken_and_truncated_transfers(tmp_path, monkeypatch):
    source = tmp_path / "f.bin"
    source.write_bytes(b"the whole content")
    entry = {"name": "f.bin", "url": source.as_uri(), **file_hashes(source)}
    replies = iter([http.client.IncompleteRead(b"the"), b"the whole", b"the whole content"])

    def flaky_urlopen(url, timeout):
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return io.BytesIO(reply)

    monkeypatch.setattr(download.urllib.request, "urlopen", flaky_urlopen)
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)
    dest = tmp_path / "out" / "f.bin"
    fetch(entry, dest, None, retries=3)
    assert dest.read_bytes() == b"the whole content"

    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(b"always short"))
    with pytest.raises(ChecksumError):
        fetch(entry, tmp_path / "out2" / "f.bin", None, retries=2)
    assert not list((tmp_path / "out2").iterdir())


def test_h5_reader_and_orientation_check(tmp_path, xy_file):
    adata = read("h5_xy", [xy_file], "Y")
    assert adata.shape == (60, 30) and adata.obs["celltype"].nunique() == 3
    assert set(adata.obs["celltype"]) == {"1", "2", "3"}
    rng = np.random.default_rng(0)
    transposed = _write_xy(tmp_path / "t.h5", rng.poisson(2.0, (30, 60)).astype(float),
                           np.repeat([1.0, 2.0, 3.0], 20))
    with pytest.raises(FormatError, match="looks transposed"):
        read("h5_xy", [transposed], "Y")


def test_corrupt_and_truncated_files_give_a_format_error(tmp_path, xy_file):
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(xy_file.read_bytes()[:500])
    with pytest.raises(FormatError, match="not a readable HDF5"):
        read("h5_xy", [truncated], "Y")
    h5ad = tmp_path / "d.h5ad"
    simulate_counts(60, 30, 2, seed=0).write_h5ad(h5ad)
    cut = tmp_path / "cut.h5ad"
    cut.write_bytes(h5ad.read_bytes()[:2000])
    with pytest.raises(FormatError, match="cut.h5ad: not a readable .h5ad"):
        read("h5ad", [cut], "celltype")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"garbage")
    with pytest.raises(FormatError, match="not a valid zip"):
        read("baron_csv_zip", [not_zip], "assigned_cluster")


def test_csv_zip_reader_concatenates_files_and_finds_labels(tmp_path):
    paths = []
    for part in (1, 2):
        table = pd.DataFrame({"barcode": ["a", "b"], "assigned_cluster": ["beta", "alpha"],
                              "Ins1": [3, 0], "Gcg": [0, 5]}, index=[f"p{part}_0", f"p{part}_1"])
        path = tmp_path / f"part{part}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("counts.csv", table.to_csv())
        paths.append(path)
    adata = read("baron_csv_zip", paths, "assigned_cluster")
    assert adata.shape == (4, 2) and list(adata.var_names) == ["Ins1", "Gcg"]
    assert list(adata.obs["celltype"]) == ["beta", "alpha", "beta", "alpha"]
    with pytest.raises(FormatError, match="label column 'cluster' not found"):
        read("baron_csv_zip", paths, "cluster")


def test_csv_zip_reader_keeps_a_numeric_label_column_out_of_the_genes(tmp_path):
    table = pd.DataFrame({"cluster_id": [0, 1, 2], "Ins1": [3, 0, 1], "Gcg": [0, 5, 2]},
                         index=["c0", "c1", "c2"])
    path = tmp_path / "numeric.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("counts.csv", table.to_csv())
    adata = read("baron_csv_zip", [path], "cluster_id")
    assert list(adata.var_names) == ["Ins1", "Gcg"]
    assert list(adata.obs["celltype"]) == ["0", "1", "2"]


def _custom(path, **extra) -> DatasetSpec:
    config = {"custom_datasets": {"mine": {"path": str(path), "format": "h5ad",
                                           "label_key": "cell_type", **extra}}}
    return resolve("mine", {}, config)


def test_custom_dataset_with_checksum_is_prepared(tmp_path):
    adata = simulate_counts(80, 100, 2, seed=0)
    adata.obs["cell_type"] = adata.obs.pop("celltype")
    source = tmp_path / "mine.h5ad"
    adata.write_h5ad(source)
    out = tmp_path / "prepared.h5ad"
    prepare(_custom(source, sha256=file_hashes(source)["sha256"]), [source], out)
    prepared = ad.read_h5ad(out)
    assert prepared.shape == (80, 100) and prepared.uns["scbench"]["n_types"] == 2
    with pytest.raises(ChecksumError):
        prepare(_custom(source, sha256="1" * 64), [source], tmp_path / "other.h5ad")
    assert not (tmp_path / "other.h5ad").exists()
    with pytest.raises(FormatError, match="no label column 'celltype'"):
        prepare(resolve("mine", {}, {"custom_datasets": {"mine": {
            "path": str(source), "format": "h5ad"}}}), [source], tmp_path / "x.h5ad")


def test_transposed_h5ad_and_10x_matrices_are_named_as_such(tmp_path):
    adata = simulate_counts(60, 30, 2, seed=0)
    flipped = ad.AnnData(adata.X.T.tocsr(), obs=pd.DataFrame(index=adata.var_names),
                         var=adata.obs)
    flipped.write_h5ad(tmp_path / "flipped.h5ad")
    with pytest.raises(FormatError, match="looks transposed"):
        read("h5ad", [tmp_path / "flipped.h5ad"], "celltype")
    # a 10x matrix written cells x genes instead of genes x cells
    scipy.io.mmwrite(tmp_path / "matrix.mtx", adata.X.tocoo())
    pd.Series(adata.obs_names).to_csv(tmp_path / "barcodes.tsv", index=False, header=False)
    pd.Series(adata.var_names).to_csv(tmp_path / "features.tsv", index=False, header=False)
    adata.obs[["celltype"]].to_csv(tmp_path / "labels.csv")
    files = [tmp_path / n for n in ("matrix.mtx", "barcodes.tsv", "features.tsv", "labels.csv")]
    with pytest.raises(FormatError, match="stored cells x genes"):
        read("10x_mtx", files, "celltype")
    scipy.io.mmwrite(tmp_path / "matrix.mtx", adata.X.T.tocoo())
    assert read("10x_mtx", files, "celltype").shape == (60, 30)


def test_a_registry_file_replaced_after_fetching_is_caught_at_prepare(tmp_path):
    source = tmp_path / "mine.h5ad"
    simulate_counts(80, 100, 2, seed=0).write_h5ad(source)
    spec = _custom(source, sha256=file_hashes(source)["sha256"])
    registry_spec = DatasetSpec(**{**asdict(spec), "kind": "registry"})
    simulate_counts(80, 100, 2, seed=1).write_h5ad(source)  # another file under the same name
    with pytest.raises(ChecksumError):
        prepare(registry_spec, [source], tmp_path / "prepared.h5ad")
    assert not (tmp_path / "prepared.h5ad").exists()


@pytest.mark.parametrize("change, message", [
    (lambda a: a[:20].copy(), "at least 50 needed"),
    (lambda a: _relabel(a, "batch1"), "1 cell type"),
    (lambda a: a[:, :1].copy(), "1 gene"),
    (lambda a: _set(a, np.nan), "NaN/Inf"),
    (lambda a: _set(a, 0.5), "non-integer"),
    (lambda a: _set(a, -3.0), "negative"),
    (lambda a: _unlabel(a, 30), "30 cells have no label"),
])
def test_prepare_rejects_bad_data_and_writes_nothing(tmp_path, change, message):
    adata = change(simulate_counts(80, 100, 2, seed=0))
    source = tmp_path / "in.h5ad"
    adata.write_h5ad(source)
    out = tmp_path / "prepared.h5ad"
    spec = resolve("mine", {}, {"custom_datasets": {"mine": {"path": str(source),
                                                             "format": "h5ad"}}})
    with pytest.raises(InputError, match=message):
        prepare(spec, [source], out)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.h5ad"]


def _set(adata: ad.AnnData, value: float) -> ad.AnnData:
    dense = adata.X.toarray()
    dense[1, 1] = value
    adata.X = dense
    return adata


def _relabel(adata: ad.AnnData, label: str) -> ad.AnnData:
    adata.obs["celltype"] = label
    return adata


def _unlabel(adata: ad.AnnData, n: int) -> ad.AnnData:
    labels = adata.obs["celltype"].astype(object)
    labels.iloc[:n] = np.nan
    adata.obs["celltype"] = labels
    return adata


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown dataset 'nope'.*Baron_Pancreas_mouse"):
        resolve("nope", load_registry(REGISTRY), {})


@pytest.mark.realdata
def test_mirror_files_match_the_registry(tmp_path, data_mirror):
    registry = load_registry(REGISTRY)
    spec = resolve("Baron_Pancreas_mouse", registry, {})
    files = [fetch(f, tmp_path / f["name"], data_mirror) for f in spec.files]
    adata = prepare(spec, files, tmp_path / "baron.h5ad")
    assert adata.shape == (1886, 14878) and adata.uns["scbench"]["n_types"] == 13


def _write_cellbench(tmp_path: Path) -> list[Path]:
    genes = [f"ENSG{i:011d}" for i in range(6)]
    cells = [f"CELL_{i}" for i in range(5)]
    counts = pd.DataFrame(np.arange(30).reshape(6, 5) % 4, index=genes, columns=cells)
    meta = pd.DataFrame({"cell_line_demuxlet": ["A", "B", "A", "B", "A"],
                         "demuxlet_cls": ["SNG", "SNG", "DBL", "SNG", "SNG"]}, index=cells)
    count_path, meta_path = tmp_path / "x.count.csv.gz", tmp_path / "x.metadata.csv.gz"
    counts.to_csv(count_path)
    meta.to_csv(meta_path)
    return [count_path, meta_path]


def test_cellbench_reader_keeps_singlets_as_cells_x_genes(tmp_path):
    count_path, meta_path = _write_cellbench(tmp_path)
    adata = read("cellbench_csv", [count_path, meta_path], "cell_line_demuxlet")
    assert list(adata.obs_names) == ["CELL_0", "CELL_1", "CELL_3", "CELL_4"]  # CELL_2 is a doublet
    assert list(adata.obs["celltype"]) == ["A", "B", "B", "A"]
    expected = (np.arange(30).reshape(6, 5) % 4).T[[0, 1, 3, 4]]
    np.testing.assert_array_equal(adata.X.toarray(), expected)
    with pytest.raises(FormatError, match="one count and one metadata"):
        read("cellbench_csv", [count_path], "cell_line_demuxlet")


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["Baron_Pancreas_mouse1", "Baron_Pancreas_mouse2",
                                  "CellBench_sc_celseq2", "CellBench_sc_dropseq",
                                  "CellBench_sc_celseq2_5cl_p1", "CellBench_sc_celseq2_5cl_p2",
                                  "CellBench_sc_celseq2_5cl_p3"])
def test_extra_mirror_datasets_prepare_with_the_registered_counts(tmp_path, data_mirror, name):
    entry = load_registry(REGISTRY)[name]
    spec = resolve(name, load_registry(REGISTRY), {})
    files = [fetch(f, tmp_path / f["name"], data_mirror) for f in spec.files]
    adata = prepare(spec, files, tmp_path / "prepared.h5ad")
    assert adata.shape == (entry["cells"], entry["genes"])
    assert adata.uns["scbench"]["n_types"] == entry["types"]
