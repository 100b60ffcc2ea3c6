"""Class probabilities from a bundle and a feature frame.

The chain is always the same: :func:`fuzzyvec.features.frame.select_features` picks the bundle's
columns **by name** (other columns — ``timestamp``, ``symbol``, extra features — are
ignored; a missing column is a :class:`~fuzzyvec.errors.SchemaMismatchError` naming it),
then the bundle's fitted transform, then the network in eval mode without gradients, then
softmax.
"""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import torch

from ..features.frame import select_features
from .bundle import ModelBundle, load_bundle

__all__ = ["predict_proba"]


def predict_proba(bundle: ModelBundle | str | os.PathLike, frame: pl.DataFrame, *,
                  batch_size: int = 65_536) -> np.ndarray:
    """Class probabilities (BUY, HOLD, SELL) for every row of a feature frame.

    Parameters
    ----------
    bundle:
        A :class:`~fuzzyvec.model.bundle.ModelBundle`, or a bundle folder (read with
        :func:`~fuzzyvec.model.bundle.load_bundle`).
    frame:
        A feature frame holding at least the bundle's feature columns (any order, any extra
        columns; multi-symbol frames with a ``symbol`` column work row by row).
    batch_size:
        Rows per forward pass (bounds memory; results agree to float rounding).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(frame.height, 3)``, columns in class order BUY = 0, HOLD = 1,
        SELL = 2. Rows with any missing (NaN) or infinite feature — warm-up bars — get NaN
        probabilities (the decision step treats them as HOLD); other rows sum to 1.

    Raises
    ------
    SchemaMismatchError
        If the frame lacks any of the bundle's features (all missing names are listed).
    """
    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle)
    X = select_features(frame, bundle.feature_names, dtype=np.float64)
    Z = bundle.transform.apply(X)
    valid = np.isfinite(Z).all(axis=1)
    out = np.full((Z.shape[0], bundle.model_config.n_classes), np.nan, dtype=np.float64)
    if not valid.any():
        return out
    net = bundle.model()
    rows = torch.from_numpy(np.ascontiguousarray(Z[valid]))
    with torch.inference_mode():
        probs = [torch.softmax(net(rows[i:i + batch_size]).double(), dim=1)
                 for i in range(0, rows.shape[0], batch_size)]
    out[valid] = torch.cat(probs).numpy()
    return out
