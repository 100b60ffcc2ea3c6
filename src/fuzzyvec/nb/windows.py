"""Rolling-window kernels for the price-only features (SPEC §9).

Public kernels: :func:`rolling_minmax_1d_nb` (reference: pandas
``Series.rolling(window).min()`` / ``.max()`` with the default ``min_periods=window``) and
:func:`minmax_normalize_1d_nb` (``(x - min) / (max - min)`` over the same window, 0.5 where
``max == min``), plus :func:`complete_rows_nb`, the window-completeness flag used to mark
sequences that contain a NaN row.

The extremes come from :func:`fuzzyvec.nb.ma._rolling_maxmin_into_nb` (van Herk / Gil-Werman,
O(1) per row, the one rolling max/min of the package); this module adds the pandas NaN rule
on top: a row whose window holds any NaN, and the first ``window - 1`` rows, are NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .ma import _rolling_maxmin_into_nb

__all__ = ["complete_rows_nb", "minmax_normalize_1d_nb", "rolling_minmax_1d_nb"]


@njit(cache=True)
def _nan_windows_into_nb(x, window, out_a, out_b):
    """Set ``out_a[i]`` and ``out_b[i]`` to NaN where rows ``i - window + 1 .. i`` of ``x`` hold a NaN.

    A running count of NaN rows in the window: O(n), one pass.
    """
    n = x.shape[0]
    count = 0
    for i in range(n):
        if np.isnan(x[i]):
            count += 1
        if i >= window and np.isnan(x[i - window]):
            count -= 1
        if count > 0:
            out_a[i] = np.nan
            out_b[i] = np.nan


@njit(cache=True)
def rolling_minmax_1d_nb(x, window):
    """Rolling minimum and maximum of ``x`` over the last ``window`` rows (row ``i`` included).

    Reference: pandas ``Series.rolling(window).min()`` and ``.max()`` (``min_periods`` =
    ``window``): the first ``window - 1`` rows are NaN, and so is every row whose window
    contains a NaN. O(n) time, O(window) scratch.

    Parameters
    ----------
    x:
        float64 array of shape ``(n,)``.
    window:
        Window length in rows, ``>= 1``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(rolling_min, rolling_max)``, float64 arrays of shape ``(n,)``.
    """
    n = x.shape[0]
    out_min = np.full(n, np.nan)
    out_max = np.full(n, np.nan)
    if window < 1 or window > n:
        return out_min, out_max
    _rolling_maxmin_into_nb(x, x, window, out_max, out_min, False)
    _nan_windows_into_nb(x, window, out_min, out_max)
    return out_min, out_max


@njit(cache=True)
def minmax_normalize_1d_nb(x, window):
    """Rolling min-max normalisation: ``(x - min) / (max - min)`` over the last ``window`` rows.

    Reference: with pandas, ``lo = s.rolling(window).min()``, ``hi = s.rolling(window).max()``,
    ``((s - lo) / (hi - lo)).where(hi != lo, 0.5)`` where ``lo`` is defined (NaN elsewhere).
    Every value lies in ``[0, 1]``; a flat window (``max == min``) gives 0.5; the first
    ``window - 1`` rows and rows whose window holds a NaN are NaN.

    Parameters
    ----------
    x:
        float64 array of shape ``(n,)``.
    window:
        Window length in rows, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(n,)``.
    """
    lo, hi = rolling_minmax_1d_nb(x, window)
    n = x.shape[0]
    out = np.empty(n)
    for i in range(n):
        a = lo[i]
        b = hi[i]
        if np.isnan(a) or np.isnan(b):
            out[i] = np.nan
        elif b == a:
            out[i] = 0.5
        else:
            out[i] = (x[i] - a) / (b - a)
    return out


@njit(cache=True)
def complete_rows_nb(features, window):
    """Flag the sequences of ``window`` consecutive rows that contain no NaN.

    Reference: ``~np.isnan(sliding_window_view(features, (window, k))).any(axis=(-1, -2, -3))``
    (the NaN test of every zero-copy window of :func:`fuzzyvec.model.price.price_windows`),
    computed in O(n·k) with a running count of incomplete rows.

    Parameters
    ----------
    features:
        Array of shape ``(n, k)``.
    window:
        Sequence length, ``1 <= window``.

    Returns
    -------
    numpy.ndarray
        bool array of shape ``(max(n - window + 1, 0),)``: element ``j`` is True when rows
        ``j .. j + window - 1`` hold no NaN.
    """
    n, k = features.shape
    m = max(n - window + 1, 0)
    out = np.zeros(m, dtype=np.bool_)
    bad = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        for j in range(k):
            if np.isnan(features[i, j]):
                bad[i] = True
                break
    count = 0
    for i in range(n):
        if bad[i]:
            count += 1
        if i >= window and bad[i - window]:
            count -= 1
        if i >= window - 1:
            out[i - window + 1] = count == 0
    return out
