"""Trend kernels: ADX and directional indicators, Aroon, parabolic SAR, SuperTrend and
Ichimoku lines."""

from __future__ import annotations

from numba import njit

from .ma import (
    _fill_nan_nb,
    _fma,
    _nan_out_nb,
    _nan_rows_nb,
    _rolling_argmaxmin_into_nb,
    _rolling_maxmin_into_nb,
    _true_range_nb,
)


@njit(cache=True)
def adx_1d_nb(high, low, close, period):
    """Average directional index with the +DI and -DI lines (adx, plus_di, minus_di).

    Reference: TA-Lib ``ADX`` / ``PLUS_DI`` / ``MINUS_DI(high, low, close, timeperiod=period)``.
    +DM/-DM and true range are summed over bars 1..period-1, then Wilder-smoothed
    (``s - s / period + new``); DI = 100 * DM / TR (0 while TR is 0), DX =
    100 * |+DI - -DI| / (+DI + -DI). The first ADX (row ``2 * period - 1``) is the mean of the
    first ``period`` DX values, later ADX = ``(prev * (period - 1) + DX) / period``; a bar
    without a DX (TR or +DI + -DI equal to 0) is skipped, as in TA-Lib.
    Lookbacks: adx ``2 * period - 1``, plus_di and minus_di ``period``.
    """
    n = close.shape[0]
    lb_adx = 2 * period - 1
    buf = _nan_rows_nb(3, n, period)
    adx = buf[0]
    plus_di = buf[1]
    minus_di = buf[2]
    _fill_nan_nb(adx, period, lb_adx)
    if period >= n:
        return adx, plus_di, minus_di
    p = float(period)
    pm1 = float(period - 1)
    prev_h = high[0]
    prev_l = low[0]
    prev_c = close[0]
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    for i in range(1, period):
        h = high[i]
        diff_p = h - prev_h
        prev_h = h
        lo = low[i]
        diff_m = prev_l - lo
        prev_l = lo
        if diff_m > 0.0 and diff_p < diff_m:
            mdm += diff_m
        elif diff_p > 0.0 and diff_p > diff_m:
            pdm += diff_p
        tr += _true_range_nb(prev_h, prev_l, prev_c)
        prev_c = close[i]
    sum_dx = 0.0
    prev_adx = 0.0
    for i in range(period, n):
        h = high[i]
        diff_p = h - prev_h
        prev_h = h
        lo = low[i]
        diff_m = prev_l - lo
        prev_l = lo
        # branch-free DM: adding 0.0 is exact, so this equals TA-Lib's if/else bit for bit
        dn = diff_m if (diff_m > 0.0 and diff_p < diff_m) else 0.0
        up = diff_p if (diff_p > 0.0 and diff_p > diff_m) else 0.0
        mdm = mdm - mdm / p + dn
        pdm = pdm - pdm / p + up
        tr = tr - tr / p + _true_range_nb(prev_h, prev_l, prev_c)
        prev_c = close[i]
        if tr != 0.0:
            m_di = 100.0 * (mdm / tr)
            p_di = 100.0 * (pdm / tr)
        else:
            m_di = 0.0
            p_di = 0.0
        plus_di[i] = p_di
        minus_di[i] = m_di
        s = m_di + p_di
        has_dx = tr != 0.0 and s != 0.0
        if i < lb_adx:
            if has_dx:
                sum_dx += 100.0 * (abs(m_di - p_di) / s)
        elif i == lb_adx:
            if has_dx:
                sum_dx += 100.0 * (abs(m_di - p_di) / s)
            prev_adx = sum_dx / p
            adx[i] = prev_adx
        else:
            if has_dx:
                prev_adx = (prev_adx * pm1 + 100.0 * (abs(m_di - p_di) / s)) / p
            adx[i] = prev_adx
    return adx, plus_di, minus_di


@njit(cache=True)
def aroon_1d_nb(high, low, period):
    """Aroon up, Aroon down and the Aroon oscillator (up, down, oscillator).

    Reference: TA-Lib ``AROON(high, low, timeperiod=period)`` and ``AROONOSC``: over the last
    ``period + 1`` bars, up = 100 / period * (period - bars since the highest high), down
    likewise with the lowest low (ties go to the most recent bar); oscillator =
    100 / period * (index of highest - index of lowest). Lookback ``period``.
    """
    n = high.shape[0]
    buf = _nan_rows_nb(3, n, period)
    up = buf[0]
    down = buf[1]
    osc = buf[2]
    if period >= n:
        return up, down, osc
    _rolling_argmaxmin_into_nb(high, low, period + 1, up, down)
    factor = 100.0 / float(period)
    p = float(period)
    for i in range(period, n):
        hi = up[i]
        lo = down[i]
        fi = float(i)
        up[i] = factor * (p - (fi - hi))
        down[i] = factor * (p - (fi - lo))
        osc[i] = factor * (hi - lo)
    return up, down, osc


@njit(cache=True)
def parabolicsar_1d_nb(high, low, acceleration, maximum):
    """Parabolic stop and reverse.

    Reference: TA-Lib ``SAR(high, low, acceleration, maximum)``: the first trade is short when
    bar 1 has a positive -DM (TA-Lib MINUS_DM with period 1), long otherwise; the first SAR is
    bar 0's low (long) or high (short) with the extreme point taken from bar 1; on a
    penetration the SAR is reset to the extreme point and the acceleration to its step, and
    the SAR never enters the previous or current bar's range. The update
    ``sar + af * (ep - sar)`` is a fused multiply-add, as in TA-Lib's build on FMA CPUs, so a
    SAR that lands on a price takes the same branch. Lookback 1.
    """
    n = high.shape[0]
    out = _nan_out_nb(n, 1)
    if n < 2:
        return out
    if acceleration > maximum:
        acceleration = maximum
    af = acceleration
    diff_p = high[1] - high[0]
    diff_m = low[0] - low[1]
    is_long = not (diff_m > 0.0 and diff_p < diff_m)
    if is_long:
        ep = high[1]
        sar = low[0]
    else:
        ep = low[1]
        sar = high[0]
    new_low = low[1]
    new_high = high[1]
    for i in range(1, n):
        prev_low = new_low
        prev_high = new_high
        new_low = low[i]
        new_high = high[i]
        if is_long:
            if new_low <= sar:
                is_long = False
                sar = ep
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
                out[i] = sar
                af = acceleration
                ep = new_low
                sar = _fma(af, ep - sar, sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
            else:
                out[i] = sar
                if new_high > ep:
                    ep = new_high
                    af += acceleration
                    if af > maximum:
                        af = maximum
                sar = _fma(af, ep - sar, sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
        else:
            if new_high >= sar:
                is_long = True
                sar = ep
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
                out[i] = sar
                af = acceleration
                ep = new_high
                sar = _fma(af, ep - sar, sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
            else:
                out[i] = sar
                if new_low < ep:
                    ep = new_low
                    af += acceleration
                    if af > maximum:
                        af = maximum
                sar = _fma(af, ep - sar, sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
    return out


@njit(cache=True)
def supertrend_1d_nb(high, low, close, period, multiplier):
    """SuperTrend line and direction (trend, direction), direction +1.0 up / -1.0 down.

    Reference (formula): ATR = TA-Lib ``ATR(period)``, hl2 = (high + low) / 2, basic bands
    hl2 +/- multiplier * ATR. Final upper = basic upper if it is below the previous final
    upper or the previous close closed above it, else the previous final upper; final lower
    symmetric. Direction is +1 on the first bar (row ``period``); it turns +1 when the close
    is above the previous final upper, else -1 when below the previous final lower. trend =
    final lower while direction is +1, final upper while -1. Lookback ``period``.
    """
    n = close.shape[0]
    buf = _nan_rows_nb(2, n, period)
    trend = buf[0]
    direction = buf[1]
    if period >= n:
        return trend, direction
    p = float(period)
    keep = float(period - 1) / p
    add = 1.0 - keep
    atr = 0.0
    f_up = 0.0
    f_lo = 0.0
    d = 1.0
    for i in range(1, n):
        tr = _true_range_nb(high[i], low[i], close[i - 1])
        if i < period:
            atr += tr
            continue
        hl2 = (high[i] + low[i]) / 2.0
        if i == period:
            atr = (atr + tr) / p
            band = multiplier * atr
            f_up = hl2 + band
            f_lo = hl2 - band
        else:
            atr = _fma(atr, keep, tr * add)
            band = multiplier * atr
            b_up = hl2 + band
            b_lo = hl2 - band
            c_prev = close[i - 1]
            up = b_up if (b_up < f_up or c_prev > f_up) else f_up
            lo = b_lo if (b_lo > f_lo or c_prev < f_lo) else f_lo
            c = close[i]
            if c > f_up:
                d = 1.0
            elif c < f_lo:
                d = -1.0
            f_up = up
            f_lo = lo
        trend[i] = f_lo if d > 0.0 else f_up
        direction[i] = d
    return trend, direction


@njit(cache=True)
def ichimoku_1d_nb(high, low, tenkan, kijun, senkou_b):
    """Ichimoku lines (tenkan, kijun, senkou_a, senkou_b) without forward displacement.

    Reference (formula): midpoint(m) = (rolling max(high, m) + rolling min(low, m)) / 2;
    tenkan = midpoint(tenkan), kijun = midpoint(kijun), senkou_a = (tenkan + kijun) / 2,
    senkou_b = midpoint(senkou_b). The spans are *not* shifted forward, so row i uses bars
    up to i only. Lookbacks: tenkan - 1, kijun - 1, max(tenkan, kijun) - 1, senkou_b - 1.
    """
    n = high.shape[0]
    buf = _nan_rows_nb(4, n, 0)
    tk = buf[0]
    kj = buf[1]
    sa = buf[2]
    sb = buf[3]
    _midpoint_into_nb(high, low, tenkan, tk)
    _midpoint_into_nb(high, low, kijun, kj)
    _midpoint_into_nb(high, low, senkou_b, sb)
    lb_a = max(tenkan, kijun) - 1
    _fill_nan_nb(sa, 0, lb_a)
    for i in range(lb_a, n):
        sa[i] = (tk[i] + kj[i]) / 2.0
    return tk, kj, sa, sb


@njit(cache=True)
def _midpoint_into_nb(high, low, period, out):
    """NaN for rows < ``period - 1``, then (rolling max(high) + rolling min(low)) / 2."""
    _fill_nan_nb(out, 0, period - 1)
    _rolling_maxmin_into_nb(high, low, period, out, out, True)
