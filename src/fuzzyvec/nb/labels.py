"""Label kernels: zigzag, forward return and triple barrier (SPEC §4).

.. warning::

   LOOK-AHEAD BY CONSTRUCTION. Every function in this module reads prices *after* the bar it
   labels. Labels are training targets only: nothing under feature, indicator, membership or
   decision code may import this module (a test checks the imports).

Class codes are plain int literals here: BUY = 0, HOLD = 1, SELL = 2, and -1 for "no label".
The single definition of the class encoding is ``fuzzyvec.features.labels`` (``BUY, HOLD, SELL``); keep
the literals below in step with it. Label arrays are int8.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Class codes (the one definition lives in fuzzyvec/labels.py): BUY = 0, HOLD = 1, SELL = 2,
# no label = -1.


#: relative tolerance of a price compared with a threshold level: a few ulps, so that a move of
#: exactly the threshold (100 -> 100.5 at 0.5 %) counts although ``100.5 / 100 - 1`` rounds below 0.005
REL_TOL = 4.0 * 2.220446049250313e-16


@njit(cache=True)
def _rose_by_nb(price, base, threshold):
    """``price >= base · (1 + threshold)``, with :data:`REL_TOL` of slack (prices, not ratios)."""
    return price >= base * (1.0 + threshold) * (1.0 - REL_TOL)


@njit(cache=True)
def _fell_by_nb(price, base, threshold):
    """``price <= base · (1 − threshold)``, with :data:`REL_TOL` of slack (prices, not ratios)."""
    return price <= base * (1.0 - threshold) * (1.0 + REL_TOL)


@njit(cache=True)
def zigzag_pivots_1d_nb(close, threshold):
    """Confirmed zigzag pivots of ``close`` with a relative reversal ``threshold``.

    LOOK-AHEAD WARNING: a pivot at bar ``k`` is only known at the later bar that confirms it;
    the output lists pivots by the bar where the extreme occurred. Never use it as a feature.

    Reference: the classic close-only zigzag (SPEC §4 "a new extreme moves the pending pivot;
    a reversal of at least the threshold confirms it"), defined here as a state machine:

    - *Undecided* (from the first bar): track the running maximum and minimum of ``close``.
      When ``close >= min · (1 + threshold)`` the minimum's bar becomes a confirmed LOW pivot and
      the direction becomes *up* with the pending high at the current bar; when
      ``close <= max · (1 - threshold)`` the maximum's bar becomes a confirmed HIGH pivot and the
      direction becomes *down* with the pending low at the current bar. If both hold on the
      same bar (only possible with ``threshold > 1``) the extreme that came first is confirmed.
    - *Up*: a higher close moves the pending high; ``close <= pending_high · (1 - threshold)``
      confirms the pending high and switches to *down* with the pending low at this bar.
    - *Down*: symmetric (``close >= pending_low · (1 + threshold)`` confirms the low).

    Prices are compared with the threshold levels, with a relative slack of a few ulps
    (:data:`REL_TOL`), so a reversal of exactly the threshold confirms the pivot.

    A close equal to a running or pending extreme does not move it (first occurrence wins).
    NaN closes are skipped: they never move an extreme and never confirm a pivot. The last
    pending extreme is not confirmed and is not returned.

    Parameters
    ----------
    close : float64 array (n,)
        Close prices (positive).
    threshold : float
        Relative reversal, e.g. 0.02 for 2 %; must be > 0.

    Returns
    -------
    pivot_index : int64 array (m,)
        Bars of the confirmed pivots, increasing.
    pivot_kind : int8 array (m,)
        +1 for a high pivot, -1 for a low pivot; kinds alternate.
    """
    n = close.shape[0]
    idx = np.empty(n, dtype=np.int64)
    kind = np.empty(n, dtype=np.int8)
    m = 0
    state = 0  # 0 undecided, +1 up (pending high), -1 down (pending low)
    hi = -1  # undecided: running max bar; up: pending high bar
    lo = -1  # undecided: running min bar; down: pending low bar
    for i in range(n):
        ci = close[i]
        if np.isnan(ci):
            continue
        if state == 0:
            if hi < 0:
                hi = i
                lo = i
                continue
            up = _rose_by_nb(ci, close[lo], threshold)
            down = _fell_by_nb(ci, close[hi], threshold)
            if up and down:
                if hi < lo:
                    up = False
                else:
                    down = False
            if up:
                idx[m] = lo
                kind[m] = -1
                m += 1
                state = 1
                hi = i
            elif down:
                idx[m] = hi
                kind[m] = 1
                m += 1
                state = -1
                lo = i
            else:
                if ci > close[hi]:
                    hi = i
                if ci < close[lo]:
                    lo = i
        elif state == 1:
            if ci > close[hi]:
                hi = i
            elif _fell_by_nb(ci, close[hi], threshold):
                idx[m] = hi
                kind[m] = 1
                m += 1
                state = -1
                lo = i
        else:
            if ci < close[lo]:
                lo = i
            elif _rose_by_nb(ci, close[lo], threshold):
                idx[m] = lo
                kind[m] = -1
                m += 1
                state = 1
                hi = i
    return idx[:m].copy(), kind[:m].copy()


@njit(cache=True)
def zigzag_labels_1d_nb(close, threshold, label_lookahead):
    """Zigzag labels: BUY before a high pivot, SELL before a low pivot.

    LOOK-AHEAD WARNING: the label of bar ``i`` depends on the next confirmed pivot, which lies
    in the future (and whose confirmation lies further still). Training targets only.

    Reference: SPEC §4 ``zigzag``, on the pivots of :func:`zigzag_pivots_1d_nb`:

    - bars strictly between two consecutive confirmed pivots are BUY (0) when the next pivot
      is a high and SELL (2) when it is a low;
    - pivot bars are HOLD (1);
    - a bar whose next pivot is more than ``label_lookahead`` bars ahead
      (``next_pivot - i > label_lookahead``) is HOLD;
    - bars before the first and after the last confirmed pivot have no label (-1).

    Parameters
    ----------
    close : float64 array (n,)
        Close prices.
    threshold : float
        Relative reversal of the zigzag (0.02 = 2 %).
    label_lookahead : int
        Largest distance, in bars, to the next pivot for a BUY/SELL label.

    Returns
    -------
    int8 array (n,)
        0 BUY, 1 HOLD, 2 SELL, -1 no label.
    """
    n = close.shape[0]
    out = np.full(n, -1, dtype=np.int8)
    piv, kind = zigzag_pivots_1d_nb(close, threshold)
    m = piv.shape[0]
    for k in range(m):
        out[piv[k]] = 1  # HOLD on every confirmed pivot
    for k in range(m - 1):
        nxt = piv[k + 1]
        cls = 0 if kind[k + 1] == 1 else 2  # BUY before a high, SELL before a low
        for i in range(piv[k] + 1, nxt):
            if nxt - i > label_lookahead:
                out[i] = 1
            else:
                out[i] = cls
    return out


@njit(cache=True)
def forward_return_labels_1d_nb(close, horizon, threshold):
    """Forward-return labels over ``horizon`` bars against ``±threshold``.

    LOOK-AHEAD WARNING: the label of bar ``i`` reads ``close[i + horizon]``. Training targets
    only.

    Reference: ``r = close[i + horizon] / close[i] - 1``; BUY (0) if ``r > threshold``, SELL
    (2) if ``r < -threshold``, otherwise HOLD (1) (a return exactly at ``±threshold`` is HOLD). The
    comparison is made on prices (``close[i + horizon]`` against ``close[i] · (1 ± threshold)``,
    :data:`REL_TOL` of slack), so that rounding of the ratio never decides a tie.
    The last ``horizon`` bars, and bars where ``r`` is NaN, have no label (-1).

    Parameters
    ----------
    close : float64 array (n,)
        Close prices.
    horizon : int
        Bars ahead, >= 1.
    threshold : float
        Non-negative return threshold (0.005 = 0.5 %).

    Returns
    -------
    int8 array (n,)
        0 BUY, 1 HOLD, 2 SELL, -1 no label.
    """
    n = close.shape[0]
    out = np.full(n, -1, dtype=np.int8)
    for i in range(n - horizon):
        c0, c1 = close[i], close[i + horizon]
        if np.isnan(c0) or np.isnan(c1):
            continue
        # prices compared, not a rounded ratio: a return of exactly the threshold is HOLD
        if c1 > c0 * (1.0 + threshold) * (1.0 + REL_TOL):
            out[i] = 0
        elif c1 < c0 * (1.0 - threshold) * (1.0 - REL_TOL):
            out[i] = 2
        else:
            out[i] = 1
    return out


@njit(cache=True)
def ewm_vol_1d_nb(close, vol_span):
    """Per-bar volatility: ``sqrt(EWMA(r**2))`` of close-to-close returns.

    No look-ahead (bar ``i`` reads closes up to ``i``); it lives here because only the triple
    barrier uses it.

    Reference: pandas ``r.pow(2).ewm(span=vol_span, adjust=False).mean().pow(0.5)`` with
    ``r = close.pct_change()`` (``r[0]`` is NaN), replicating pandas' ``ewma`` loop
    (``ignore_na=False``, ``min_periods=0``): ``alpha = 1 / (1 + (vol_span - 1) / 2)``; the
    output is NaN until the first observation (bar 0, since ``r[0]`` is NaN), which seeds the
    average (``vol[1] = |r[1]|``); then ``y = (w * y + alpha * x) / (w + alpha)`` with
    ``w = 1 - alpha``. A NaN observation keeps the previous value and multiplies ``w`` by
    ``1 - alpha`` (pandas' ``ignore_na=False`` weighting); ``w`` is reset to 1 after each
    observation before the next decay.

    Parameters
    ----------
    close : float64 array (n,)
        Close prices.
    vol_span : float
        EWMA span, >= 1.

    Returns
    -------
    float64 array (n,)
        Volatility as a fraction per bar; ``vol[0]`` is NaN.
    """
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    com = (vol_span - 1.0) / 2.0
    alpha = 1.0 / (1.0 + com)
    old_wt_factor = 1.0 - alpha
    out[0] = np.nan  # r[0] is NaN
    weighted = np.nan
    old_wt = 1.0
    for i in range(1, n):
        r = close[i] / close[i - 1] - 1.0
        cur = r * r
        is_obs = not np.isnan(cur)
        if not np.isnan(weighted):
            old_wt *= old_wt_factor
            if is_obs:
                if weighted != cur:
                    weighted = (old_wt * weighted + alpha * cur) / (old_wt + alpha)
                old_wt = 1.0
        elif is_obs:
            weighted = cur
        out[i] = np.sqrt(weighted)
    return out


@njit(cache=True)
def triple_barrier_labels_1d_nb(
    close, high, low, pt_multiplier, sl_multiplier, max_holding_period, vol_span
):
    """Triple-barrier labels with volatility-scaled barriers.

    LOOK-AHEAD WARNING: the label of bar ``i`` reads highs and lows of bars
    ``i + 1 .. i + max_holding_period``. Training targets only.

    Reference: López de Prado, *Advances in Financial Machine Learning* §3.4, on bar highs and
    lows: entry at ``close[i]``, ``vol = ewm_vol_1d_nb(close, vol_span)`` (pandas EWMA, see
    there), upper barrier ``close[i] * (1 + pt_multiplier * vol[i])``, lower barrier
    ``close[i] * (1 - sl_multiplier * vol[i])``. Scanning ``j = i + 1 .. i +
    max_holding_period``, the first bar with ``high[j] >= upper`` or ``low[j] <= lower``
    decides: only the upper barrier → BUY (0); the lower barrier, alone or together with the
    upper one in the same bar → SELL (2) (the stop side wins). No touch within
    ``max_holding_period`` bars → HOLD (1, vertical barrier). No label (-1) when the data end
    before ``i + max_holding_period`` without a touch, or when ``vol[i]`` is NaN or 0 (bar 0
    always). Cost O(n * max_holding_period).

    Parameters
    ----------
    close, high, low : float64 arrays (n,)
        Bar prices.
    pt_multiplier, sl_multiplier : float
        Profit-taking and stop-loss barrier widths in units of ``vol``.
    max_holding_period : int
        Vertical barrier, in bars (>= 1).
    vol_span : float
        EWMA span of the squared returns.

    Returns
    -------
    int8 array (n,)
        0 BUY, 1 HOLD, 2 SELL, -1 no label.
    """
    n = close.shape[0]
    out = np.full(n, -1, dtype=np.int8)
    vol = ewm_vol_1d_nb(close, vol_span)
    for i in range(n):
        v = vol[i]
        if np.isnan(v) or v == 0.0:
            continue
        upper = close[i] * (1.0 + pt_multiplier * v)
        lower = close[i] * (1.0 - sl_multiplier * v)
        end = i + max_holding_period
        label = -1
        touched = False
        for j in range(i + 1, min(end, n - 1) + 1):
            hit_lo = low[j] <= lower
            hit_hi = high[j] >= upper
            if hit_lo:
                label = 2
                touched = True
                break
            if hit_hi:
                label = 0
                touched = True
                break
        if not touched and end <= n - 1:
            label = 1
        out[i] = label
    return out
