"""Kernels of the external-predictions backtest (SPEC §8).

:func:`prediction_plan_nb` turns per-bar prediction arrays and OHLC into an *order plan*:
at most one entry (at the bar's open) and one exit (at a stop level, the open, or the
close) per bar. :func:`prediction_order_func_nb` is the flexible order function with which
``vectorbt.Portfolio.from_order_func(..., flexible=True)`` executes that plan: it issues
the entry and then the exit of the same bar, so a position can be opened and stopped out
within one bar (``from_signals``/``from_orders`` allow one order per bar and column).

Exit reason codes of the plan: :data:`EXIT_NONE` 0, :data:`EXIT_SL` 1, :data:`EXIT_TP` 2,
:data:`EXIT_CLOSE` 3.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from vectorbt.portfolio.enums import NoOrder
from vectorbt.portfolio.nb import close_position_nb, order_nb

EXIT_NONE, EXIT_SL, EXIT_TP, EXIT_CLOSE = 0, 1, 2, 3


@njit(cache=True)
def acting_signals_nb(signal, confidence, threshold):
    """The direction that acts at each bar's open: +1 long, -1 short, 0 none (int8, (n,)).

    Reference: SPEC §8, "a signal acts at the open of its bar if ``confidence >=
    signal_threshold``". ``signal`` is int8 (+1 long, -1 short, 0 neutral or no row);
    ``confidence`` is NaN for bars without a row (NaN never reaches the threshold).
    """
    n = signal.shape[0]
    out = np.zeros(n, dtype=np.int8)
    for i in range(n):
        if signal[i] != 0 and confidence[i] >= threshold:
            out[i] = signal[i]
    return out


@njit(cache=True)
def prediction_plan_nb(open_, high, low, close, acting, stop_loss, take_profit):
    """Per-bar order plan of the SPEC §8 rules (bar by bar, state in local variables).

    Reference: SPEC §8 "External predictions", matched bar by bar by the plain-Python
    simulator ``tests/reference_predictions.py``. For each bar ``i``:

    1. Open. Flat and ``acting[i] != 0``: enter ``acting[i]`` at ``open_[i]`` with the
       stops of row ``i``. A position that is still open at this point was held into bar
       ``i`` because ``acting[i]`` has its direction (step 3), so it is kept with its
       *original* stops: no trade.
    2. Stops, also on the entry bar (the position exists from the open), stop-loss first.
       Long: ``open <= stop`` → exit at the open (a gap), else ``low <= stop`` → exit at the
       stop; only then ``open >= target`` → the open, else ``high >= target`` → the target.
       Short mirrors it (``open >= stop``, ``high >= stop``, ``open <= target``,
       ``low <= target``). A bar touching both levels therefore exits at the stop-loss.
    3. Close. Still open and ``acting[i + 1]`` is not the same direction (or ``i`` is the
       last bar): exit at ``close[i]``. Otherwise the position is held into bar ``i + 1``.

    Parameters
    ----------
    open_, high, low, close:
        float64 (n,) bars.
    acting:
        int8 (n,) from :func:`acting_signals_nb`.
    stop_loss, take_profit:
        float64 (n,) absolute levels of each bar's row (read on entry bars only).

    Returns
    -------
    entry : int8 (n,)
        +1 / -1: a position of that direction is entered at the bar's open; 0: none.
    exit_price : float64 (n,)
        Raw price (before slippage) of the bar's exit; NaN when no exit.
    exit_reason : int8 (n,)
        :data:`EXIT_SL`, :data:`EXIT_TP`, :data:`EXIT_CLOSE` or :data:`EXIT_NONE`.
    held : bool (n,)
        A position is open at some time during the bar (from its open).
    """
    n = open_.shape[0]
    entry = np.zeros(n, dtype=np.int8)
    exit_price = np.full(n, np.nan)
    exit_reason = np.zeros(n, dtype=np.int8)
    held = np.zeros(n, dtype=np.bool_)
    pos = 0
    sl = np.nan
    tp = np.nan
    for i in range(n):
        if pos == 0 and acting[i] != 0:
            pos = acting[i]
            sl = stop_loss[i]
            tp = take_profit[i]
            entry[i] = pos
        if pos == 0:
            continue
        held[i] = True
        o = open_[i]
        px = np.nan
        reason = EXIT_NONE
        if pos == 1:
            if o <= sl:
                px, reason = o, EXIT_SL
            elif low[i] <= sl:
                px, reason = sl, EXIT_SL
            elif o >= tp:
                px, reason = o, EXIT_TP
            elif high[i] >= tp:
                px, reason = tp, EXIT_TP
        else:
            if o >= sl:
                px, reason = o, EXIT_SL
            elif high[i] >= sl:
                px, reason = sl, EXIT_SL
            elif o <= tp:
                px, reason = o, EXIT_TP
            elif low[i] <= tp:
                px, reason = tp, EXIT_TP
        if reason == EXIT_NONE and (i + 1 == n or acting[i + 1] != pos):
            px, reason = close[i], EXIT_CLOSE
        if reason != EXIT_NONE:
            exit_price[i] = px
            exit_reason[i] = reason
            pos = 0
    return entry, exit_price, exit_reason, held


@njit(cache=True)
def prediction_order_func_nb(c, entry, exit_price, open_, fees, slippage):
    """Flexible order function of ``Portfolio.from_order_func(..., flexible=True)``.

    Reference: SPEC §8 (sizing and fills), matched by ``tests/reference_predictions.py``.
    Executes the plan of :func:`prediction_plan_nb` on column 0 of a single-column
    simulation; called repeatedly per bar (``c.call_idx`` = 0, 1, ...):

    - the bar's entry, first: the whole cash (the column is flat, so cash is the equity)
      including the entry fee, ``units = cash / (fill · (1 + fees))`` with
      ``fill = open · (1 + slippage)`` for a long (a buy), ``open · (1 − slippage)`` for a
      short (a sell);
    - then the bar's exit: close the whole position at ``exit_price[i]`` (vectorbt moves the
      fill adversely by ``slippage``: a sell at ``price · (1 − slippage)``, a buy at
      ``price · (1 + slippage)``);
    - then ``-1`` (no more orders on this bar).

    Fees are ``fees`` × fill × units on both fills.
    """
    i = c.i
    k = c.call_idx
    d = entry[i]
    if d != 0:
        if k == 0:
            fill = open_[i] * (1.0 + slippage) if d > 0 else open_[i] * (1.0 - slippage)
            units = c.last_cash[c.from_col] / (fill * (1.0 + fees))
            return c.from_col, order_nb(size=d * units, price=open_[i], fees=fees, slippage=slippage)
        k -= 1
    if k == 0 and not np.isnan(exit_price[i]):
        return c.from_col, close_position_nb(price=exit_price[i], fees=fees, slippage=slippage)
    return -1, NoOrder
