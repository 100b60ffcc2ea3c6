"""Momentum and oscillator kernels: RSI, MACD, stochastic, Williams %R, CCI, ROC, MOM,
relative vigor index and the Ehlers Fisher transform."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .ma import (
    _TA_EPSILON,
    _fma,
    _maxmin_block_nb,
    _maxmin_buffers_nb,
    _nan_out_nb,
    _nan_rows_nb,
    _ring_push_nb,
)


@njit(cache=True)
def rsi_1d_nb(x, period):
    """Relative strength index, 0..100.

    Reference: TA-Lib ``RSI(x, timeperiod=period)``, classic (Wilder): the first average
    gain/loss is the simple mean of the first ``period`` changes, later ones are
    ``(prev * (period - 1) + change) * (1 / period)`` (TA-Lib's operation order);
    RSI = 100 * gain / (gain + loss), and 0 when gain + loss is 0 (a flat series).
    Lookback ``period``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period)
    if period >= n:
        return out
    inv = 1.0 / float(period)
    pm1 = float(period - 1)
    gain = 0.0
    loss = 0.0
    prev = x[0]
    for i in range(1, period + 1):
        v = x[i]
        d = v - prev
        prev = v
        up = d if d > 0.0 else 0.0
        gain += up
        loss += up - d
    gain *= inv
    loss *= inv
    total = loss + gain
    out[period] = 100.0 * (gain / total) if total > 0.0 else 0.0
    for i in range(period + 1, n):
        v = x[i]
        d = v - prev
        prev = v
        up = d if d > 0.0 else 0.0
        gain = (gain * pm1 + up) * inv
        loss = ((up - d) + loss * pm1) * inv
        total = loss + gain
        out[i] = 100.0 * (gain / total) if total > 0.0 else 0.0
    return out


@njit(cache=True)
def macd_1d_nb(x, fast_period, slow_period, signal_period):
    """MACD line, signal and histogram.

    Reference: TA-Lib ``MACD(x, fastperiod, slowperiod, signalperiod)``. Both EMAs start at
    row ``slow_period - 1``: the slow EMA is seeded with the mean of ``x[0:slow]`` and the fast
    EMA with the mean of the ``fast_period`` values ending at the same row
    (``x[slow - fast:slow]``), as TA-Lib aligns them. line = fast EMA - slow EMA; signal = EMA
    of the line (seeded with the mean of its first ``signal_period`` values); histogram =
    line - signal. The EMA recursions are fused multiply-adds, as in TA-Lib's build for FMA
    CPUs. Lookback ``slow_period - 1 + signal_period - 1`` for all three outputs.
    """
    n = x.shape[0]
    lb = slow_period - 1 + signal_period - 1
    buf = _nan_rows_nb(3, n, lb)
    line = buf[0]
    signal = buf[1]
    hist = buf[2]
    if lb >= n:
        return line, signal, hist
    k_slow = 2.0 / float(slow_period + 1)
    k_fast = 2.0 / float(fast_period + 1)
    k_sig = 2.0 / float(signal_period + 1)
    s = 0.0
    for i in range(slow_period):
        s += x[i]
    slow = s / float(slow_period)
    s = 0.0
    for i in range(slow_period - fast_period, slow_period):
        s += x[i]
    fast = s / float(fast_period)
    m = fast - slow
    sig_total = 0.0 + m
    for i in range(slow_period, lb + 1):
        v = x[i]
        slow = _fma(v - slow, k_slow, slow)
        fast = _fma(v - fast, k_fast, fast)
        m = fast - slow
        sig_total += m
    sig = sig_total / float(signal_period)
    line[lb] = m
    signal[lb] = sig
    hist[lb] = m - sig
    for i in range(lb + 1, n):
        v = x[i]
        slow = _fma(v - slow, k_slow, slow)
        fast = _fma(v - fast, k_fast, fast)
        m = fast - slow
        sig = _fma(m - sig, k_sig, sig)
        line[i] = m
        signal[i] = sig
        hist[i] = m - sig
    return line, signal, hist


@njit(cache=True)
def stochastic_1d_nb(high, low, close, k_period, smooth_k, d_period):
    """Slow stochastic oscillator %K and %D, 0..100.

    Reference: TA-Lib ``STOCH(high, low, close, fastk_period=k_period, slowk_period=smooth_k,
    slowk_matype=0, slowd_period=d_period, slowd_matype=0)``. Fast %K =
    ``(close - LL) / (HH - LL) * 100`` over ``k_period`` bars (0 when
    ``HH - LL <= 1e-14 * (|HH| + |LL|)``, TA-Lib's dead zone for a flat window), %K = SMA of
    fast %K over ``smooth_k``, %D = SMA of %K over ``d_period`` (TA-Lib's running sums, kept
    in rings). Lookback ``k_period - 1 + smooth_k - 1 + d_period - 1`` for both outputs.
    """
    n = close.shape[0]
    lb = k_period - 1 + smooth_k - 1 + d_period - 1
    buf = _nan_rows_nb(2, n, lb)
    k_out = buf[0]
    d_out = buf[1]
    if lb >= n:
        return k_out, d_out
    chunk, suf_max, suf_min, c_max, c_min = _maxmin_buffers_nb(k_period)
    ring_k = np.empty(smooth_k, dtype=np.float64)
    ring_d = np.empty(d_period, dtype=np.float64)
    sk = float(smooth_k)
    dp = float(d_period)
    total_k = 0.0
    total_d = 0.0
    pos_k = 0  # ring slot of the newest fast %K; the next slot holds the oldest
    pos_d = 0
    n_k = 0  # fast %K values seen
    n_d = 0  # slow %K values seen
    for c0 in range(0, n, chunk):
        c1 = min(c0 + chunk, n)
        for b0 in range(c0, c1, k_period):
            _maxmin_block_nb(high, low, k_period, b0, False, suf_max, suf_min, c_max, c_min, b0 - c0)
        for i in range(max(c0, k_period - 1), c1):
            hi = c_max[i - c0]
            lo = c_min[i - c0]
            rng = hi - lo
            if abs(rng) <= (abs(hi) + abs(lo)) * _TA_EPSILON:
                fk = 0.0
            else:
                fk = (close[i] - lo) / rng * 100.0
            total_k += fk
            ring_k[pos_k] = fk
            pos_k = pos_k + 1 if pos_k + 1 < smooth_k else 0
            n_k += 1
            if n_k < smooth_k:
                continue
            slow = total_k / sk
            total_k -= ring_k[pos_k]
            total_d += slow
            ring_d[pos_d] = slow
            pos_d = pos_d + 1 if pos_d + 1 < d_period else 0
            n_d += 1
            if n_d < d_period:
                continue
            d_out[i] = total_d / dp
            total_d -= ring_d[pos_d]
            k_out[i] = slow
    return k_out, d_out


@njit(cache=True)
def williamsr_1d_nb(high, low, close, period):
    """Williams %R, -100..0.

    Reference: TA-Lib ``WILLR(high, low, close, timeperiod=period)``:
    ``(HH - close) / (HH - LL) * -100`` over ``period`` bars, clamped to [-100, 0], 0 when
    ``HH - LL <= 1e-14 * (|HH| + |LL|)`` (TA-Lib's dead zone for a flat window). HH / LL
    are computed inline with the block scheme of :func:`fuzzyvec.nb.ma._maxmin_block_nb`.
    Lookback ``period - 1``.
    """
    n = close.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    suf_max = np.full(period + 1, -np.inf)
    suf_min = np.full(period + 1, np.inf)
    for b0 in range(0, n, period):
        b1 = min(b0 + period, n)
        rmax = -np.inf
        rmin = np.inf
        for k in range(b1 - b0):
            i = b0 + k
            v = high[i]
            w = low[i]
            rmax = v if v > rmax else rmax
            rmin = w if w < rmin else rmin
            s = suf_max[k + 1]
            hi = s if s > rmax else rmax
            s = suf_min[k + 1]
            lo = s if s < rmin else rmin
            rng = hi - lo
            if abs(rng) <= (abs(hi) + abs(lo)) * _TA_EPSILON:
                r = 0.0
            else:
                r = (hi - close[i]) / rng * -100.0
                r = min(max(r, -100.0), 0.0)
            if i >= period - 1:
                out[i] = r
        if b1 - b0 == period:
            rmax = -np.inf
            rmin = np.inf
            for i in range(b1 - 1, b0 - 1, -1):
                v = high[i]
                w = low[i]
                rmax = v if v > rmax else rmax
                rmin = w if w < rmin else rmin
                suf_max[i - b0] = rmax
                suf_min[i - b0] = rmin
    return out


@njit(cache=True)
def cci_1d_nb(high, low, close, period):
    """Commodity channel index.

    Reference: TA-Lib ``CCI(high, low, close, timeperiod=period)``: typical price
    tp = (h + l + c) / 3, CCI = (tp - mean) / (0.015 * mean absolute deviation) over
    ``period`` bars. As in TA-Lib, the result is 0 when ``|tp - mean| <= 1e-14 * |mean|`` or
    the summed absolute deviation is ``<= 1e-14 * period * |mean|`` (a flat window, or
    differences at rounding level). The window lives in a ring in TA-Lib's slot order; the
    mean is a running sum, and when tp is within 1e-5 relative of it the mean is re-summed
    in TA-Lib's order so that ``tp - mean`` (a cancellation) is TA-Lib's to the bit. The
    mean absolute deviation has no running form: it is summed over the ring on every row,
    with four accumulators. Lookback ``period - 1``.
    """
    n = close.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    ring = np.zeros(period, dtype=np.float64)
    pos = 0
    total = 0.0
    countdown = 0
    p = float(period)
    for i in range(n):
        t = (high[i] + low[i] + close[i]) / 3.0
        pos, total, countdown = _ring_push_nb(ring, pos, total, countdown, t)
        if i < period - 1:
            continue
        mean = total / p
        num = t - mean
        if abs(num) <= 1e-5 * abs(t):
            exact = 0.0
            for k in range(period):
                exact += ring[k]
            mean = exact / p
            num = t - mean
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        k = 0
        while k + 3 < period:
            a0 += abs(ring[k] - mean)
            a1 += abs(ring[k + 1] - mean)
            a2 += abs(ring[k + 2] - mean)
            a3 += abs(ring[k + 3] - mean)
            k += 4
        while k < period:
            a0 += abs(ring[k] - mean)
            k += 1
        dev = (a0 + a1) + (a2 + a3)
        scale = _TA_EPSILON * abs(mean)
        if abs(num) <= scale or dev <= scale * p:
            out[i] = 0.0
        else:
            out[i] = num / (0.015 * (dev / p))
    return out


@njit(cache=True)
def roc_1d_nb(x, period):
    """Rate of change in percent: ``(x / x[period bars ago] - 1) * 100``.

    Reference: TA-Lib ``ROC(x, timeperiod=period)``; 0 when the earlier value is 0.
    Lookback ``period``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period)
    if period >= n:
        return out
    now = x[period:]
    then = x[: n - period]
    dst = out[period:]
    for j in range(n - period):
        prev = then[j]
        dst[j] = (now[j] / prev - 1.0) * 100.0 if prev != 0.0 else 0.0
    return out


@njit(cache=True)
def momentum_1d_nb(x, period):
    """Momentum ``x - x[period bars ago]``.

    Reference: TA-Lib ``MOM(x, timeperiod=period)``. Lookback ``period``.
    """
    n = x.shape[0]
    out = _nan_out_nb(n, period)
    if period >= n:
        return out
    now = x[period:]
    then = x[: n - period]
    dst = out[period:]
    for j in range(n - period):
        dst[j] = now[j] - then[j]
    return out


@njit(cache=True)
def rvi_1d_nb(open_, high, low, close, period, signal_period):
    """Ehlers relative vigor index and its signal line.

    Reference (formula): num = (co + 2 co[-1] + 2 co[-2] + co[-3]) / 6 with co = close - open,
    den likewise with high - low; rvi = SMA(num, period) / SMA(den, period), 0 when the
    denominator is 0 (every bar in its span has high == low); signal = average of the last
    ``signal_period`` rvi values with symmetric triangular weights ``min(k + 1, N - k)``
    (1, 2, 2, 1 for N = 4, Ehlers' classic), computed as a box sum of a box sum
    (lengths ``(N + 1) // 2`` and ``N // 2 + 1``). Running sums live in rings.
    Lookbacks: rvi ``period + 2``, signal ``period + 2 + signal_period - 1``.
    """
    n = close.shape[0]
    lb = 3 + period - 1
    lb_sig = lb + signal_period - 1
    buf = _nan_rows_nb(2, n, lb)
    rvi = buf[0]
    sig = buf[1]
    if lb >= n:
        return rvi, sig
    for i in range(lb, min(lb_sig, n)):
        sig[i] = np.nan
    a = (signal_period + 1) // 2
    b = signal_period // 2 + 1
    w = float(a * b)
    ring_n = np.zeros(period, dtype=np.float64)
    ring_d = np.zeros(period, dtype=np.float64)
    ring_a = np.zeros(a, dtype=np.float64)
    ring_b = np.zeros(b, dtype=np.float64)
    pn = 0
    pd = 0
    pa = 0
    pb = 0
    sn = 0.0
    sd = 0.0
    sa = 0.0
    sb = 0.0
    cn = 0
    cd = 0
    ca = 0
    cb = 0
    zero_run = 0  # consecutive bars with high == low ending at the row
    for i in range(n):
        zero_run = zero_run + 1 if high[i] == low[i] else 0
        if i < 3:
            continue
        num = ((close[i] - open_[i]) + 2.0 * (close[i - 1] - open_[i - 1])
               + 2.0 * (close[i - 2] - open_[i - 2]) + (close[i - 3] - open_[i - 3])) / 6.0
        den = ((high[i] - low[i]) + 2.0 * (high[i - 1] - low[i - 1])
               + 2.0 * (high[i - 2] - low[i - 2]) + (high[i - 3] - low[i - 3])) / 6.0
        pn, sn, cn = _ring_push_nb(ring_n, pn, sn, cn, num)
        pd, sd, cd = _ring_push_nb(ring_d, pd, sd, cd, den)
        if i < lb:
            continue
        r = sn / sd if (zero_run < period + 3 and sd != 0.0) else 0.0
        rvi[i] = r
        pa, sa, ca = _ring_push_nb(ring_a, pa, sa, ca, r)
        if i < lb + a - 1:
            continue
        pb, sb, cb = _ring_push_nb(ring_b, pb, sb, cb, sa)
        if i >= lb_sig:
            sig[i] = sb / w
    return rvi, sig


@njit(cache=True)
def fisher_1d_nb(high, low, period):
    """Ehlers Fisher transform of the bar midpoint and its one-bar-lagged signal.

    Reference (Ehlers, "Using the Fisher Transform", 2002): mid = (high + low) / 2;
    raw = 2 * ((mid - LL) / (HH - LL) - 0.5) over ``period`` bars (0 when HH == LL);
    v = 0.33 * raw + 0.67 * v[-1] clamped to [-0.999, 0.999];
    fisher = 0.5 * ln((1 + v) / (1 - v)) + 0.5 * fisher[-1]; v and fisher start from 0 before
    the first valid bar; signal = fisher one bar earlier.
    Lookbacks: fisher ``period - 1``, signal ``period``.
    """
    n = high.shape[0]
    buf = _nan_rows_nb(2, n, period - 1)
    fish = buf[0]
    sig = buf[1]
    if period - 1 >= n:
        return fish, sig
    sig[period - 1] = np.nan
    chunk, suf_max, suf_min, c_max, c_min = _maxmin_buffers_nb(period)
    v = 0.0
    f = 0.0
    for c0 in range(0, n, chunk):
        c1 = min(c0 + chunk, n)
        for b0 in range(c0, c1, period):
            _maxmin_block_nb(high, low, period, b0, True, suf_max, suf_min, c_max, c_min, b0 - c0)
        for i in range(max(c0, period - 1), c1):
            hh = c_max[i - c0]
            ll = c_min[i - c0]
            rng = hh - ll
            mid = (high[i] + low[i]) / 2.0
            raw = 2.0 * ((mid - ll) / rng - 0.5) if rng != 0.0 else 0.0
            v = 0.33 * raw + 0.67 * v
            if v > 0.999:
                v = 0.999
            elif v < -0.999:
                v = -0.999
            if i >= period:
                sig[i] = f
            f = 0.5 * math.log((1.0 + v) / (1.0 - v)) + 0.5 * f
            fish[i] = f
    return fish, sig
