"""Readers that turn each raw dataset format into one standard AnnData.

The standard: raw counts in ``X`` (CSR, float32, cells x genes), true labels as a
categorical ``obs["celltype"]``, unique ``obs_names`` and ``var_names``. Every reader
takes the list of downloaded files (in registry order) and the registry's label key.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scbench.catalog import LABEL_KEY

Reader = Callable[[Sequence[Path], str], ad.AnnData]


class FormatError(ValueError):
    """A file does not have the layout its registry entry promises."""


def _standard(counts, labels, cells, genes) -> ad.AnnData:
    """Build the standard AnnData, making names unique."""
    adata = ad.AnnData(
        X=sp.csr_matrix(counts, dtype=np.float32),
        obs=pd.DataFrame(index=pd.Index([str(c) for c in cells], dtype=str)),
        var=pd.DataFrame(index=pd.Index([str(g) for g in genes], dtype=str)),
    )
    adata.obs[LABEL_KEY] = pd.Categorical([_label_text(v) for v in labels])
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    return adata


def _label_text(value) -> str | None:
    """A label as text; a missing label stays missing (never the string 'nan')."""
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _concat(parts: list[ad.AnnData], files: Sequence[Path]) -> ad.AnnData:
    if len(parts) == 1:
        return parts[0]
    genes = parts[0].var_names
    for part, path in zip(parts[1:], files[1:]):
        if not part.var_names.equals(genes):
            raise FormatError(f"{path}: genes differ from {files[0]}; cannot concatenate")
    merged = ad.concat(parts, join="inner", label="source_file",
                       keys=[Path(f).name for f in files], index_unique=None)
    merged.obs[LABEL_KEY] = merged.obs[LABEL_KEY].astype("category")
    merged.obs_names_make_unique()
    return merged


def _xy_part(source, name: str, label_key: str) -> ad.AnnData:
    """One X/Y h5 (a path or an open binary file) as the standard AnnData."""
    try:
        with h5py.File(source, "r") as handle:
            if "X" not in handle or label_key not in handle:
                raise FormatError(f"{name}: needs datasets 'X' and {label_key!r}, "
                                  f"found {sorted(handle.keys())}")
            counts = handle["X"][()]
            labels = np.asarray(handle[label_key][()]).ravel()
    except OSError as err:
        raise FormatError(f"{name}: not a readable HDF5 file ({err})") from err
    if counts.ndim != 2 or counts.shape[0] != labels.shape[0]:
        hint = " (the matrix looks transposed)" if counts.shape[-1] == labels.shape[0] else ""
        raise FormatError(f"{name}: X has shape {counts.shape} but there are "
                          f"{labels.shape[0]} labels; cells must be rows{hint}")
    if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    stem = Path(name).stem
    cells = [f"{stem}_{i}" for i in range(counts.shape[0])]
    genes = [f"gene{j}" for j in range(counts.shape[1])]
    return _standard(counts, labels, cells, genes)


def read_h5_xy(files: Sequence[Path], label_key: str = "Y") -> ad.AnnData:
    """scDeepCluster/scDCC h5: dense ``X`` (cells x genes) and numeric labels."""
    return _concat([_xy_part(path, str(path), label_key) for path in files], files)


def read_zip_h5_xy(files: Sequence[Path], label_key: str = "Y") -> ad.AnnData:
    """The authors' ``<Name>.zip``: one X/Y h5 inside a zip."""
    parts = []
    for path in files:
        with _single_member(path) as (member, handle):
            parts.append(_xy_part(io.BytesIO(handle.read()), f"{path}:{member}", label_key))
    return _concat(parts, files)


def _decode(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_h5_exprs(files: Sequence[Path], label_key: str = "obs/cell_type1") -> ad.AnnData:
    """scziDesk ``data.h5``: ``exprs`` (CSR group or dense, cells x genes), names, obs labels."""
    parts = []
    for path in files:
        try:
            with h5py.File(path, "r") as handle:
                exprs = handle["exprs"]
                if isinstance(exprs, h5py.Group):
                    counts = sp.csr_matrix((exprs["data"][()], exprs["indices"][()],
                                            exprs["indptr"][()]), shape=tuple(exprs["shape"][()]))
                else:
                    counts = exprs[()]
                labels = _decode(handle[label_key][()])
                cells = _decode(handle["obs_names"][()])
                genes = _decode(handle["var_names"][()])
        except (OSError, KeyError) as err:
            raise FormatError(f"{path}: not a scziDesk exprs h5 ({err})") from err
        if counts.shape != (len(cells), len(genes)):
            raise FormatError(f"{path}: exprs has shape {counts.shape} but there are "
                              f"{len(cells)} cells and {len(genes)} genes")
        parts.append(_standard(counts, labels, cells, genes))
    return _concat(parts, files)


@contextmanager
def _single_member(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """Open the only file inside the zip ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist()
                       if not m.endswith("/") and not m.startswith("__MACOSX")]
            if len(members) != 1:
                raise FormatError(f"{path}: expected one file in the zip, found {members}")
            with archive.open(members[0]) as handle:
                yield members[0], handle
    except zipfile.BadZipFile as err:
        raise FormatError(f"{path}: not a valid zip file ({err})") from err


def read_csv_zip(files: Sequence[Path], label_key: str) -> ad.AnnData:
    """Zip(s) holding one csv each: rows are cells, a label column, metadata, genes.

    Used for the Baron GEO files: an unnamed cell id column, ``barcode``,
    ``assigned_cluster``, then one column per gene. Rows with missing values are
    dropped, as the authors' preprocessing does.
    """
    parts = []
    for path in files:
        with _single_member(path) as (_, handle):
            table = pd.read_csv(handle, index_col=0)
        if label_key not in table.columns:
            raise FormatError(f"{path}: label column {label_key!r} not found")
        table = table.dropna()
        numeric = table.drop(columns=[label_key]).select_dtypes(include="number")
        parts.append(_standard(numeric.to_numpy(), table[label_key], table.index, numeric.columns))
    return _concat(parts, files)


def read_h5ad(files: Sequence[Path], label_key: str) -> ad.AnnData:
    """An ``.h5ad`` with raw counts in ``X`` (or ``layers['counts']``) and labels in obs."""
    parts = []
    for path in files:
        try:
            adata = ad.read_h5ad(path)
        except Exception as err:  # h5py/anndata raise many types for corrupt files
            raise FormatError(f"{path}: not a readable .h5ad ({type(err).__name__}: {err})") \
                from err
        if label_key not in adata.obs:
            hint = (" but var has it: the matrix looks transposed (genes x cells); AnnData "
                    "wants cells as rows" if label_key in adata.var else "")
            raise FormatError(f"{path}: obs has no label column {label_key!r}{hint}; "
                              f"columns: {list(adata.obs.columns)}")
        counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
        parts.append(_standard(counts, adata.obs[label_key], adata.obs_names, adata.var_names))
    return _concat(parts, files)


def _read_labels(path: Path, label_key: str) -> pd.Series:
    table = pd.read_csv(path, sep=None, engine="python", dtype=str)  # empty cells stay NaN
    table = table.set_index(table.columns[0])
    if label_key not in table.columns:
        raise FormatError(f"{path}: label column {label_key!r} not found")
    return table[label_key]


def read_10x_mtx(files: Sequence[Path], label_key: str) -> ad.AnnData:
    """10x ``matrix.mtx(.gz)``, ``barcodes.tsv(.gz)``, ``features/genes.tsv(.gz)`` + labels csv.

    The files are identified by name; the label table (csv/tsv, first column =
    barcode) is the remaining file.
    """
    import scanpy as sc

    by_role: dict[str, Path] = {}
    for path in map(Path, files):
        name = path.name.lower()
        role = next((r for r in ("matrix.mtx", "barcodes", "features", "genes") if r in name),
                    "labels")
        by_role["features" if role == "genes" else role] = path
    missing = {"matrix.mtx", "barcodes", "features", "labels"} - set(by_role)
    if missing:
        raise FormatError(f"10x_mtx needs matrix, barcodes, features and a label table; "
                          f"missing {sorted(missing)} among {[str(f) for f in files]}")
    counts = sc.read_mtx(by_role["matrix.mtx"]).X.T
    barcodes = pd.read_csv(by_role["barcodes"], header=None, sep="\t")[0]
    genes = pd.read_csv(by_role["features"], header=None, sep="\t")
    genes = genes[1] if genes.shape[1] > 1 else genes[0]
    if counts.shape != (len(barcodes), len(genes)):
        stored = (counts.shape[1], counts.shape[0])
        hint = (" (it is stored cells x genes; 10x stores genes x cells)"
                if counts.shape == (len(genes), len(barcodes)) else "")
        raise FormatError(f"{by_role['matrix.mtx']}: matrix is {stored[0]} x {stored[1]} but "
                          f"there are {len(genes)} features and {len(barcodes)} barcodes{hint}")
    labels = _read_labels(by_role["labels"], label_key).reindex(barcodes.astype(str))
    if labels.isna().any():
        raise FormatError(f"{by_role['labels']}: {int(labels.isna().sum())} barcodes have no label")
    return _standard(counts, labels, barcodes, genes)


def read_10x_h5(files: Sequence[Path], label_key: str) -> ad.AnnData:
    """A 10x ``filtered_feature_bc_matrix.h5`` plus a label table (first column = barcode)."""
    import scanpy as sc

    matrix, labels_path = files
    adata = sc.read_10x_h5(matrix)
    adata.var_names_make_unique()
    labels = _read_labels(Path(labels_path), label_key).reindex(adata.obs_names)
    if labels.isna().any():
        raise FormatError(f"{labels_path}: {int(labels.isna().sum())} barcodes have no label")
    return _standard(adata.X, labels, adata.obs_names, adata.var_names)


def read_chung_tpm(files: Sequence[Path], label_key: str = "index3") -> ad.AnnData:
    """Chung et al. breast cancer: a TPM matrix (genes x samples) and the sample sheet.

    Only single cells (``type == 'SC'``) are kept. The values are TPM, not counts;
    the registry marks the dataset ``counts: false``.
    """
    matrix_path, sheet_path = files
    opener = gzip.open if str(matrix_path).endswith(".gz") else open
    with opener(matrix_path, "rt") as handle:
        matrix = pd.read_csv(handle, sep="\t", index_col=0)
    sheet = pd.read_csv(sheet_path, sep="\t")
    cells = sheet.loc[sheet["type"] == "SC", "sample"].astype(str)
    missing = sorted(set(cells) - set(matrix.columns))
    if missing:
        raise FormatError(f"{matrix_path}: {len(missing)} single cells of the sample sheet "
                          f"are not columns of the matrix, e.g. {missing[:3]}")
    numeric = matrix.select_dtypes(include="number")
    labels = sheet.set_index("sample").loc[cells, label_key]
    return _standard(numeric[cells.tolist()].to_numpy().T, labels, cells, numeric.index)


def read_cellbench_csv(files: Sequence[Path], label_key: str = "cell_line_demuxlet") -> ad.AnnData:
    """CellBench (sc_mixology) csv.gz pairs: ``NAME.count.csv.gz`` (genes x cells, gene id first)
    and ``NAME.metadata.csv.gz`` (one row per cell). Only demuxlet singlets
    (``demuxlet_cls == "SNG"``) are kept: doublets carry two cell lines."""
    by_role = {("metadata" if "metadata" in Path(f).name else "count"): Path(f) for f in files}
    if set(by_role) != {"count", "metadata"} or len(files) != 2:
        raise FormatError(f"cellbench_csv needs one count and one metadata csv, got "
                          f"{[str(f) for f in files]}")
    counts = pd.read_csv(by_role["count"], index_col=0)
    meta = pd.read_csv(by_role["metadata"], index_col=0)
    for column in (label_key, "demuxlet_cls"):
        if column not in meta.columns:
            raise FormatError(f"{by_role['metadata']}: column {column!r} not found")
    cells = meta.index[meta["demuxlet_cls"] == "SNG"]
    missing = cells.difference(counts.columns)
    if len(missing):
        raise FormatError(f"{by_role['count']}: {len(missing)} singlets of the metadata are not "
                          f"columns of the count matrix, e.g. {list(missing[:3])}")
    return _standard(counts[cells].to_numpy().T, meta.loc[cells, label_key], cells, counts.index)


READERS: dict[str, Reader] = {
    "h5_xy": read_h5_xy,
    "zip_h5_xy": read_zip_h5_xy,
    "h5_exprs": read_h5_exprs,
    "baron_csv_zip": read_csv_zip,
    "h5ad": read_h5ad,
    "10x_mtx": read_10x_mtx,
    "10x_h5": read_10x_h5,
    "chung_tpm": read_chung_tpm,
    "cellbench_csv": read_cellbench_csv,
}


def read(format_name: str, files: Sequence[Path], label_key: str) -> ad.AnnData:
    """Read files of a registered format into the standard AnnData."""
    if format_name not in READERS:
        raise FormatError(f"unknown format {format_name!r}; known: {sorted(READERS)}")
    return READERS[format_name]([Path(f) for f in files], label_key)
