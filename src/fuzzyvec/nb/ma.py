"""Moving-average kernels and the rolling-window helpers shared by the indicator modules.

Public kernels: :func:`sma_1d_nb`, :func:`ema_1d_nb`, :func:`wma_1d_nb`,
:func:`distancefromma_1d_nb`.

The ``_*_nb`` helpers (NaN-headed outputs, running-sum SMA, SMA-seeded EMA, Wilder ATR, true
range, ring-buffer running sums, careful rolling standard deviation, rolling max / min /
arg-max by the van Herk / Gil-Werman block scheme) are imported by :mod:`.momentum`,
:mod:`.volatility`, :mod:`.trend` and :mod:`.volume`. Helpers named ``*_into_nb`` write into
a caller-allocated array and touch only the rows they define, so the caller decides what the
warm-up rows hold (always NaN for indicator outputs).

Where a kernel mirrors a TA-Lib function it keeps TA-Lib's operation order (the running-sum
SMA, RSI's ``(avg * (p - 1) + x) * (1 / p)``, ATR's ``avg * ((p - 1) / p) + tr / p``, the
EMA recursion ``(x - ema) * k + ema``), including the fused multiply-adds of TA-Lib's build
for FMA CPUs (:func:`_fma`), so most outputs equal TA-Lib to the last bit and all to within
a few ulp. Kernels allocate their outputs once (multi-output kernels return the rows of one
``(k, n)`` buffer) and otherwise use O(period) scratch: an n-sized temporary costs more in
page faults than most of these loops cost in arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Recompute running window sums from scratch every _RESYNC windows (bounds drift).
_RESYNC = 8
# TA-Lib's relative dead zone for "equal up to rounding" (TA_IS_ZERO_SCALED).
_TA_EPSILON = 1e-14
# Rolling std: re-anchor when the raw second moment exceeds the variance by this factor.
_CANCEL = 1.0e4


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _nan_out_nb(n, lookback):
    """Return a new float64 array of length ``n`` whose first ``lookback`` rows are NaN."""
    out = np.empty(n, dtype=np.float64)
    m = min(max(lookback, 0), n)
    for i in range(m):
        out[i] = np.nan
    return out


@njit(cache=True)
def _nan_rows_nb(k, n, lookback):
    """Return a new ``(k, n)`` float64 array whose rows start with ``lookback`` NaN.

    Multi-output kernels return the rows of one buffer: one allocation instead of ``k``
    keeps large outputs cheap (fewer page faults than ``k`` separate arrays).
    """
    out = np.empty((k, n), dtype=np.float64)
    m = min(max(lookback, 0), n)
    for r in range(k):
        for i in range(m):
            out[r, i] = np.nan
    return out


@njit(cache=True)
def _fill_nan_nb(out, start, stop):
    """Set ``out[start:stop]`` to NaN (bounds clipped to the array)."""
    stop = min(stop, out.shape[0])
    for i in range(max(start, 0), stop):
        out[i] = np.nan


@intrinsic
def _fma(typingctx, a, b, c):
    """Fused multiply-add ``a * b + c`` with a single rounding (LLVM ``llvm.fma.f64``).

    TA-Lib's x86-64 build runs FMA-contracted clones of its functions on CPUs with FMA
    (every x86-64 CPU since 2013, every ARM64 CPU); kernels whose branches compare a computed
    value with a price (parabolic SAR) use this to take the same branch as TA-Lib.
    """
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        dbl = ir.DoubleType()
        fnty = ir.FunctionType(dbl, [dbl, dbl, dbl])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def _true_range_nb(high, low, prev_close):
    """TA-Lib TRANGE of one bar: max(high - low, |high - prev_close|, |low - prev_close|)."""
    greatest = high - low
    v = abs(prev_close - high)
    greatest = v if v > greatest else greatest
    v = abs(prev_close - low)
    return v if v > greatest else greatest


# ---------------------------------------------------------------------------------------------
# Moving averages written into caller arrays
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _sma_into_nb(x, first, period, out):
    """TA-Lib running-sum SMA of ``x[first:]`` written to ``out[first + period - 1:]``.

    Same operation order as TA-Lib ``TA_INT_SMA`` (add the new value, divide, subtract the
    trailing value), hence bit-identical to TA-Lib SMA.
    """
    n = x.shape[0]
    start = first + period - 1
    if start >= n:
        return
    p = float(period)
    total = 0.0
    for i in range(first, start):
        total += x[i]
    trailing = first
    for i in range(start, n):
        total += x[i]
        out[i] = total / p
        total -= x[trailing]
        trailing += 1


@njit(cache=True)
def _ema_into_nb(x, first, period, out):
    """TA-Lib classic EMA of ``x[first:]``, seeded with the SMA of its first ``period`` values.

    ``k = 2 / (period + 1)``; ``out[first + period - 1]`` is the seed and each later row is
    ``(x - prev) * k + prev`` as one fused multiply-add (TA-Lib ``TA_INT_EMA``, default
    compatibility, as built for FMA CPUs).
    """
    n = x.shape[0]
    start = first + period - 1
    if start >= n:
        return
    k = 2.0 / float(period + 1)
    total = 0.0
    for i in range(first, start + 1):
        total += x[i]
    prev = total / float(period)
    out[start] = prev
    for i in range(start + 1, n):
        prev = _fma(x[i] - prev, k, prev)
        out[i] = prev


@njit(cache=True)
def _atr_into_nb(high, low, close, period, out):
    """TA-Lib ATR written to ``out[period:]``.

    True range from bar 1 on; the first ATR (bar ``period``) is the mean of the first
    ``period`` true ranges, later bars use Wilder's smoothing in TA-Lib's form
    ``prev * ((period - 1) / period) + tr * (1 - (period - 1) / period)`` (fused multiply-add).
    """
    n = close.shape[0]
    if period >= n:
        return
    p = float(period)
    keep = float(period - 1) / p
    add = 1.0 - keep
    total = 0.0
    c_prev = close[0]
    for i in range(1, period + 1):
        total += _true_range_nb(high[i], low[i], c_prev)
        c_prev = close[i]
    prev = total / p
    out[period] = prev
    for i in range(period + 1, n):
        prev = _fma(prev, keep, _true_range_nb(high[i], low[i], c_prev) * add)
        c_prev = close[i]
        out[i] = prev


@njit(cache=True, inline="always")
def _ring_push_nb(ring, pos, total, countdown, value):
    """Push ``value`` into ``ring`` and keep ``total`` = sum of its last ``len(ring)`` values.

    Returns the new ``(pos, total, countdown)``. ``ring`` must start zero-filled and ``pos``,
    ``total``, ``countdown`` at 0. The running sum (add the new value, subtract the one it
    replaces) is re-summed from the ring every ``8 * len(ring)`` pushes, so rounding drift
    cannot accumulate over long series. Slot ``k`` holds the values pushed at
    ``k, k + m, k + 2m, ...``, which is TA-Lib's circular-buffer order.
    """
    m = ring.shape[0]
    old = ring[pos]
    ring[pos] = value
    pos += 1
    if pos == m:
        pos = 0
    if countdown == 0:
        total = 0.0
        for k in range(m):
            total += ring[k]
        countdown = _RESYNC * m
    else:
        total += value - old
    return pos, total, countdown - 1


@njit(cache=True)
def _anchored_moments_nb(x, i, period):
    """Exact re-summation for :func:`_rolling_std_into_nb`: (anchor, s1, s2) of the window."""
    inv = 1.0 / float(period)
    total = 0.0
    for j in range(i - period + 1, i + 1):
        total += x[j]
    anchor = total * inv
    s1 = 0.0
    s2 = 0.0
    for j in range(i - period + 1, i + 1):
        d = x[j] - anchor
        s1 += d
        s2 += d * d
    return anchor, s1, s2


@njit(cache=True)
def _rolling_std_into_nb(x, period, out, zscore):
    """Population standard deviation of the last ``period`` values, from row ``period - 1``.

    Numerically careful running moments: sums of ``x - K`` and ``(x - K)**2`` around an
    anchor ``K`` (the window mean when last re-anchored). The window is re-summed exactly
    every ``8 * period`` rows and whenever the raw second moment exceeds the variance by
    ``1e4`` (cancellation, e.g. after a price gap leaves the window). A window of identical
    values has a standard deviation of exactly 0. With ``zscore``, ``out`` receives
    ``(x[i] - mean_i) / std_i`` instead (0 when std is 0), the deviation taken from the
    anchored sums so that it stays accurate for large prices.

    Reference: ``numpy.std`` (ddof=0) of each window; TA-Lib STDDEV / BBANDS.
    """
    n = x.shape[0]
    if period > n:
        return
    inv = 1.0 / float(period)
    every = _RESYNC * period
    anchor = 0.0
    s1 = 0.0
    s2 = 0.0
    countdown = 0
    last_change = 0
    for i in range(1, period - 1):
        if x[i] != x[i - 1]:
            last_change = i
    for i in range(period - 1, n):
        v = x[i]
        if i > 0 and v != x[i - 1]:
            last_change = i
        if last_change <= i - period + 1:  # the window holds a single value
            out[i] = 0.0
            countdown = 0
            continue
        if countdown > 0:
            d_in = v - anchor
            d_out = x[i - period] - anchor
            s1 += d_in - d_out
            s2 += d_in * d_in - d_out * d_out
            countdown -= 1
            m2 = s2 * inv
            mean_d = s1 * inv
            var = m2 - mean_d * mean_d
            if var * _CANCEL <= m2:
                countdown = 0
        if countdown == 0:
            anchor, s1, s2 = _anchored_moments_nb(x, i, period)
            countdown = every - 1
            mean_d = s1 * inv
            var = s2 * inv - mean_d * mean_d
        std = math.sqrt(var) if var > 0.0 else 0.0
        if zscore:
            out[i] = ((v - anchor) - mean_d) / std if std > 0.0 else 0.0
        else:
            out[i] = std


@njit(cache=True)
def _maxmin_buffers_nb(period):
    """Scratch for :func:`_maxmin_block_nb`: (chunk, suffix max, suffix min, chunk max, chunk min).

    ``chunk`` is a multiple of ``period`` of about 2048 rows: callers compute the extremes of
    a whole chunk (one block call per ``period`` rows), then consume the chunk in one loop.
    """
    chunk = period * max(1, 2048 // period)
    suf_max = np.full(period + 1, -np.inf)
    suf_min = np.full(period + 1, np.inf)
    return chunk, suf_max, suf_min, np.empty(chunk), np.empty(chunk)


@njit(cache=True, inline="always")
def _maxmin_block_nb(hi_src, lo_src, period, b0, mid, suf_max, suf_min, blk_max, blk_min, off):
    """Rolling max / min over ``period`` rows for the block of rows ``b0 .. b0 + period - 1``.

    Van Herk / Gil-Werman: call with ``b0 = 0, period, 2 * period, ...`` in turn, reusing the
    buffers of :func:`_maxmin_buffers_nb`. ``blk_max[off + i - b0]`` / ``blk_min[...]`` receive
    the max of ``hi_src`` / min of ``lo_src`` over rows ``i - period + 1 .. i`` (rows below
    ``period - 1`` get the partial window). With ``mid`` both extremes are taken of the
    midpoint ``(hi_src + lo_src) / 2``. Row ``i`` combines the running extreme since ``b0``
    with the suffix extreme of the previous block, which ends before ``i``: only rows
    ``<= i`` are read for it. Afterwards the suffix extremes of this (complete) block are
    stored for the next call. O(1) per row, branch-free.
    """
    n = hi_src.shape[0]
    b1 = min(b0 + period, n)
    rmax = -np.inf
    rmin = np.inf
    if mid:
        for k in range(b1 - b0):
            v = (hi_src[b0 + k] + lo_src[b0 + k]) / 2.0
            rmax = v if v > rmax else rmax
            rmin = v if v < rmin else rmin
            s = suf_max[k + 1]
            blk_max[off + k] = s if s > rmax else rmax
            s = suf_min[k + 1]
            blk_min[off + k] = s if s < rmin else rmin
    else:
        for k in range(b1 - b0):
            v = hi_src[b0 + k]
            w = lo_src[b0 + k]
            rmax = v if v > rmax else rmax
            rmin = w if w < rmin else rmin
            s = suf_max[k + 1]
            blk_max[off + k] = s if s > rmax else rmax
            s = suf_min[k + 1]
            blk_min[off + k] = s if s < rmin else rmin
    if b1 - b0 < period:
        return
    rmax = -np.inf
    rmin = np.inf
    if mid:
        for i in range(b1 - 1, b0 - 1, -1):
            v = (hi_src[i] + lo_src[i]) / 2.0
            rmax = v if v > rmax else rmax
            rmin = v if v < rmin else rmin
            suf_max[i - b0] = rmax
            suf_min[i - b0] = rmin
    else:
        for i in range(b1 - 1, b0 - 1, -1):
            v = hi_src[i]
            w = lo_src[i]
            rmax = v if v > rmax else rmax
            rmin = w if w < rmin else rmin
            suf_max[i - b0] = rmax
            suf_min[i - b0] = rmin


@njit(cache=True)
def _rolling_maxmin_into_nb(hi_src, lo_src, period, out_max, out_min, midpoint):
    """Rolling max of ``hi_src`` and min of ``lo_src`` (TA-Lib MAX / MIN) from row ``period - 1``.

    Same block scheme as :func:`_maxmin_block_nb`, writing straight into the outputs. With
    ``midpoint``, ``out_max`` receives ``(max + min) / 2`` and ``out_min`` is not touched.
    """
    n = hi_src.shape[0]
    suf_max = np.full(period + 1, -np.inf)
    suf_min = np.full(period + 1, np.inf)
    for b0 in range(0, n, period):
        b1 = min(b0 + period, n)
        rmax = -np.inf
        rmin = np.inf
        for k in range(b1 - b0):
            i = b0 + k
            v = hi_src[i]
            w = lo_src[i]
            rmax = v if v > rmax else rmax
            rmin = w if w < rmin else rmin
            s = suf_max[k + 1]
            hi = s if s > rmax else rmax
            s = suf_min[k + 1]
            lo = s if s < rmin else rmin
            if i >= period - 1:
                if midpoint:
                    out_max[i] = (hi + lo) / 2.0
                else:
                    out_max[i] = hi
                    out_min[i] = lo
        if b1 - b0 == period:
            rmax = -np.inf
            rmin = np.inf
            for i in range(b1 - 1, b0 - 1, -1):
                v = hi_src[i]
                w = lo_src[i]
                rmax = v if v > rmax else rmax
                rmin = w if w < rmin else rmin
                suf_max[i - b0] = rmax
                suf_min[i - b0] = rmin


@njit(cache=True)
def _rolling_argmaxmin_into_nb(hi_src, lo_src, window, out_max, out_min):
    """Row index of the latest max of ``hi_src`` / min of ``lo_src`` in the last ``window`` rows.

    Ties resolve to the most recent row, like TA-Lib AROON. Written from row ``window - 1``
    as float row indices; same block scheme as :func:`_rolling_maxmin_into_nb`.
    """
    n = hi_src.shape[0]
    if window > n or window < 1:
        return
    sv_max = np.empty(window + 1, dtype=np.float64)
    si_max = np.empty(window + 1, dtype=np.int64)
    sv_min = np.empty(window + 1, dtype=np.float64)
    si_min = np.empty(window + 1, dtype=np.int64)
    sv_max[window] = -np.inf
    sv_min[window] = np.inf
    si_max[window] = 0
    si_min[window] = 0
    for b0 in range(0, n, window):
        b1 = min(b0 + window, n)
        rmax = -np.inf
        rmin = np.inf
        imax = b0
        imin = b0
        k = 1
        for i in range(b0, b1):
            v = hi_src[i]
            if v >= rmax:
                rmax = v
                imax = i
            w = lo_src[i]
            if w <= rmin:
                rmin = w
                imin = i
            if b0 > 0:
                out_max[i] = imax if rmax >= sv_max[k] else si_max[k]
                out_min[i] = imin if rmin <= sv_min[k] else si_min[k]
            elif i == window - 1:
                out_max[i] = imax
                out_min[i] = imin
            k += 1
        if b1 - b0 == window:
            rmax = -np.inf
            rmin = np.inf
            for i in range(b1 - 1, b0 - 1, -1):
                v = hi_src[i]
                if v > rmax:
                    rmax = v
                    imax = i
                sv_max[i - b0] = rmax
                si_max[i - b0] = imax
                w = lo_src[i]
                if w < rmin:
                    rmin = w
                    imin = i
                sv_min[i - b0] = rmin
                si_min[i - b0] = imin


# ---------------------------------------------------------------------------------------------
# Public moving-average kernels
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def sma_1d_nb(x, period):
    """Simple moving average.

    Reference: TA-Lib ``SMA(x, timeperiod=period)`` (running sum, same operation order).
    Lookback ``period - 1``.
    """
    out = _nan_out_nb(x.shape[0], period - 1)
    _sma_into_nb(x, 0, period, out)
    return out


@njit(cache=True)
def ema_1d_nb(x, period):
    """Exponential moving average, ``k = 2 / (period + 1)``, seeded with an SMA.

    Reference: TA-Lib ``EMA(x, timeperiod=period)`` (classic compatibility: the first value,
    at row ``period - 1``, is the simple mean of the first ``period`` values).
    Lookback ``period - 1``.
    """
    out = _nan_out_nb(x.shape[0], period - 1)
    _ema_into_nb(x, 0, period, out)
    return out


@njit(cache=True)
def wma_1d_nb(x, period):
    """Linearly weighted moving average (weights 1..period, newest heaviest).

    Reference: TA-Lib ``WMA(x, timeperiod=period)``: TA-Lib's running sums, re-summed from
    the window every ``8 * period`` rows so that rounding drift cannot build up over long
    series (TA-Lib re-sums too; the two agree to a few ulp). Lookback ``period - 1``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    if period == 1:
        for i in range(n):
            out[i] = x[i]
        return out
    divider = float((period * (period + 1)) >> 1)
    fp = float(period)
    period_sum = 0.0
    period_sub = 0.0
    for i in range(period - 1):
        t = x[i]
        period_sub += t
        period_sum += t * float(i + 1)
    trailing_value = 0.0
    countdown = _RESYNC * period
    for i in range(period - 1, n):
        if countdown == 0:
            # re-sum the state exactly (running sums drift on long series)
            period_sub = x[i - period]
            period_sum = 0.0
            for w in range(1, period):
                t = x[i - period + w]
                period_sub += t
                period_sum += t * float(w)
            trailing_value = x[i - period]
            countdown = _RESYNC * period
        countdown -= 1
        t = x[i]
        period_sub += t
        period_sub -= trailing_value
        period_sum += t * fp
        trailing_value = x[i - period + 1]
        out[i] = period_sum / divider
        period_sum -= period_sub
    return out


@njit(cache=True)
def distancefromma_1d_nb(x, period, ma_type):
    """Distance of ``x`` from its moving average in percent: ``(x - MA) / MA * 100``.

    Reference (formula): ``ma_type`` 0: MA = TA-Lib ``SMA(period)``; 1: MA = TA-Lib
    ``EMA(period)`` (SMA-seeded), both computed exactly as :func:`sma_1d_nb` /
    :func:`ema_1d_nb`. A row whose MA is exactly 0
    gives 0.0 (only possible for a source such as volume). Lookback ``period - 1``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    p = float(period)
    total = 0.0
    for i in range(period - 1):
        total += x[i]
    if ma_type == 0:
        for i in range(period - 1, n):
            v = x[i]
            total += v
            ma = total / p
            total -= x[i - period + 1]
            out[i] = (v - ma) / ma * 100.0 if ma != 0.0 else 0.0
    else:
        k = 2.0 / float(period + 1)
        v = x[period - 1]
        ma = (total + v) / p
        out[period - 1] = (v - ma) / ma * 100.0 if ma != 0.0 else 0.0
        for i in range(period, n):
            v = x[i]
            ma = _fma(v - ma, k, ma)
            out[i] = (v - ma) / ma * 100.0 if ma != 0.0 else 0.0
    return out
