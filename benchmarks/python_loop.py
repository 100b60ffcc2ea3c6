"""The plain-Python anchor of the backtest benchmark: decisions and simulation in one event loop.

One pass over the bars, in plain Python (lists of floats, no numpy in the loop): at each bar
the previous bar's decision executes at this bar's open (fees, slippage, full-equity sizing),
then the open position's stop-loss / take-profit are checked (the entry bar included); then the
bar's probabilities are turned into the next decision (SPEC §6: confidence threshold, signal
separation, position awareness). Same rules as :func:`fuzzyvec.decide` followed by
:func:`fuzzyvec.backtest` with next-open execution (SPEC §7); the benchmark checks that the
final equity agrees.

:func:`run_pandas_event_loop` is the same loop over a pandas DataFrame's rows
(``df.itertuples()``), as an event-driven user typically writes it (shown for information).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NEVER = 1 << 40


def run_event_loop(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, probs: np.ndarray, *,
                   threshold: float, min_signal_separation: int, position_awareness: bool = True,
                   allow_short_from_flat: bool = False, reverse_on_opposite: bool = False,
                   init_cash: float = 10_000.0, fees: float = 0.001, slippage: float = 0.0005, size: float = 1.0,
                   sl_stop: float | None = None, tp_stop: float | None = None) -> dict[str, Any]:
    """Decide and simulate bar by bar; returns final equity, trades and the positions decided."""
    o, h, lo, c = open_.tolist(), high.tolist(), low.tolist(), close.tolist()
    rows = probs.tolist()
    n = len(c)
    cash = float(init_cash)
    side = 0  # open position: +1 long, -1 short, 0 none
    units = 0.0
    entry = 0.0  # entry fill price
    trades = 0
    decided = 0  # position decided on the previous bar
    prev_target = 0
    since = NEVER
    positions = [0] * n

    for i in range(n):
        # 1. execution at this bar's open of the previous bar's decision, else the stops
        target = decided
        if target != prev_target:
            if side != 0 and side != target:  # close at the open
                fill = o[i] * (1 - slippage) if side > 0 else o[i] * (1 + slippage)
                cash += side * fill * units - fill * units * fees
                side = 0
            if target != 0 and side == 0:  # enter at the open
                fill = o[i] * (1 + slippage) if target > 0 else o[i] * (1 - slippage)
                units = size * cash / (fill * (1 + fees))
                cash -= target * fill * units + fill * units * fees
                side, entry = target, fill
                trades += 1
        if side != 0:  # the stops, from the entry bar on
            hit = None
            if sl_stop is not None:
                level = entry * (1 - side * sl_stop)
                if (side > 0 and o[i] <= level) or (side < 0 and o[i] >= level):
                    hit = o[i]
                elif lo[i] <= level <= h[i]:
                    hit = level
            if hit is None and tp_stop is not None:
                level = entry * (1 + side * tp_stop)
                if (side > 0 and o[i] >= level) or (side < 0 and o[i] <= level):
                    hit = o[i]
                elif lo[i] <= level <= h[i]:
                    hit = level
            if hit is not None:
                fill = hit * (1 - slippage) if side > 0 else hit * (1 + slippage)
                cash += side * fill * units - fill * units * fees
                side = 0
        prev_target = target

        # 2. this bar's decision from its probabilities (executes at the next open)
        if since < NEVER:
            since += 1
        p = rows[i]
        pos = decided
        if not (math.isnan(p[0]) or math.isnan(p[1]) or math.isnan(p[2])):
            best = 0
            if p[1] > p[best]:
                best = 1
            if p[2] > p[best]:
                best = 2
            if best != 1 and p[best] >= threshold and since >= min_signal_separation:
                if not position_awareness:
                    pos = 1 if best == 0 else -1
                elif best == 0:
                    if pos == 0:
                        pos = 1
                    elif pos == -1:
                        pos = 1 if reverse_on_opposite else 0
                else:
                    if pos == 0:
                        if allow_short_from_flat:
                            pos = -1
                    elif pos == 1:
                        pos = -1 if reverse_on_opposite else 0
        if pos != decided:
            decided = pos
            since = 0
        positions[i] = decided

    equity = cash + side * units * c[-1]
    return {"final_equity": equity, "trades": trades, "positions": positions}


def run_decisions(probs: np.ndarray, *, threshold: float, min_signal_separation: int,
                  position_awareness: bool = True, allow_short_from_flat: bool = False,
                  reverse_on_opposite: bool = False) -> list[int]:
    """Only the decision part of :func:`run_event_loop`: probabilities → positions, in plain Python."""
    out = []
    pos = 0
    since = NEVER
    for p in probs.tolist():
        if since < NEVER:
            since += 1
        new = pos
        if not (math.isnan(p[0]) or math.isnan(p[1]) or math.isnan(p[2])):
            best = 0
            if p[1] > p[best]:
                best = 1
            if p[2] > p[best]:
                best = 2
            if best != 1 and p[best] >= threshold and since >= min_signal_separation:
                if not position_awareness:
                    new = 1 if best == 0 else -1
                elif best == 0:
                    if pos == 0:
                        new = 1
                    elif pos == -1:
                        new = 1 if reverse_on_opposite else 0
                else:
                    if pos == 0:
                        if allow_short_from_flat:
                            new = -1
                    elif pos == 1:
                        new = -1 if reverse_on_opposite else 0
        if new != pos:
            pos = new
            since = 0
        out.append(pos)
    return out


def run_pandas_event_loop(df: Any, *, threshold: float, min_signal_separation: int,
                          position_awareness: bool = True, allow_short_from_flat: bool = False,
                          reverse_on_opposite: bool = False, init_cash: float = 10_000.0, fees: float = 0.001,
                          slippage: float = 0.0005, size: float = 1.0, sl_stop: float | None = None,
                          tp_stop: float | None = None) -> dict[str, Any]:
    """:func:`run_event_loop` as a per-bar pandas loop: ``for row in df.itertuples()``.

    ``df`` is a pandas DataFrame with columns ``open, high, low, close, p_buy, p_hold,
    p_sell`` (one row per bar): the loop a typical event-driven user writes over a frame,
    reading each bar's fields from the row tuple. Same rules, same state, same result.
    """
    cash = float(init_cash)
    side = 0
    units = 0.0
    entry = 0.0
    trades = 0
    decided = 0
    prev_target = 0
    since = NEVER
    positions = []
    last_close = math.nan

    for row in df.itertuples(index=False):
        o = row.open
        target = decided
        if target != prev_target:
            if side != 0 and side != target:
                fill = o * (1 - slippage) if side > 0 else o * (1 + slippage)
                cash += side * fill * units - fill * units * fees
                side = 0
            if target != 0 and side == 0:
                fill = o * (1 + slippage) if target > 0 else o * (1 - slippage)
                units = size * cash / (fill * (1 + fees))
                cash -= target * fill * units + fill * units * fees
                side, entry = target, fill
                trades += 1
        if side != 0:  # the stops, from the entry bar on
            hit = None
            if sl_stop is not None:
                level = entry * (1 - side * sl_stop)
                if (side > 0 and o <= level) or (side < 0 and o >= level):
                    hit = o
                elif row.low <= level <= row.high:
                    hit = level
            if hit is None and tp_stop is not None:
                level = entry * (1 + side * tp_stop)
                if (side > 0 and o >= level) or (side < 0 and o <= level):
                    hit = o
                elif row.low <= level <= row.high:
                    hit = level
            if hit is not None:
                fill = hit * (1 - slippage) if side > 0 else hit * (1 + slippage)
                cash += side * fill * units - fill * units * fees
                side = 0
        prev_target = target

        if since < NEVER:
            since += 1
        pb, ph, ps = row.p_buy, row.p_hold, row.p_sell
        pos = decided
        if not (math.isnan(pb) or math.isnan(ph) or math.isnan(ps)):
            best, p_best = 0, pb
            if ph > p_best:
                best, p_best = 1, ph
            if ps > p_best:
                best, p_best = 2, ps
            if best != 1 and p_best >= threshold and since >= min_signal_separation:
                if not position_awareness:
                    pos = 1 if best == 0 else -1
                elif best == 0:
                    if pos == 0:
                        pos = 1
                    elif pos == -1:
                        pos = 1 if reverse_on_opposite else 0
                else:
                    if pos == 0:
                        if allow_short_from_flat:
                            pos = -1
                    elif pos == 1:
                        pos = -1 if reverse_on_opposite else 0
        if pos != decided:
            decided = pos
            since = 0
        positions.append(decided)
        last_close = row.close

    equity = cash + side * units * last_close
    return {"final_equity": equity, "trades": trades, "positions": positions}
