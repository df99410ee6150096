"""DESC (PyPI ``desc`` 2.1.1, the original TensorFlow/Keras code) in its own environment ``desc``.

Preprocessing follows DESC's tutorial: ``desc.normalize_per_cell`` (1e4) -> ``desc.log1p`` ->
1000 highly variable genes (scanpy) -> ``desc.scale`` (zero-centred, max 3). Then ``desc.train``
with its defaults (layer sizes from ``desc.getdims``, Louvain initialisation with 10 neighbours,
tol 0.005, 300 pretraining epochs) at Louvain resolution 0.8, seeded with ``seed``, CPU only.
Keras' ``plot_model`` call (needs the graphviz binary) is disabled. Labels: argmax of DESC's
soft assignment; embedding: DESC's bottleneck ``X_Embeded_z``.
"""

from __future__ import annotations

import os
import tempfile

from ._common import resolve_params
from .registry import MethodOutput

REQUIRES = ("desc", "tensorflow", "scanpy", "louvain")  # missing -> unavailable

DEFAULTS = {
    "n_top_genes": 1000,
    "scale_max": 3.0,
    "dims": None,
    "louvain_resolution": 0.8,
    "n_neighbors": 10,
    "tol": 0.005,
    "pretrain_epochs": 300,
    "batch_size": 256,
    "max_iter": 1000,
}


def run(adata, *, seed, threads, device, n_clusters, params):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import desc
    import desc.models.SAE as sae_module
    import scanpy as sc
    import tensorflow as tf
    from desc.models.desc import getdims

    settings = resolve_params("desc", DEFAULTS, params)
    sae_module.plot_model = lambda *args, **kwargs: None  # needs graphviz; only draws a figure
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)

    data = adata.copy()
    sc.pp.filter_genes(data, min_counts=1)
    desc.normalize_per_cell(data, counts_per_cell_after=1e4)
    desc.log1p(data)
    if data.n_vars > settings["n_top_genes"]:
        sc.pp.highly_variable_genes(data, n_top_genes=settings["n_top_genes"], subset=True)
    settings["n_hvg_used"] = int(data.n_vars)
    desc.scale(data, zero_center=True, max_value=settings["scale_max"])
    dims = settings["dims"]
    dims = [data.n_vars, *dims] if dims else getdims(data.shape)
    settings["dims_used"] = [int(d) for d in dims]
    resolution = float(settings["louvain_resolution"])
    with tempfile.TemporaryDirectory(prefix="scbench_desc_") as save_dir:
        data = desc.train(
            data, dims=dims, tol=settings["tol"], n_neighbors=settings["n_neighbors"],
            batch_size=settings["batch_size"], louvain_resolution=[resolution],
            pretrain_epochs=settings["pretrain_epochs"], max_iter=settings["max_iter"],
            save_dir=save_dir, use_ae_weights=False, save_encoder_weights=False,
            do_tsne=False, do_umap=False, use_GPU=False, num_Cores=threads, num_Cores_tsne=1,
            random_seed=seed, verbose=False,
        )
    labels = data.obs[f"desc_{resolution}"].astype(int).to_numpy()
    embedding = data.obsm[f"X_Embeded_z{resolution}"]
    return MethodOutput(labels=labels, embedding=embedding, extra={"settings": settings})
