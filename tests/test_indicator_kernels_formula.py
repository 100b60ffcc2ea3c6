"""Formula-defined indicator kernels (SPEC §3.1, no TA-Lib counterpart) against independent,
deliberately plain numpy / Python reference implementations, and against values worked out
by hand on short series.

donchian, keltner, supertrend, vwap, cmf, zscore, distancefromma, volumeratio, rvi, fisher,
squeeze, ichimoku.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from fuzzyvec.nb.volatility import atr_1d_nb
from fuzzyvec.strategy.registry import get_indicator_spec

from .test_indicator_kernels import assert_matches, bars, run

DATASETS = ("eurusd_arrays", "btc_arrays")
NAN = np.nan


# ---------------------------------------------------------------------------------------------
# Reference implementations (slow and obvious on purpose)
# ---------------------------------------------------------------------------------------------


def _win(x: np.ndarray, m: int) -> np.ndarray:
    """Rows = trailing windows of length m, row j ends at bar j + m - 1."""
    return sliding_window_view(x, m) if len(x) >= m else np.empty((0, m))


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    """Right-align ``values`` in a length-n array of NaN."""
    out = np.full(n, np.nan)
    if len(values):
        out[n - len(values):] = values
    return out


def ref_ema(x, m):
    out = np.full(len(x), np.nan)
    if len(x) < m:
        return out
    e = sum(x[:m]) / m
    out[m - 1] = e
    k = 2.0 / (m + 1)
    for i in range(m, len(x)):
        e = e + k * (x[i] - e)
        out[i] = e
    return out


def ref_atr(h, l, c, m):  # noqa: E741
    n = len(c)
    out = np.full(n, np.nan)
    if n <= m:
        return out
    tr = [max(h[i] - l[i], abs(h[i] - c[i - 1]), abs(l[i] - c[i - 1])) for i in range(1, n)]
    a = sum(tr[:m]) / m  # tr[j] is bar j + 1
    out[m] = a
    for i in range(m + 1, n):
        a = (a * (m - 1) + tr[i - 1]) / m
        out[i] = a
    return out


def ref_sma(x, m):
    return _pad(_win(x, m).mean(axis=1), len(x))


def ref_std(x, m):
    """Two-pass population std per window; exactly 0 for a constant window."""
    w = _win(x, m)
    d = w - w.mean(axis=1, keepdims=True)
    d -= d.mean(axis=1, keepdims=True)
    s = np.sqrt((d * d).mean(axis=1))
    return _pad(np.where(np.ptp(w, axis=1) == 0, 0.0, s), len(x))


def ref_donchian(a, period):
    n = len(a["high"])
    up = _pad(_win(a["high"], period).max(axis=1), n)
    lo = _pad(_win(a["low"], period).min(axis=1), n)
    return up, (up + lo) / 2, lo


def ref_keltner(a, period, atr_period, multiplier):
    mid = ref_ema(a["close"], period)
    band = multiplier * ref_atr(a["high"], a["low"], a["close"], atr_period)
    up, lo = mid + band, mid - band
    for arr in (up, mid, lo):
        arr[: max(period - 1, atr_period)] = np.nan
    return up, mid, lo


def ref_supertrend(a, period, multiplier, atr=None):
    h, l, c = a["high"], a["low"], a["close"]  # noqa: E741
    n = len(c)
    atr = ref_atr(h, l, c, period) if atr is None else atr
    trend, direction = np.full(n, np.nan), np.full(n, np.nan)
    fu = fl = d = None
    for i in range(period, n):
        hl2 = (h[i] + l[i]) / 2
        bu, bl = hl2 + multiplier * atr[i], hl2 - multiplier * atr[i]
        if i == period:
            fu, fl, d = bu, bl, 1.0
        else:
            new_fu = bu if (bu < fu or c[i - 1] > fu) else fu
            new_fl = bl if (bl > fl or c[i - 1] < fl) else fl
            if c[i] > fu:
                d = 1.0
            elif c[i] < fl:
                d = -1.0
            fu, fl = new_fu, new_fl
        trend[i] = fl if d > 0 else fu
        direction[i] = d
    return trend, direction


def ref_vwap(a, period):
    tp = (a["high"] + a["low"] + a["close"]) / 3
    sv = _win(a["volume"], period).sum(axis=1)
    spv = _win(tp * a["volume"], period).sum(axis=1)
    mean_tp = _win(tp, period).mean(axis=1)
    safe = np.where(sv == 0, 1.0, sv)
    return (_pad(np.where(sv == 0, mean_tp, spv / safe), len(tp)),)


def ref_cmf(a, period):
    h, l, c, v = a["high"], a["low"], a["close"], a["volume"]  # noqa: E741
    rng = h - l
    mfm = np.where(rng == 0, 0.0, ((c - l) - (h - c)) / np.where(rng == 0, 1.0, rng))
    sv = _win(v, period).sum(axis=1)
    smf = _win(mfm * v, period).sum(axis=1)
    return (_pad(np.where(sv == 0, 0.0, smf / np.where(sv == 0, 1.0, sv)), len(c)),)


def ref_zscore(a, period):
    x = a["close"]
    mean, std = ref_sma(x, period), ref_std(x, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std == 0, 0.0, (x - mean) / std)
    z[: period - 1] = np.nan
    return (z,)


def ref_distancefromma(a, period, ma_type):
    x = a["close"]
    ma = ref_sma(x, period) if ma_type == "sma" else ref_ema(x, period)
    return ((x - ma) / ma * 100,)


def ref_volumeratio(a, period):
    v = a["volume"]
    mean = ref_sma(v, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(mean == 0, 0.0, v / mean)
    r[: period - 1] = np.nan
    return (r,)


def ref_rvi(a, period, signal_period):
    co, hl = a["close"] - a["open"], a["high"] - a["low"]
    n = len(co)
    num, den = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(3, n):
        num[i] = (co[i] + 2 * co[i - 1] + 2 * co[i - 2] + co[i - 3]) / 6
        den[i] = (hl[i] + 2 * hl[i - 1] + 2 * hl[i - 2] + hl[i - 3]) / 6
    rvi = np.full(n, np.nan)
    for i in range(3 + period - 1, n):
        s_num, s_den = num[i - period + 1: i + 1].mean(), den[i - period + 1: i + 1].mean()
        rvi[i] = 0.0 if s_den == 0 else s_num / s_den
    w = np.array([min(k + 1, signal_period - k) for k in range(signal_period)], dtype=float)
    sig = np.full(n, np.nan)
    for i in range(3 + period - 1 + signal_period - 1, n):
        sig[i] = np.dot(w, rvi[i - signal_period + 1: i + 1]) / w.sum()
    return rvi, sig


def ref_fisher(a, period):
    mid = (a["high"] + a["low"]) / 2
    n = len(mid)
    fish, sig = np.full(n, np.nan), np.full(n, np.nan)
    v = f = 0.0
    for i in range(period - 1, n):
        hh, ll = mid[i - period + 1: i + 1].max(), mid[i - period + 1: i + 1].min()
        raw = 0.0 if hh == ll else 2 * ((mid[i] - ll) / (hh - ll) - 0.5)
        v = min(max(0.33 * raw + 0.67 * v, -0.999), 0.999)
        if i >= period:
            sig[i] = f
        f = 0.5 * math.log((1 + v) / (1 - v)) + 0.5 * f
        fish[i] = f
    return fish, sig


def ref_squeeze(a, bb_period, bb_mult, kc_period, kc_mult):
    c = a["close"]
    mid, std = ref_sma(c, bb_period), ref_std(c, bb_period)
    bb_width = (mid + bb_mult * std) - (mid - bb_mult * std)
    ema = ref_ema(c, kc_period)
    atr = ref_atr(a["high"], a["low"], c, kc_period)
    kc_width = (ema + kc_mult * atr) - (ema - kc_mult * atr)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(atr == 0, 0.0, 1 - bb_width / kc_width)
    out[: max(bb_period - 1, kc_period)] = np.nan
    return (out,)


def ref_ichimoku(a, tenkan, kijun, senkou_b):
    def midpoint(m):
        n = len(a["high"])
        return (_pad(_win(a["high"], m).max(axis=1), n) + _pad(_win(a["low"], m).min(axis=1), n)) / 2

    tk, kj = midpoint(tenkan), midpoint(kijun)
    return tk, kj, (tk + kj) / 2, midpoint(senkou_b)


REFS = {
    "donchian": (ref_donchian, [{"period": 20}, {"period": 1}, {"period": 55}]),
    "keltner": (ref_keltner, [{"period": 20, "atr_period": 10, "multiplier": 2.0},
                              {"period": 5, "atr_period": 30, "multiplier": 1.5}]),
    "supertrend": (ref_supertrend, [{"period": 10, "multiplier": 3.0}, {"period": 1, "multiplier": 1.5}]),
    "vwap": (ref_vwap, [{"period": 20}, {"period": 1}, {"period": 96}]),
    "cmf": (ref_cmf, [{"period": 21}, {"period": 1}, {"period": 60}]),
    "zscore": (ref_zscore, [{"period": 20}, {"period": 2}, {"period": 100}]),
    "distancefromma": (ref_distancefromma, [{"period": 20, "ma_type": "sma"}, {"period": 9, "ma_type": "ema"}]),
    "volumeratio": (ref_volumeratio, [{"period": 20}, {"period": 1}, {"period": 48}]),
    "rvi": (ref_rvi, [{"period": 10, "signal_period": 4}, {"period": 1, "signal_period": 1},
                      {"period": 7, "signal_period": 9}]),
    "fisher": (ref_fisher, [{"period": 10}, {"period": 2}, {"period": 40}]),
    "squeeze": (ref_squeeze, [{"bb_period": 20, "bb_mult": 2.0, "kc_period": 20, "kc_mult": 1.5},
                              {"bb_period": 10, "bb_mult": 1.0, "kc_period": 30, "kc_mult": 2.0}]),
    "ichimoku": (ref_ichimoku, [{"tenkan": 9, "kijun": 26, "senkou_b": 52},
                                {"tenkan": 30, "kijun": 2, "senkou_b": 1}]),
}
REF_CASES = [(t, p) for t, (_, ps) in REFS.items() for p in ps]


def _id(case) -> str:
    return case[0] + "".join(f"-{k}={v}" for k, v in case[1].items())


# ---------------------------------------------------------------------------------------------
# Real data and generated bars
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", REF_CASES, ids=[_id(c) for c in REF_CASES])
def test_matches_reference_on_real_data(case, dataset, request):
    type_, params = case
    arrays = request.getfixturevalue(dataset)
    assert_matches(run(type_, arrays, **params), REFS[type_][0](arrays, **params), what=f"{type_}{params}")


@pytest.mark.parametrize("type_", sorted(REFS))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), arrays=bars())
def test_matches_reference_on_generated_bars(type_, data, arrays):
    ref, param_sets = REFS[type_]
    params = dict(data.draw(st.sampled_from(param_sets)))
    spec = get_indicator_spec(type_)
    for q in spec.params:  # shrink windows so that short inputs cross the lookback
        if q.name in params and q.kind is int:
            params[q.name] = data.draw(st.integers(int(q.min), 8), label=q.name)
    if type_ == "supertrend":
        # the ratchet compares computed bands with prices: feed both the same ATR bits
        atr = atr_1d_nb(arrays["high"], arrays["low"], arrays["close"], params["period"])
        expected = ref_supertrend(arrays, **params, atr=atr)
    else:
        expected = ref(arrays, **params)
    assert_matches(run(type_, arrays, **params), expected, what=f"{type_}{params}")


# ---------------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------------


def _bars(high, low, close=None, volume=None, open_=None):
    high = np.asarray(high, dtype=float)
    low = np.asarray(low, dtype=float)
    close = high if close is None else np.asarray(close, dtype=float)
    ones = np.ones_like(high)
    return {"open": close.copy() if open_ is None else np.asarray(open_, dtype=float), "high": high,
            "low": low, "close": close, "volume": ones if volume is None else np.asarray(volume, dtype=float)}


def _check(type_, arrays, expected, **params):
    out = run(type_, arrays, **params)
    for got, want in zip(out, expected, strict=True):
        np.testing.assert_allclose(got, np.asarray(want, dtype=float), rtol=1e-12, atol=1e-12)


def test_donchian_by_hand():
    a = _bars(high=[3, 5, 4, 6, 2, 2], low=[1, 2, 3, 1, 1, 0.5])
    # period 3: upper max(3,5,4)=5, max(5,4,6)=6, 6, 6; lower min(1,2,3)=1, 1, 1, min(1,1,.5)=.5
    _check("donchian", a, [[NAN, NAN, 5, 6, 6, 6], [NAN, NAN, 3, 3.5, 3.5, 3.25],
                           [NAN, NAN, 1, 1, 1, 0.5]], period=3)


# Bars shared by the Keltner and squeeze examples.
KC = _bars(high=[10.5, 11.5, 12.5, 12, 13.5], low=[9.5, 10, 11, 10.5, 12], close=[10, 11, 12, 11, 13])
# EMA(2), k = 2/3: seed (10 + 11) / 2 = 10.5; 10.5 + 2/3 (12 - 10.5) = 11.5;
#   11.5 + 2/3 (11 - 11.5) = 67/6; 67/6 + 2/3 (13 - 67/6) = 223/18.
# True range from bar 1: 1.5, 1.5, 1.5, max(1.5, |13.5 - 11|, |12 - 11|) = 2.5.
# ATR(2): bar 2 (1.5 + 1.5) / 2 = 1.5; bar 3 (1.5 + 1.5) / 2 = 1.5; bar 4 (1.5 + 2.5) / 2 = 2.


def test_keltner_by_hand():
    mid = [NAN, NAN, 11.5, 67 / 6, 223 / 18]
    atr = np.array([NAN, NAN, 1.5, 1.5, 2.0])
    _check("keltner", KC, [np.add(mid, atr), mid, np.subtract(mid, atr)],
           period=2, atr_period=2, multiplier=1.0)


def test_squeeze_by_hand():
    # population std(2) of the closes: bar 2 |12 - 11| / 2 = 0.5, bar 3 0.5, bar 4 |13 - 11| / 2 = 1.
    # value = 1 - (bb_mult * std) / (kc_mult * ATR): 1 - 0.5 / 1.5, 1 - 0.5 / 1.5, 1 - 1 / 2.
    _check("squeeze", KC, [[NAN, NAN, 2 / 3, 2 / 3, 0.5]], bb_period=2, bb_mult=1.0, kc_period=2, kc_mult=1.0)
    # bb_mult 2, kc_mult 1.5: 1 - 1 / 2.25 twice, then 1 - 2 / 3.
    _check("squeeze", KC, [[NAN, NAN, 1 - 1 / 2.25, 1 - 1 / 2.25, 1 / 3]],
           bb_period=2, bb_mult=2.0, kc_period=2, kc_mult=1.5)


def test_supertrend_by_hand():
    a = _bars(high=[10, 11, 12, 13, 12, 10, 9, 11], low=[9, 10, 11, 12, 10, 8, 7, 8],
              close=[9.5, 10.5, 11.5, 12.5, 10.5, 8.5, 7.5, 10.5])
    # TR from bar 1: 1.5 1.5 1.5 2.5 2.5 2 3.5; ATR(2): bar2 1.5, 1.5, 2, 2.25, 2.125, 2.8125.
    # hl2: 11.5 12.5 11 9 8 9.5; basic upper = hl2 + ATR: 13 14 13 11.25 10.125 12.3125;
    #                            basic lower = hl2 - ATR: 10 11 9 6.75 5.875 6.6875.
    # bar2: first bar, bands 13 / 10, up, trend = 10
    # bar3: upper keeps 13 (14 > 13), lower rises to 11; close 12.5 inside -> up, trend 11
    # bar4: upper 13, lower keeps 11; close 10.5 < previous lower 11 -> down, trend = upper 13
    # bar5: upper falls to 11.25; previous close 10.5 < 11 resets lower to 6.75; down, 11.25
    # bar6: upper 10.125; lower keeps 6.75; close 7.5 inside -> down, trend 10.125
    # bar7: upper keeps 10.125 (12.3125 higher), lower keeps 6.75 (6.6875 lower);
    #       close 10.5 > previous upper 10.125 -> up, trend = lower 6.75
    _check("supertrend", a, [[NAN, NAN, 10, 11, 13, 11.25, 10.125, 6.75],
                             [NAN, NAN, 1, 1, -1, -1, -1, 1]], period=2, multiplier=1.0)


def test_vwap_by_hand():
    # typical prices (h + l + c) / 3 = 2 5 8 2 5 8
    a = _bars(high=[3, 6, 9, 3, 6, 9], low=[0, 3, 6, 0, 3, 6], close=[3, 6, 9, 3, 6, 9],
              volume=[1, 2, 3, 0, 0, 0])
    # bar2 (2 + 10 + 24) / 6 = 6; bar3 (10 + 24 + 0) / 5 = 6.8; bar4 24 / 3 = 8;
    # bar5: no volume in the window -> mean typical price (2 + 5 + 8) / 3 = 5
    _check("vwap", a, [[NAN, NAN, 6, 6.8, 8, 5]], period=3)


def test_cmf_by_hand():
    a = _bars(high=[10, 12, 11, 11, 12, 12], low=[8, 10, 9, 11, 10, 10], close=[10, 11, 9, 11, 11, 12],
              volume=[100, 200, 300, 400, 0, 0])
    # multiplier ((c - l) - (h - c)) / (h - l): 1, 0, -1, 0 (h == l), 0, 1 -> flows 100 0 -300 0 0 0
    # period 2: 100 / 300, -300 / 500, -300 / 700, 0 / 400, no volume -> 0
    _check("cmf", a, [[NAN, 1 / 3, -0.6, -3 / 7, 0, 0]], period=2)


def test_zscore_by_hand():
    a = _bars(high=[1, 2, 3, 3, 3, 3, 6], low=[1, 2, 3, 3, 3, 3, 6])
    # [1,2,3]: (3 - 2) / sqrt(2/3); [2,3,3]: (1/3) / (sqrt(2)/3); [3,3,3]: 0 (std 0) twice;
    # [3,3,6]: (6 - 4) / sqrt(2)
    _check("zscore", a, [[NAN, NAN, math.sqrt(1.5), 1 / math.sqrt(2), 0, 0, math.sqrt(2)]], period=3)


def test_distancefromma_by_hand():
    a = _bars(high=[10, 12, 9, 9], low=[10, 12, 9, 9])
    # SMA(2): 11, 10.5, 9 -> (12 - 11) / 11, (9 - 10.5) / 10.5, 0  (x 100)
    _check("distancefromma", a, [[NAN, 100 / 11, -150 / 10.5, 0]], period=2, ma_type="sma")
    # EMA(2): 11, 29/3, 83/9 -> 100/11, (9 - 29/3) / (29/3) = -200/29, -200/83
    _check("distancefromma", a, [[NAN, 100 / 11, -200 / 29, -200 / 83]], period=2, ma_type="ema")


def test_volumeratio_by_hand():
    a = _bars(high=np.ones(8), low=np.ones(8), volume=[1, 2, 3, 6, 0, 0, 0, 5])
    # period 3: 3 / 2, 6 / (11/3), 0 / 3, 0 / 2, all-zero window -> 0, 5 / (5/3)
    _check("volumeratio", a, [[NAN, NAN, 1.5, 18 / 11, 0, 0, 0, 3]], period=3)


# close - open and high - low per bar for the RVI example
CO = np.array([1, 0, -1, 2, 1, 0, -2], dtype=float)
HL = np.array([2, 2, 2, 4, 2, 2, 4], dtype=float)
RVI_BARS = _bars(open_=np.full(7, 10.0), close=10 + CO,
                 high=np.maximum(10, 10 + CO) + (HL - abs(CO)) / 2,
                 low=np.minimum(10, 10 + CO) - (HL - abs(CO)) / 2)


def test_rvi_by_hand():
    # num (bars 3..6) = (co + 2 co[-1] + 2 co[-2] + co[-3]) / 6 = 1/6, 3/6, 5/6, 2/6
    # den                                                      = 14/6, 16/6, 16/6, 16/6
    # period 1: rvi = num / den = 1/14, 3/16, 5/16, 1/8
    rvi = [NAN, NAN, NAN, 1 / 14, 3 / 16, 5 / 16, 1 / 8]
    # signal_period 2, weights (1, 1): (1/14 + 3/16) / 2 = 29/224, (3/16 + 5/16) / 2, (5/16 + 2/16) / 2
    _check("rvi", RVI_BARS, [rvi, [NAN] * 4 + [29 / 224, 1 / 4, 7 / 32]], period=1, signal_period=2)
    # signal_period 4, weights (1, 2, 2, 1): (1/14 + 6/16 + 10/16 + 2/16) / 6 = 67/336
    _check("rvi", RVI_BARS, [rvi, [NAN] * 6 + [67 / 336]], period=1, signal_period=4)


def test_fisher_by_hand():
    # midpoints 1 2 3 3 1 (high = mid + 0.5, low = mid - 0.5), period 3
    mid = np.array([1, 2, 3, 3, 1], dtype=float)
    a = _bars(high=mid + 0.5, low=mid - 0.5)
    # bar2 [1,2,3]: raw = 2 ((3 - 1) / 2 - 0.5) = 1,  v = 0.33
    # bar3 [2,3,3]: raw = 2 ((3 - 2) / 1 - 0.5) = 1,  v = 0.33 + 0.67 * 0.33 = 0.5511
    # bar4 [3,3,1]: raw = 2 ((1 - 1) / 2 - 0.5) = -1, v = -0.33 + 0.67 * 0.5511 = 0.039237
    f2 = 0.5 * math.log(1.33 / 0.67)
    f3 = 0.5 * math.log(1.5511 / 0.4489) + 0.5 * f2
    f4 = 0.5 * math.log(1.039237 / 0.960763) + 0.5 * f3
    out = run("fisher", a, period=3)
    np.testing.assert_allclose(out[0], [NAN, NAN, f2, f3, f4], rtol=1e-12)
    np.testing.assert_allclose(out[1], [NAN, NAN, NAN, f2, f3], rtol=1e-12)


def test_fisher_clamps_and_flat_windows():
    # rising midpoints: raw = 1 every bar, v = 1 - 0.67**k reaches the 0.999 clamp at k = 18,
    # then fisher halves its distance to the fixed point ln(1.999 / 0.001) every bar
    a = _bars(high=np.arange(200.0) + 0.5, low=np.arange(200.0) - 0.5)
    fish = run("fisher", a, period=3)[0]
    limit = math.log(1.999 / 0.001)  # fixed point of f = 0.5 ln(1.999 / 0.001) + f / 2
    assert abs(fish[-1] - limit) < 1e-9 * limit
    # a flat window gives raw = 0: v decays by 0.67 per bar, fisher stays finite
    flat = _bars(high=np.full(10, 2.5), low=np.full(10, 1.5))
    assert np.array_equal(run("fisher", flat, period=3)[0][2:], np.zeros(8))


def test_ichimoku_by_hand():
    a = _bars(high=[5, 6, 7, 6, 5, 4], low=[4, 5, 5, 4, 3, 3])
    # tenkan(2): (6+4)/2 (7+5)/2 (7+4)/2 (6+3)/2 (5+3)/2; kijun(3): (7+4)/2 (7+4)/2 (7+3)/2 (6+3)/2
    # senkou_a = (tenkan + kijun) / 2; senkou_b(4): (7+4)/2 (7+3)/2 (7+3)/2 -- no shift forward
    _check("ichimoku", a, [[NAN, 5, 6, 5.5, 4.5, 4], [NAN, NAN, 5.5, 5.5, 5, 4.5],
                           [NAN, NAN, 5.75, 5.5, 4.75, 4.25], [NAN, NAN, NAN, 5.5, 5, 5]],
           tenkan=2, kijun=3, senkou_b=4)
