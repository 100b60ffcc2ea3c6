"""Price-source kernels (``close``, ``hl2``, ``hlc3``, ``ohlc4`` ...)."""

from __future__ import annotations

import numpy as np
from numba import njit

#: integer codes for :func:`price_source_1d_nb`, in :data:`fuzzyvec.strategy.registry.SOURCES` order
SOURCE_CODES = {"close": 0, "open": 1, "high": 2, "low": 3, "volume": 4, "hl2": 5, "hlc3": 6, "ohlc4": 7}


@njit(cache=True)
def price_source_1d_nb(open_, high, low, close, volume, code):
    """Return the price series selected by ``code`` (see :data:`SOURCE_CODES`).

    Reference: hl2 = (high + low) / 2, hlc3 = (high + low + close) / 3,
    ohlc4 = (open + high + low + close) / 4 (TA-Lib MEDPRICE / TYPPRICE / AVGPRICE).
    """
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        if code == 0:
            out[i] = close[i]
        elif code == 1:
            out[i] = open_[i]
        elif code == 2:
            out[i] = high[i]
        elif code == 3:
            out[i] = low[i]
        elif code == 4:
            out[i] = volume[i]
        elif code == 5:
            out[i] = (high[i] + low[i]) / 2.0
        elif code == 6:
            out[i] = (high[i] + low[i] + close[i]) / 3.0
        else:
            out[i] = (open_[i] + high[i] + low[i] + close[i]) / 4.0
    return out


@njit(cache=True)
def simple_return_1d_nb(close):
    """Close-to-close simple return ``close[i] / close[i-1] - 1``; NaN at row 0.

    Reference: pandas ``Series.pct_change()``.
    """
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n:
        out[0] = np.nan
    for i in range(1, n):
        out[i] = close[i] / close[i - 1] - 1.0
    return out
