"""Volatility kernels: Bollinger bands and width, ATR, Donchian and Keltner channels,
rolling z-score and the Bollinger-inside-Keltner squeeze."""

from __future__ import annotations

from numba import njit

from .ma import (
    _atr_into_nb,
    _ema_into_nb,
    _fill_nan_nb,
    _fma,
    _nan_out_nb,
    _nan_rows_nb,
    _rolling_maxmin_into_nb,
    _rolling_std_into_nb,
    _sma_into_nb,
    _true_range_nb,
)


@njit(cache=True)
def bbands_1d_nb(x, period, multiplier):
    """Bollinger bands (upper, middle, lower).

    Reference: TA-Lib ``BBANDS(x, timeperiod=period, nbdevup=multiplier,
    nbdevdn=multiplier, matype=0)``: middle = SMA(period), upper/lower = middle +/-
    multiplier * population standard deviation of the window. The standard deviation uses
    numerically careful running moments (see :func:`fuzzyvec.nb.ma._rolling_std_into_nb`).
    Lookback ``period - 1``.
    """
    n = x.shape[0]
    lb = period - 1
    buf = _nan_rows_nb(3, n, lb)
    upper = buf[0]
    middle = buf[1]
    lower = buf[2]
    if lb >= n:
        return upper, middle, lower
    _sma_into_nb(x, 0, period, middle)
    _rolling_std_into_nb(x, period, upper, False)
    for i in range(lb, n):
        band = upper[i] * multiplier
        mid = middle[i]
        upper[i] = mid + band
        lower[i] = mid - band
    return upper, middle, lower


@njit(cache=True)
def bbwidth_1d_nb(x, period, multiplier):
    """Relative Bollinger band width ``(upper - lower) / middle``.

    Reference: derived from TA-Lib ``BBANDS``, with the bands exactly as
    :func:`bbands_1d_nb` computes them; a row whose middle band is exactly 0 gives 0.0 (only
    possible for a source such as volume). Lookback ``period - 1``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    _rolling_std_into_nb(x, period, out, False)
    p = float(period)
    total = 0.0
    for i in range(period - 1):
        total += x[i]
    for i in range(period - 1, n):
        total += x[i]
        mid = total / p
        total -= x[i - period + 1]
        band = out[i] * multiplier
        out[i] = ((mid + band) - (mid - band)) / mid if mid != 0.0 else 0.0
    return out


@njit(cache=True)
def atr_1d_nb(high, low, close, period):
    """Average true range.

    Reference: TA-Lib ``ATR(high, low, close, timeperiod=period)``: true range
    max(h - l, |h - c[-1]|, |l - c[-1]|) from bar 1; the first ATR is the simple mean of the
    first ``period`` true ranges, then Wilder smoothing ``(prev * (period - 1) + tr) / period``
    in TA-Lib's form ``prev * ((period - 1) / period) + tr * (1 - (period - 1) / period)`` (a
    fused multiply-add). ``period == 1`` is TA-Lib TRANGE. Lookback ``period``.
    """
    out = _nan_out_nb(close.shape[0], period)
    _atr_into_nb(high, low, close, period, out)
    return out


@njit(cache=True)
def donchian_1d_nb(high, low, period):
    """Donchian channel (upper, middle, lower).

    Reference (formula): upper = rolling max(high, period), lower = rolling min(low, period),
    middle = (upper + lower) / 2 (TA-Lib MAX / MIN of the same windows).
    Lookback ``period - 1``.
    """
    n = high.shape[0]
    lb = period - 1
    buf = _nan_rows_nb(3, n, lb)
    upper = buf[0]
    middle = buf[1]
    lower = buf[2]
    _rolling_maxmin_into_nb(high, low, period, upper, lower, False)
    for i in range(lb, n):
        middle[i] = (upper[i] + lower[i]) / 2.0
    return upper, middle, lower


@njit(cache=True)
def keltner_1d_nb(high, low, close, period, atr_period, multiplier):
    """Keltner channel (upper, middle, lower).

    Reference (formula): middle = TA-Lib ``EMA(close, period)`` (SMA-seeded), upper/lower =
    middle +/- multiplier * TA-Lib ``ATR(high, low, close, atr_period)``.
    Lookback ``max(period - 1, atr_period)``.
    """
    n = close.shape[0]
    lb = max(period - 1, atr_period)
    buf = _nan_rows_nb(3, n, lb)
    upper = buf[0]
    middle = buf[1]
    lower = buf[2]
    if lb >= n:
        return upper, middle, lower
    _ema_into_nb(close, 0, period, middle)
    _atr_into_nb(high, low, close, atr_period, upper)
    _fill_nan_nb(middle, 0, lb)
    _fill_nan_nb(upper, 0, lb)
    for i in range(lb, n):
        band = multiplier * upper[i]
        mid = middle[i]
        upper[i] = mid + band
        lower[i] = mid - band
    return upper, middle, lower


@njit(cache=True)
def zscore_1d_nb(x, period):
    """Rolling z-score ``(x - SMA(x, period)) / std``, population standard deviation.

    Reference (formula): ``(x[i] - mean(w)) / numpy.std(w)`` over the window ``w`` of the
    last ``period`` values; 0 when the window is constant (std == 0). Mean and deviation come
    from numerically careful running moments. Lookback ``period - 1``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    _rolling_std_into_nb(x, period, out, True)
    return out


@njit(cache=True)
def squeeze_1d_nb(high, low, close, bb_period, bb_mult, kc_period, kc_mult):
    """Squeeze intensity ``1 - (BB upper - BB lower) / (KC upper - KC lower)``.

    Reference (formula): BB = TA-Lib ``BBANDS(close, bb_period, bb_mult, bb_mult)``, KC =
    ``EMA(close, kc_period) +/- kc_mult * ATR(kc_period)``, i.e.
    ``1 - (bb_mult * std) / (kc_mult * ATR)``; positive while the Bollinger bands are inside
    the Keltner channel. A row whose ATR is exactly 0 gives 0.0.
    Lookback ``max(bb_period - 1, kc_period)``.
    """
    n = close.shape[0]
    lb = max(bb_period - 1, kc_period)
    out = _nan_out_nb(n, lb)
    if lb >= n:
        return out
    _rolling_std_into_nb(close, bb_period, out, False)
    _fill_nan_nb(out, 0, lb)
    p = float(kc_period)
    keep = float(kc_period - 1) / p
    add = 1.0 - keep
    atr = 0.0
    for i in range(1, n):
        tr = _true_range_nb(high[i], low[i], close[i - 1])
        if i < kc_period:
            atr += tr
            continue
        if i == kc_period:
            atr = (atr + tr) / p
        else:
            atr = _fma(atr, keep, tr * add)
        if i >= lb:
            out[i] = 1.0 - (bb_mult * out[i]) / (kc_mult * atr) if atr != 0.0 else 0.0
    return out
