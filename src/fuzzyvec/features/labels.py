"""Labels for supervised training.

.. warning:: LOOK-AHEAD BY CONSTRUCTION. Every label here is computed from bars *after* the
   bar it labels. Labels are for training targets only; feature code must never import this
   module (a test enforces it).

Class encoding, defined once for the whole package: ``BUY = 0``, ``HOLD = 1``, ``SELL = 2``;
``NO_LABEL = -1`` marks bars that cannot be labelled (dropped from training).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ..strategy.config import ForwardReturnLabels, TripleBarrierLabels, ZigzagLabels

__all__ = ["BUY", "CLASS_NAMES", "HOLD", "NO_LABEL", "SELL", "label_array", "make_labels"]

BUY, HOLD, SELL = 0, 1, 2
NO_LABEL = -1
CLASS_NAMES: tuple[str, str, str] = ("BUY", "HOLD", "SELL")


def _labels_config(labels: Any) -> ZigzagLabels | ForwardReturnLabels | TripleBarrierLabels:
    if hasattr(labels, "training"):  # a Strategy
        return labels.training.labels
    if isinstance(labels, ZigzagLabels | ForwardReturnLabels | TripleBarrierLabels):
        return labels
    source = dict(labels).get("source")
    model = {"zigzag": ZigzagLabels, "forward_return": ForwardReturnLabels,
             "triple_barrier": TripleBarrierLabels}.get(source)
    if model is None:
        raise ValueError(f"labels.source: expected zigzag, forward_return or triple_barrier, got {source!r}")
    return model.model_validate(dict(labels))


def label_array(bars: pl.DataFrame, labels: Any) -> np.ndarray:
    """int8 labels (BUY/HOLD/SELL, NO_LABEL) for one symbol's base bars. LOOKS AHEAD."""
    from ..nb import labels as nbl

    cfg = _labels_config(labels)
    close = bars["close"].to_numpy().astype(np.float64)
    if isinstance(cfg, ZigzagLabels):
        return nbl.zigzag_labels_1d_nb(close, float(cfg.zigzag_threshold), int(cfg.label_lookahead))
    if isinstance(cfg, ForwardReturnLabels):
        return nbl.forward_return_labels_1d_nb(close, int(cfg.horizon), float(cfg.threshold))
    high = bars["high"].to_numpy().astype(np.float64)
    low = bars["low"].to_numpy().astype(np.float64)
    return nbl.triple_barrier_labels_1d_nb(close, high, low, float(cfg.pt_multiplier), float(cfg.sl_multiplier),
                                           int(cfg.max_holding_period), int(cfg.vol_span))


def make_labels(bars: pl.DataFrame, labels: Any) -> pl.DataFrame:
    """Label one symbol's base bars. LOOKS AHEAD (see the module warning).

    Parameters
    ----------
    bars:
        Base-timeframe bars of one symbol.
    labels:
        The strategy's ``training.labels`` section, the strategy itself, or a mapping such as
        ``{"source": "forward_return", "horizon": 12}``.

    Returns
    -------
    polars.DataFrame
        ``timestamp`` and ``label`` (Int8: 0 BUY, 1 HOLD, 2 SELL, -1 no label). Join it to the
        same symbol's features on ``timestamp``.
    """
    return pl.DataFrame({"timestamp": bars["timestamp"], "label": pl.Series(label_array(bars, labels), dtype=pl.Int8)})
