"""Seurat (R, from Debian: ``apt-get install -y r-base-core r-cran-seurat``) via ``seurat.R``.

NormalizeData (LogNormalize, 1e4) -> FindVariableFeatures (vst, 2000) -> ScaleData -> RunPCA (50)
-> FindNeighbors (PCs 1:10 and k.param 20, Seurat's defaults) -> FindClusters (resolution 0.8,
Seurat's default; algorithm 1 = original Louvain), seeded. Counts go to R as a temporary
MatrixMarket file. Missing ``Rscript`` or Seurat makes the run ``unavailable``. Embedding: the
Seurat PCA. Peak memory in the record covers the Rscript child (RUSAGE_CHILDREN).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ("scipy", "pandas")  # missing -> unavailable

SCRIPT = Path(__file__).with_name("seurat.R")
INSTALL_HINT = "apt-get install -y r-base-core r-cran-seurat"
DEFAULTS = {
    "nfeatures": 2000,
    "npcs": 50,
    "dims": 10,
    "k_param": 20,
    "resolution": 0.8,
    "algorithm": 1,
}


def check_available() -> str | None:
    """Why Seurat cannot run here, or ``None``."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return f"seurat needs R: Rscript not found on PATH ({INSTALL_HINT})"
    probe = subprocess.run(
        [rscript, "-e", 'cat(as.character(packageVersion("Seurat")))'],
        capture_output=True, text=True, timeout=120, check=False)
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"seurat needs the R package Seurat ({INSTALL_HINT}); R says: {detail}"
    return None


def run(adata, *, seed, threads, device, n_clusters, params):
    import numpy as np
    import pandas as pd
    import scipy.io
    import scipy.sparse as sp

    settings = resolve_params("seurat", DEFAULTS, params)
    cells = [f"c{i}" for i in range(adata.n_obs)]
    with tempfile.TemporaryDirectory(prefix="scbench_seurat_") as tmp:
        work = Path(tmp)
        counts = sp.csr_matrix(adata.X).T.tocoo()  # genes x cells
        # whole numbers as integers; anything else (e.g. TPM) as it is, never rounded
        whole = bool(np.all(counts.data == np.rint(counts.data)))
        values = counts.data.astype(np.int64 if whole else np.float64)
        counts = sp.coo_matrix((values, (counts.row, counts.col)), shape=counts.shape)
        scipy.io.mmwrite(work / "counts.mtx", counts, field="integer" if whole else "real")
        (work / "genes.txt").write_text("".join(f"g{j}\n" for j in range(adata.n_vars)))
        (work / "cells.txt").write_text("".join(f"{c}\n" for c in cells))
        command = [shutil.which("Rscript") or "Rscript", str(SCRIPT), str(work), str(seed),
                   *(str(settings[key]) for key in ("nfeatures", "npcs", "dims", "k_param",
                                                    "resolution", "algorithm"))]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"seurat.R exited with {done.returncode}: {tail}")
        clusters = pd.read_csv(work / "clusters.tsv", sep="\t", dtype=str).set_index("cell")
        pcs = pd.read_csv(work / "pca.tsv", sep="\t", dtype={"cell": str}).set_index("cell")
        info = pd.read_csv(work / "versions.tsv", sep="\t", dtype=str)
    info = dict(zip(info["name"], info["value"], strict=False))
    for key in ("npcs_used", "ndims_used", "nfeatures_used"):
        settings[key] = int(info.pop(key))
    labels = clusters["cluster"].reindex(cells).to_numpy()
    embedding = pcs.reindex(cells).to_numpy(dtype=np.float32)
    extra = {"settings": settings, "versions": {f"R:{k}" if k != "R" else "R": v
                                                for k, v in info.items()}}
    return MethodOutput(labels=labels, embedding=embedding, extra=extra)
