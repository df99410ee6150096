"""Checks on user input that fail early with a message naming the problem."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from anndata import AnnData


class InputError(ValueError):
    """The input data cannot be used as given; the message says why and what to do."""


def warn(message: str) -> None:
    """``warnings.warn`` attributed to the first caller outside this package, so the warning
    points at the user's line whichever entry point (``fit``, ``cluster``, ``predict``) ran."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def count_matrix(adata: AnnData, layer: str | None = None, *,
                 allow_non_integer: bool = False) -> np.ndarray | sp.csr_matrix:
    """The raw count matrix (cells x genes) of ``adata``: ``adata.X`` or ``adata.layers[layer]``.

    Raises :class:`InputError` for a missing layer, an empty matrix, duplicated gene names or
    values that are not counts (:func:`check_counts`).
    """
    if layer is None:
        matrix = adata.X
        where = "adata.X"
    else:
        if layer not in adata.layers:
            raise InputError(
                f"layer {layer!r} not found; available layers: {sorted(adata.layers.keys())}"
            )
        matrix = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if matrix is None:
        raise InputError(f"{where} is empty (None)")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{where} has shape {adata.shape}: no cells or no genes")
    if not adata.var_names.is_unique:  # genes are matched by name between fit and predict
        duplicated = adata.var_names[adata.var_names.duplicated()].unique()
        raise InputError(
            f"{len(duplicated)} gene names occur more than once (e.g. {duplicated[0]!r}); "
            "make them unique first: adata.var_names_make_unique()"
        )
    matrix = sp.csr_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)
    check_counts(matrix, allow_non_integer=allow_non_integer, what=where)
    return matrix


def check_counts(
    matrix: np.ndarray | sp.spmatrix, *, allow_non_integer: bool = False, what: str = "adata.X"
) -> None:
    """Raise unless ``matrix`` holds finite, non-negative, whole numbers (raw counts).

    ``allow_non_integer`` turns the whole-number check into a warning, for users who knowingly
    pass e.g. TPM or ambient-corrected values; the ZINB likelihood is then only approximate.
    """
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{what} has non-numeric dtype {values.dtype}")
    if values.size == 0:
        return
    if np.issubdtype(values.dtype, np.floating):
        n_bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        if n_bad:
            raise InputError(
                f"{what} contains {n_bad} NaN/Inf value(s); AttentionAE-sc needs raw counts"
            )
    minimum = values.min()
    if minimum < 0:
        raise InputError(
            f"{what} contains negative values (min {minimum:g}); it looks scaled or "
            "log-normalised, but raw counts are needed (pass layer=... if counts are in a layer)"
        )
    if np.issubdtype(values.dtype, np.floating):
        fractional = values != np.round(values)
        if fractional.any():
            example = values[np.argmax(fractional)]
            message = (
                f"{what} contains {int(fractional.sum())} non-integer value(s) (e.g. {example:g}); "
                "the ZINB loss models raw counts"
            )
            if not allow_non_integer:
                raise InputError(
                    message + ". If this is intended, pass allow_non_integer=True "
                    "(CLI: --allow-non-integer)."
                )
            warn(message + "; continuing because allow_non_integer=True")


def check_label_key(adata: AnnData, label_key: str) -> None:
    """Raise unless ``adata.obs[label_key]`` exists."""
    if label_key not in adata.obs.columns:
        raise InputError(
            f"label key {label_key!r} not found in adata.obs; available columns: "
            f"{list(adata.obs.columns)}"
        )
