"""Volume kernels: money flow index, on-balance volume, accumulation/distribution line,
rolling VWAP, Chaikin money flow and the volume ratio.

Rolling volume sums that can legitimately be zero (a window of zero-volume bars) are
detected exactly by counting the run of zero-volume bars, never by comparing a running sum
(which keeps rounding residue) with zero. Volumes are assumed non-negative, as
:func:`fuzzyvec.data.bars.load_ohlcv` guarantees.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .ma import _TA_EPSILON, _nan_out_nb, _ring_push_nb


@njit(cache=True)
def mfi_1d_nb(high, low, close, volume, period):
    """Money flow index, 0..100.

    Reference: TA-Lib ``MFI(high, low, close, volume, timeperiod=period)``: typical price
    tp = (h + l + c) / 3, raw money flow tp * volume counted as positive when tp rose and
    negative when it fell (a change within 1e-14 * (|tp| + |tp[-1]|) counts as no change);
    MFI = 100 * positive / (positive + negative) over ``period`` bars, 0 for a window without
    money flow. Running sums as in TA-Lib, reset to exactly 0 after ``period`` bars without
    flow, positive sum clamped into [0, total]. Lookback ``period``.
    """
    n = close.shape[0]
    out = _nan_out_nb(n, period)
    if period >= n:
        return out
    pos_buf = np.empty(period, dtype=np.float64)
    neg_buf = np.empty(period, dtype=np.float64)
    slot = 0
    prev = (high[0] + low[0] + close[0]) / 3.0
    pos = 0.0
    neg = 0.0
    null_run = 0
    for i in range(1, n):
        if i > period:
            pos -= pos_buf[slot]
            neg -= neg_buf[slot]
        tp = (high[i] + low[i] + close[i]) / 3.0
        d = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        flow = tp * volume[i]
        money = 0.0 if abs(d) <= _TA_EPSILON * scale else flow
        pf = 0.0 if d < 0.0 else money
        nf = money if d < 0.0 else 0.0
        pos_buf[slot] = pf
        neg_buf[slot] = nf
        pos += pf
        neg += nf
        null_run = null_run + 1 if money == 0.0 else 0
        if null_run >= period:
            null_run = period
            pos = 0.0
            neg = 0.0
        if i >= period:
            total = pos + neg
            pc = 0.0 if pos < 0.0 else (total if pos > total else pos)
            out[i] = 100.0 * (pc / total) if total > 0.0 else 0.0
        slot += 1
        if slot == period:
            slot = 0
    return out


@njit(cache=True)
def obv_1d_nb(close, volume):
    """On-balance volume.

    Reference: TA-Lib ``OBV(close, volume)``: starts at the first bar's volume, then adds the
    volume on an up close, subtracts it on a down close, keeps it on an unchanged close.
    Lookback 0.
    """
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    obv = volume[0]
    prev = close[0]
    for i in range(n):
        c = close[i]
        # branch-free: adding 0.0 * volume leaves obv unchanged, bit for bit
        sign = (1.0 if c > prev else 0.0) - (1.0 if c < prev else 0.0)
        obv += sign * volume[i]
        out[i] = obv
        prev = c
    return out


@njit(cache=True)
def adline_1d_nb(high, low, close, volume):
    """Chaikin accumulation/distribution line.

    Reference: TA-Lib ``AD(high, low, close, volume)``: cumulative
    ``((c - l) - (h - c)) / (h - l) * volume``, a bar with h == l adds nothing. Lookback 0.
    """
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    ad = 0.0
    for i in range(n):
        h = high[i]
        lo = low[i]
        rng = h - lo
        if rng > 0.0:
            c = close[i]
            ad += (((c - lo) - (h - c)) / rng) * volume[i]
        out[i] = ad
    return out


@njit(cache=True)
def vwap_1d_nb(high, low, close, volume, period):
    """Rolling volume-weighted average price.

    Reference (formula): sum(tp * volume) / sum(volume) over the last ``period`` bars with
    tp = (h + l + c) / 3; a window whose volume is all zero gives the window's mean tp.
    Lookback ``period - 1``.
    """
    n = close.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    ring_pv = np.zeros(period, dtype=np.float64)
    ring_v = np.zeros(period, dtype=np.float64)
    ring_tp = np.zeros(period, dtype=np.float64)
    p_pv = 0
    p_v = 0
    p_tp = 0
    s_pv = 0.0
    s_v = 0.0
    s_tp = 0.0
    c_pv = 0
    c_v = 0
    c_tp = 0
    p = float(period)
    zero_run = 0
    for i in range(n):
        vol = volume[i]
        tp = (high[i] + low[i] + close[i]) / 3.0
        p_pv, s_pv, c_pv = _ring_push_nb(ring_pv, p_pv, s_pv, c_pv, tp * vol)
        p_v, s_v, c_v = _ring_push_nb(ring_v, p_v, s_v, c_v, vol)
        p_tp, s_tp, c_tp = _ring_push_nb(ring_tp, p_tp, s_tp, c_tp, tp)
        zero_run = zero_run + 1 if vol == 0.0 else 0
        if i >= period - 1:
            if zero_run < period and s_v != 0.0:
                out[i] = s_pv / s_v
            else:
                out[i] = s_tp / p
    return out


@njit(cache=True)
def cmf_1d_nb(high, low, close, volume, period):
    """Chaikin money flow, -1..1.

    Reference (formula): money-flow multiplier mfm = ((c - l) - (h - c)) / (h - l), 0 when
    h == l; CMF = sum(mfm * volume) / sum(volume) over the last ``period`` bars, 0 when the
    window's volume is all zero. Lookback ``period - 1``.
    """
    n = close.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    ring_mf = np.zeros(period, dtype=np.float64)
    ring_v = np.zeros(period, dtype=np.float64)
    p_mf = 0
    p_v = 0
    s_mf = 0.0
    s_v = 0.0
    c_mf = 0
    c_v = 0
    zero_run = 0
    for i in range(n):
        h = high[i]
        lo = low[i]
        c = close[i]
        vol = volume[i]
        rng = h - lo
        mfv = ((c - lo) - (h - c)) / rng * vol if rng != 0.0 else 0.0
        p_mf, s_mf, c_mf = _ring_push_nb(ring_mf, p_mf, s_mf, c_mf, mfv)
        p_v, s_v, c_v = _ring_push_nb(ring_v, p_v, s_v, c_v, vol)
        zero_run = zero_run + 1 if vol == 0.0 else 0
        if i >= period - 1:
            out[i] = s_mf / s_v if (zero_run < period and s_v != 0.0) else 0.0
    return out


@njit(cache=True)
def volumeratio_1d_nb(volume, period):
    """Volume relative to its simple moving average: ``volume / SMA(volume, period)``.

    Reference (formula): ``v[i] / mean(v[i - period + 1 : i + 1])``; a window whose volume is
    all zero (SMA == 0, so the bar's own volume is 0 too) gives 0.0. Lookback ``period - 1``.
    """
    n = volume.shape[0]
    out = _nan_out_nb(n, period - 1)
    if period - 1 >= n:
        return out
    ring = np.zeros(period, dtype=np.float64)
    pos = 0
    total = 0.0
    countdown = 0
    p = float(period)
    zero_run = 0
    for i in range(n):
        vol = volume[i]
        pos, total, countdown = _ring_push_nb(ring, pos, total, countdown, vol)
        zero_run = zero_run + 1 if vol == 0.0 else 0
        if i >= period - 1:
            out[i] = vol / (total / p) if (zero_run < period and total != 0.0) else 0.0
    return out
