"""``decide``: class probabilities -> positions, a pure function over one numba kernel.

No object holds position state: the kernel carries it in its loop, and a live caller passes
the state returned for the previous bar back in (:func:`decide_step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..strategy.config import DecisionConfig

__all__ = ["DecisionState", "decide", "decide_step"]


class DecisionState(NamedTuple):
    """State after a bar: the position held and bars since the last acted signal."""

    position: int
    bars_since: int


def _config(decisions: DecisionConfig | Any) -> DecisionConfig:
    if isinstance(decisions, DecisionConfig):
        return decisions
    if hasattr(decisions, "decisions"):  # a Strategy
        return decisions.decisions
    return DecisionConfig.model_validate(decisions)


def _run(probs: np.ndarray, cfg: DecisionConfig, thresholds: np.ndarray, allow_short: bool,
         position: np.ndarray, since: np.ndarray):
    from ..nb.decision import decide_nb

    p = np.ascontiguousarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"probs must have shape (n, 3) (BUY, HOLD, SELL), got {p.shape}")
    return decide_nb(p, thresholds, int(cfg.filters.min_signal_separation), bool(cfg.position_awareness),
                     bool(cfg.allow_short_from_flat), bool(cfg.reverse_on_opposite), bool(allow_short),
                     position, since)


def decide(probs: np.ndarray, decisions: DecisionConfig | Any, *,
           confidence_threshold: float | Sequence[float] | np.ndarray | None = None,
           allow_short: bool = True, initial: DecisionState | None = None) -> np.ndarray:
    """Positions in {-1, 0, +1} for each bar from class probabilities.

    Parameters
    ----------
    probs:
        (n, 3) probabilities in the class order BUY, HOLD, SELL. A row with any NaN (a bar
        with a NaN feature) is HOLD.
    decisions:
        The strategy's ``decisions`` section (or the strategy, or a mapping).
    confidence_threshold:
        Overrides ``decisions.confidence_threshold``; a sequence gives one column of positions
        per threshold, in one kernel call.
    allow_short:
        False for long-only backtests: SELL then closes to flat.
    initial:
        State before the first row (default: flat, no previous signal).

    Returns
    -------
    numpy.ndarray
        int8 positions, shape (n,) for a scalar threshold or (n, k) for k thresholds.
    """
    from ..nb.decision import NEVER_BARS_SINCE

    cfg = _config(decisions)
    thr = cfg.confidence_threshold if confidence_threshold is None else confidence_threshold
    scalar = np.ndim(thr) == 0
    thresholds = np.atleast_1d(np.asarray(thr, dtype=np.float64))
    k = thresholds.shape[0]
    st = initial or DecisionState(0, NEVER_BARS_SINCE)
    pos0 = np.full(k, int(st.position), dtype=np.int64)
    since0 = np.full(k, int(st.bars_since), dtype=np.int64)
    positions, _, _ = _run(probs, cfg, thresholds, allow_short, pos0, since0)
    return positions[:, 0] if scalar else positions


def decide_step(probs_row: np.ndarray, decisions: DecisionConfig | Any, state: DecisionState | None = None, *,
                allow_short: bool = True) -> DecisionState:
    """One live bar: the next state from this bar's probabilities and the previous state.

    Calling it bar by bar, feeding back the returned state, gives exactly the positions of
    :func:`decide` on the whole array.
    """
    from ..nb.decision import NEVER_BARS_SINCE

    cfg = _config(decisions)
    st = state or DecisionState(0, NEVER_BARS_SINCE)
    row = np.asarray(probs_row, dtype=np.float64).reshape(1, 3)
    _, pos, since = _run(row, cfg, np.array([cfg.confidence_threshold]), allow_short,
                         np.array([st.position], dtype=np.int64), np.array([st.bars_since], dtype=np.int64))
    return DecisionState(int(pos[0]), int(since[0]))
