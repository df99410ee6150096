"""Splatter-style simulated counts with known groups, for tests and the offline benchmark.

The generative model follows Splatter (Zappia et al. 2017) in simplified form: gamma gene means,
log-normal differential-expression factors per group, log-normal library sizes, gamma-Poisson
(negative binomial) counts with a common biological coefficient of variation, and logistic
mean-dependent dropout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData


def simulate_counts(
    n_cells: int = 1000,
    n_genes: int = 2000,
    n_groups: int = 4,
    *,
    group_probs: list[float] | None = None,
    de_prob: float = 0.1,
    de_loc: float = 0.5,
    de_scale: float = 0.4,
    library_loc: float = 8.5,
    library_scale: float = 0.3,
    bcv: float = 0.3,
    dropout_mid: float = 0.0,
    dropout_shape: float = -1.0,
    seed: int = 0,
) -> AnnData:
    """A cells x genes AnnData of integer counts (CSR) with labels in ``obs["celltype"]``.

    Harder data: smaller ``de_prob``/``de_loc``, larger ``bcv``, larger ``dropout_mid``.
    """
    if n_groups < 1 or n_cells < n_groups:
        raise ValueError(f"need 1 <= n_groups <= n_cells, got {n_groups} groups, {n_cells} cells")
    rng = np.random.default_rng(seed)
    probs = np.full(n_groups, 1 / n_groups) if group_probs is None else np.asarray(group_probs)
    if len(probs) != n_groups or not np.isclose(probs.sum(), 1):
        raise ValueError("group_probs must have n_groups entries summing to 1")
    groups = rng.choice(n_groups, size=n_cells, p=probs)

    gene_mean = rng.gamma(shape=0.6, scale=1 / 0.3, size=n_genes)
    is_de = rng.random((n_groups, n_genes)) < de_prob
    factor = rng.lognormal(de_loc, de_scale, size=(n_groups, n_genes))
    factor = np.where(rng.random((n_groups, n_genes)) < 0.5, factor, 1 / factor)
    group_mean = gene_mean * np.where(is_de, factor, 1.0)

    library = rng.lognormal(library_loc, library_scale, size=n_cells)
    proportions = group_mean[groups] / group_mean[groups].sum(axis=1, keepdims=True)
    cell_mean = proportions * library[:, None]
    shape = 1 / bcv**2
    counts = rng.poisson(rng.gamma(shape, cell_mean / shape))
    keep_prob = 1 - 1 / (1 + np.exp(-dropout_shape * (np.log(cell_mean + 1e-12) - dropout_mid)))
    counts = np.where(rng.random(counts.shape) < keep_prob, counts, 0)

    obs = pd.DataFrame(
        {"celltype": pd.Categorical([f"group{g + 1}" for g in groups])},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    adata = AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=obs, var=var)
    adata.uns["simulation"] = {
        "model": "splatter-style gamma-Poisson with logistic dropout", "seed": seed,
        "n_groups": n_groups, "de_prob": de_prob, "de_loc": de_loc, "de_scale": de_scale,
        "bcv": bcv, "dropout_mid": dropout_mid, "library_loc": library_loc,
    }
    return adata
