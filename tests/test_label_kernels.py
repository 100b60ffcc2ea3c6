"""Label kernels (SPEC §4): hand-computed series, pandas EWMA and slow pure-Python references.

Class codes: BUY = 0, HOLD = 1, SELL = 2, no label = -1.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzyvec.nb.labels import (
    ewm_vol_1d_nb,
    forward_return_labels_1d_nb,
    triple_barrier_labels_1d_nb,
    zigzag_labels_1d_nb,
    zigzag_pivots_1d_nb,
)

B, H, S, N = 0, 1, 2, -1
SETTINGS = settings(max_examples=50, deadline=None)


def arr(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# zigzag
# ---------------------------------------------------------------------------------------------

# threshold 10 %:
#  bar 0 100  start: running max = min = bar 0
#  bar 1 105  new running max (1.05 - 1 < 10 % above the min)
#  bar 2  95  new running min; 1 - 95/105 = 9.5 % < 10 %
#  bar 3  90  1 - 90/105 = 14.3 % -> HIGH pivot at bar 1 confirmed, now down, pending low bar 3
#  bar 4 100  100/90 - 1 = 11.1 % -> LOW pivot at bar 3 confirmed, now up, pending high bar 4
#  bar 5 110  pending high -> bar 5
#  bar 6 120  pending high -> bar 6
#  bar 7 115  1 - 115/120 = 4.2 %
#  bar 8 105  1 - 105/120 = 12.5 % -> HIGH pivot at bar 6, now down, pending low bar 8
#  bar 9 108  108/105 - 1 = 2.9 %
#  bar 10 100 pending low -> bar 10
#  bar 11 112 112/100 - 1 = 12 % -> LOW pivot at bar 10, now up, pending high bar 11 (unconfirmed)
ZZ = arr([100, 105, 95, 90, 100, 110, 120, 115, 105, 108, 100, 112])


def test_zigzag_pivots_hand_computed():
    idx, kind = zigzag_pivots_1d_nb(ZZ, 0.10)
    assert idx.dtype == np.int64 and kind.dtype == np.int8
    assert idx.tolist() == [1, 3, 6, 10]
    assert kind.tolist() == [1, -1, 1, -1]


def test_zigzag_labels_hand_computed():
    # bar 0: before the first pivot -> no label; bars 1, 3, 6, 10: pivots -> HOLD;
    # bar 2: next pivot bar 3 is a low -> SELL; bars 4-5: next pivot bar 6 is a high -> BUY;
    # bars 7-9: next pivot bar 10 is a low -> SELL; bar 11: after the last pivot -> no label.
    y = zigzag_labels_1d_nb(ZZ, 0.10, 100)
    assert y.dtype == np.int8
    assert y.tolist() == [N, H, S, H, B, B, H, S, S, S, H, N]


def test_zigzag_label_lookahead_changes_result():
    # lookahead 2: bar 7 is 3 bars from its next pivot (bar 10) -> HOLD; bar 4 is exactly 2 bars
    # from bar 6 -> still BUY (the limit is inclusive).
    assert zigzag_labels_1d_nb(ZZ, 0.10, 2).tolist() == [N, H, S, H, B, B, H, H, S, S, H, N]
    # lookahead 1: only the bar right before each pivot keeps its direction.
    assert zigzag_labels_1d_nb(ZZ, 0.10, 1).tolist() == [N, H, S, H, H, B, H, H, H, S, H, N]
    # lookahead 0: nothing but HOLD between the first and the last pivot.
    assert zigzag_labels_1d_nb(ZZ, 0.10, 0).tolist() == [N, H, H, H, H, H, H, H, H, H, H, N]


def test_zigzag_ties_keep_first_occurrence():
    # threshold 8 %: bar 1 (90) confirms the HIGH at bar 0; bar 2 (100) confirms the LOW at bar
    # 1; bars 3 and 5 equal the pending high (bar 2) and do not move it; bar 6 (90) falls 10 %
    # from it and confirms the HIGH at bar 2, not at bar 3 or 5.
    idx, kind = zigzag_pivots_1d_nb(arr([100, 90, 100, 100, 95, 100, 90]), 0.08)
    assert idx.tolist() == [0, 1, 2]
    assert kind.tolist() == [1, -1, 1]
    # undecided state: the running max is bar 0 even though bar 3 equals it
    idx, kind = zigzag_pivots_1d_nb(arr([100, 100, 98, 100, 89]), 0.10)
    assert idx.tolist() == [0] and kind.tolist() == [1]


def test_zigzag_first_pivot_low_and_unlabelled_head_and_tail():
    # threshold 10 %: bar 1 is the running min; bar 3 (105) is 10.5 % above it -> LOW at bar 1.
    c = arr([100, 95, 96, 105, 104])
    idx, kind = zigzag_pivots_1d_nb(c, 0.10)
    assert idx.tolist() == [1] and kind.tolist() == [-1]
    # one pivot only: head bar 0 and tail bars 2-4 have no label, the pivot is HOLD
    assert zigzag_labels_1d_nb(c, 0.10, 50).tolist() == [N, H, N, N, N]


def test_zigzag_no_pivot_and_empty():
    assert zigzag_pivots_1d_nb(arr([100, 101, 102, 101]), 0.10)[0].size == 0
    assert zigzag_labels_1d_nb(arr([100, 101, 102, 101]), 0.10, 5).tolist() == [N] * 4
    assert zigzag_labels_1d_nb(arr([]), 0.10, 5).size == 0


def ref_zigzag(close: list[float], th: float) -> list[tuple[int, int]]:
    """Slow reference: pivots as (bar, kind), written as a two-phase scan.

    Phase 1 recomputes the extremes of the whole prefix at every bar (quadratic until the
    first reversal); phase 2 follows one pending extreme.
    """
    pivots: list[tuple[int, int]] = []
    # phase 1: find the first reversal of at least th from the extremes seen so far
    start = None
    for i in range(len(close)):
        hi_i = max(range(i + 1), key=lambda k: (close[k], -k))
        lo_i = min(range(i + 1), key=lambda k: (close[k], k))
        rose = close[i] / close[lo_i] - 1 >= th
        fell = 1 - close[i] / close[hi_i] >= th
        if rose and (not fell or lo_i < hi_i):
            pivots.append((lo_i, -1))
            trend, ext, start = 1, i, i
            break
        if fell:
            pivots.append((hi_i, 1))
            trend, ext, start = -1, i, i
            break
    if start is None:
        return pivots
    # phase 2: alternate between tracking highs and lows
    for i in range(start + 1, len(close)):
        if trend == 1:
            if close[i] > close[ext]:
                ext = i
            elif 1 - close[i] / close[ext] >= th:
                pivots.append((ext, 1))
                trend, ext = -1, i
        else:
            if close[i] < close[ext]:
                ext = i
            elif close[i] / close[ext] - 1 >= th:
                pivots.append((ext, -1))
                trend, ext = 1, i
    return pivots


def ref_zigzag_labels(close: list[float], th: float, lookahead: int) -> list[int]:
    piv = ref_zigzag(close, th)
    out = [N] * len(close)
    for (p0, _), (p1, k1) in itertools.pairwise(piv):
        for i in range(p0 + 1, p1):
            out[i] = H if p1 - i > lookahead else (B if k1 == 1 else S)
    for p, _ in piv:
        out[p] = H
    return out


@pytest.mark.parametrize(
    ("name", "th", "lookahead"),
    [("btc", 0.01, 60), ("btc", 0.003, 12), ("eurusd", 0.005, 24), ("eurusd", 0.02, 500)],
)
def test_zigzag_matches_reference_on_real_data(name, th, lookahead, btc_arrays, eurusd_arrays):
    close = (btc_arrays if name == "btc" else eurusd_arrays)["close"]
    piv = ref_zigzag(close.tolist(), th)
    idx, kind = zigzag_pivots_1d_nb(close, th)
    assert len(piv) > 5
    assert list(zip(idx.tolist(), kind.tolist(), strict=True)) == piv
    assert zigzag_labels_1d_nb(close, th, lookahead).tolist() == ref_zigzag_labels(
        close.tolist(), th, lookahead
    )


@SETTINGS
@given(st.lists(st.floats(50, 150), min_size=2, max_size=80), st.floats(0.005, 0.3))
def test_zigzag_properties(prices, th):
    c = arr(prices)
    idx, kind = zigzag_pivots_1d_nb(c, th)
    assert list(zip(idx.tolist(), kind.tolist(), strict=True)) == ref_zigzag(prices, th)
    assert (np.diff(idx) > 0).all()
    assert (kind[1:] != kind[:-1]).all()  # highs and lows alternate
    for k in range(len(idx) - 1):  # consecutive pivots differ by at least the threshold
        a, b = c[idx[k]], c[idx[k + 1]]
        assert (b / a - 1 >= th) if kind[k] == -1 else (1 - b / a >= th)


# ---------------------------------------------------------------------------------------------
# forward return
# ---------------------------------------------------------------------------------------------


def test_forward_return_hand_computed_with_threshold_edges():
    # horizon 1, threshold 25 % (exact in binary, so the edges are exact):
    #  0: 100/80 - 1    = +0.25   -> HOLD (not > threshold)
    #  1: 75/100 - 1    = -0.25   -> HOLD (not < -threshold)
    #  2: 100/75 - 1    = +0.333  -> BUY
    #  3: 125/100 - 1   = +0.25   -> HOLD
    #  4: 93.75/125 - 1 = -0.25   -> HOLD
    #  5: 70/93.75 - 1  = -0.253  -> SELL
    #  6: 200/70 - 1    = +1.86   -> BUY
    #  7: 150/200 - 1   = -0.25   -> HOLD
    #  8: last bar               -> no label
    c = arr([80, 100, 75, 100, 125, 93.75, 70, 200, 150])
    y = forward_return_labels_1d_nb(c, 1, 0.25)
    assert y.dtype == np.int8
    assert y.tolist() == [H, H, B, H, H, S, B, H, N]


def test_forward_return_horizon_and_zero_threshold():
    # horizon 3, threshold 0: sign of close[i+3] - close[i]; equal -> HOLD; last 3 unlabelled
    c = arr([10, 11, 12, 10, 11, 13, 9, 9])
    # 0: 10->10 HOLD; 1: 11->11 HOLD; 2: 12->13 BUY; 3: 10->9 SELL; 4: 11->9 SELL
    assert forward_return_labels_1d_nb(c, 3, 0.0).tolist() == [H, H, B, S, S, N, N, N]
    assert forward_return_labels_1d_nb(c, 8, 0.0).tolist() == [N] * 8
    assert forward_return_labels_1d_nb(c, 20, 0.0).tolist() == [N] * 8


def test_forward_return_matches_pandas(btc_arrays):
    close = btc_arrays["close"]
    r = pd.Series(close).shift(-12) / pd.Series(close) - 1
    expected = np.where(r > 0.002, B, np.where(r < -0.002, S, H))
    expected[-12:] = N
    assert (forward_return_labels_1d_nb(close, 12, 0.002) == expected).all()


# ---------------------------------------------------------------------------------------------
# triple barrier
# ---------------------------------------------------------------------------------------------


def pandas_vol(close: np.ndarray, span: float) -> np.ndarray:
    r = pd.Series(close).pct_change()
    return r.pow(2).ewm(span=span, adjust=False).mean().pow(0.5).to_numpy()


@pytest.mark.parametrize("span", [1, 2, 5, 20, 100, 33.5])
def test_ewm_vol_equals_pandas_on_real_data(span, btc_arrays, eurusd_arrays):
    for close in (btc_arrays["close"], eurusd_arrays["close"]):
        got = ewm_vol_1d_nb(close, span)
        want = pandas_vol(close, span)
        assert np.isnan(got[0]) and np.isnan(want[0])
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
        assert got[1] == pytest.approx(abs(close[1] / close[0] - 1), rel=1e-15)  # seed: |r_1|


def test_ewm_vol_nan_gap_equals_pandas():
    # NaN closes inside the series: pandas (ignore_na=False) keeps the last value and decays the
    # old weight across the gap; the kernel replicates it.
    close = arr([100, 101, np.nan, np.nan, 99, 100, 102, np.nan, 101, 103])
    np.testing.assert_allclose(ewm_vol_1d_nb(close, 4), pandas_vol(close, 4), rtol=1e-14)


# pt = sl = 2, max_holding_period = 3, vol_span = 1 (alpha = 1, so vol_i = |r_i|).
# Closes alternate 100, 101:
#   even i >= 2: close 100, vol = 1 - 100/101 = 0.0099 -> barriers 101.98 / 98.02
#   odd i:       close 101, vol = 0.01               -> barriers 103.02 / 98.98
# Bars span close +- 0.2 (never touch a barrier) except:
#   bar 4:  high 103.5             -> upper barrier of every entry
#   bar 8:  high 104.0, low 97.0   -> both barriers of every entry in one bar
#   bar 10: low 98.5               -> lower barrier of odd entries only
TB_CLOSE = arr([100, 101, 100, 101, 100, 101, 100, 101, 100, 101, 100, 101])


def tb_bars():
    high = TB_CLOSE + 0.2
    low = TB_CLOSE - 0.2
    high[4] = 103.5
    high[8], low[8] = 104.0, 97.0
    low[10] = 98.5
    return high, low


def test_triple_barrier_hand_computed():
    high, low = tb_bars()
    y = triple_barrier_labels_1d_nb(TB_CLOSE, high, low, 2.0, 2.0, 3, 1.0)
    assert y.dtype == np.int8
    expected = [
        N,  # 0: vol is NaN on the first bar
        B,  # 1: bar 4 high 103.5 >= 103.02 (bars 2-3 untouched)
        B,  # 2: bar 4 high >= 101.98
        B,  # 3: bar 4 high >= 103.02
        H,  # 4: bars 5-7 touch nothing; its own spike (bar 4) is not scanned -> vertical barrier
        S,  # 5: bar 8 touches both 103.02 and 98.98 -> the stop side wins
        S,  # 6: bar 8 touches both 101.98 and 98.02 -> SELL
        S,  # 7: bar 8 touches both -> SELL
        H,  # 8: bar 10 low 98.5 > 98.02; bars 9-11 untouched -> vertical barrier at bar 11
        S,  # 9: bar 10 low 98.5 <= 98.98 -> lower barrier alone
        N,  # 10: only bar 11 left, no touch, data end before the vertical barrier
        N,  # 11: no bars after it
    ]
    assert y.tolist() == expected


def test_triple_barrier_touch_before_data_end_is_labelled():
    high, low = tb_bars()
    low[11] = 97.0  # now bar 11 breaks 98.02 too
    y = triple_barrier_labels_1d_nb(TB_CLOSE, high, low, 2.0, 2.0, 3, 1.0)
    assert y.tolist()[8:] == [S, S, S, N]


def test_triple_barrier_multipliers_and_zero_vol():
    high, low = tb_bars()
    # a huge profit-taking multiplier: bar 4's spike no longer reaches the upper barrier
    y = triple_barrier_labels_1d_nb(TB_CLOSE, high, low, 50.0, 2.0, 3, 1.0)
    assert y.tolist()[1:5] == [H, H, H, H]
    # constant prices: vol is 0 everywhere -> no label even though the bars move
    c = arr([100] * 6)
    y = triple_barrier_labels_1d_nb(c, c + 5, c - 5, 1.0, 1.0, 2, 1.0)
    assert y.tolist() == [N] * 6


def ref_triple_barrier(close, high, low, pt, sl, mhp, span) -> list[int]:
    """Slow reference: pandas volatility, then a plain loop per entry bar."""
    vol = pandas_vol(close, span)
    n = len(close)
    out = []
    for i in range(n):
        v = vol[i]
        if math.isnan(v) or v == 0:
            out.append(N)
            continue
        up, dn = close[i] * (1 + pt * v), close[i] * (1 - sl * v)
        label = N if i + mhp >= n else H
        for j in range(i + 1, min(i + mhp, n - 1) + 1):
            if low[j] <= dn:
                label = S
                break
            if high[j] >= up:
                label = B
                break
        out.append(label)
    return out


@pytest.mark.parametrize(
    ("name", "pt", "sl", "mhp", "span"),
    [("btc", 2.0, 1.0, 24, 50), ("btc", 1.0, 1.0, 6, 20), ("eurusd", 1.5, 3.0, 48, 100)],
)
def test_triple_barrier_matches_reference_on_real_data(
    name, pt, sl, mhp, span, btc_arrays, eurusd_arrays
):
    a = btc_arrays if name == "btc" else eurusd_arrays
    got = triple_barrier_labels_1d_nb(a["close"], a["high"], a["low"], pt, sl, mhp, span)
    want = ref_triple_barrier(a["close"], a["high"], a["low"], pt, sl, mhp, span)
    assert got.tolist() == want
    counts = np.bincount(got[got >= 0], minlength=3)
    assert (counts > 0).all()  # all three classes occur on real data
