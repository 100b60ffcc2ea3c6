"""The decision kernel (SPEC §6): one test per rule, then the batch/stepping properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzyvec.nb.decision import NEVER_BARS_SINCE, decide_nb

SETTINGS = settings(max_examples=50, deadline=None)

BUY = [0.8, 0.1, 0.1]
HOLD = [0.1, 0.8, 0.1]
SELL = [0.1, 0.1, 0.8]
NAN = float("nan")


def run(
    rows,
    *,
    thr=0.5,
    sep=0,
    pa=True,
    asf=False,
    roo=False,
    short=True,
    pos=0,
    since=NEVER_BARS_SINCE,
):
    """Single-threshold call; returns (positions as a list, final position, final bars since)."""
    probs = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    out, fp, fs = decide_nb(
        probs,
        np.array([thr]),
        sep,
        pa,
        asf,
        roo,
        short,
        np.array([pos], dtype=np.int64),
        np.array([since], dtype=np.int64),
    )
    return out[:, 0].tolist(), int(fp[0]), int(fs[0])


def positions(rows, **kw):
    return run(rows, **kw)[0]


# --- one test per rule, in SPEC order ---------------------------------------------------------


def test_nan_row_is_hold():
    # the NaN rows would otherwise be confident BUY / SELL signals
    assert positions([[0.9, NAN, 0.05], BUY]) == [0, 1]
    assert positions([[NAN, NAN, NAN], [0.05, 0.05, NAN]], pos=1) == [1, 1]
    assert positions([[0.01, 0.01, NAN]], pos=-1, pa=False) == [-1]


def test_confidence_below_threshold_is_hold():
    low_buy = [0.45, 0.3, 0.25]
    assert positions([low_buy, BUY], thr=0.5) == [0, 1]
    assert positions([low_buy], thr=0.45) == [1]  # confidence == threshold acts
    assert positions([low_buy], thr=0.0) == [1]
    assert positions([SELL], thr=0.81, pos=1) == [1]


def test_argmax_ties_take_lowest_index():
    assert positions([[0.45, 0.45, 0.1]], thr=0.4) == [1]  # BUY beats HOLD -> long
    assert positions([[0.45, 0.1, 0.45]], thr=0.4) == [1]  # BUY beats SELL
    assert positions([[0.1, 0.45, 0.45]], thr=0.4, pos=1) == [1]  # HOLD beats SELL: stays long
    assert positions([[1 / 3, 1 / 3, 1 / 3]], thr=0.3) == [1]


def test_hold_signal_keeps_position():
    for p in (-1, 0, 1):
        assert positions([HOLD, HOLD, HOLD], pos=p) == [p, p, p]
        assert positions([HOLD, HOLD], pos=p, pa=False) == [p, p]


def test_min_signal_separation_counts_bars_since_last_acted_signal():
    # sep 3: BUY acts on row 0 (bars since = 0); SELL on rows 1, 2 has bars since 1, 2 < 3;
    # on row 3 bars since = 3 -> the SELL acts (closes to flat, no reverse).
    out, fp, fs = run([BUY, SELL, SELL, SELL, HOLD], sep=3)
    assert out == [1, 1, 1, 0, 0]
    assert (fp, fs) == (0, 1)  # acted on row 3, one row (row 4) since


def test_min_signal_separation_six_bars():
    # SPEC example: with min_signal_separation = 6 the next acted signal comes 6 bars later.
    rows = [BUY] + [SELL] * 7
    assert positions(rows, sep=6, pa=False) == [1, 1, 1, 1, 1, 1, -1, -1]


def test_only_acted_signals_reset_the_counter():
    # rows 1-2 repeat BUY while long: not acted, the counter keeps running; row 3 SELL acts.
    assert positions([BUY, BUY, BUY, SELL], sep=3) == [1, 1, 1, 0]
    # a blocked signal does not reset it either
    assert positions([BUY, SELL, BUY, SELL], sep=3) == [1, 1, 1, 0]


def test_init_bars_since_counts_from_the_row_before_row_zero():
    # init_bars_since = 1: row 0 is 2 bars after the last acted signal, row 1 is 3 bars after
    assert positions([BUY, BUY], sep=3, since=1) == [0, 1]
    assert positions([BUY], sep=3, since=2) == [1]
    assert positions([BUY], sep=3, since=0) == [0]
    assert positions([BUY], sep=10**9, since=NEVER_BARS_SINCE) == [1]  # "never" stays large


def test_separation_of_zero_or_one_disables_filter():
    rows = [BUY, SELL, BUY, SELL]
    assert positions(rows, sep=0, pa=False) == [1, -1, 1, -1]
    assert positions(rows, sep=1, pa=False) == [1, -1, 1, -1]
    # sep 2: row 1 is blocked (1 bar since row 0); row 2's BUY changes nothing; row 3 acts
    assert positions(rows, sep=2, pa=False) == [1, 1, 1, -1]


def test_position_awareness_same_side_is_hold():
    out, _, fs = run([BUY, BUY], pos=1, since=5)
    assert out == [1, 1] and fs == 7  # not acted: counter not reset
    assert positions([SELL, SELL], pos=-1) == [-1, -1]


def test_position_awareness_sell_while_flat():
    assert positions([SELL]) == [0]  # HOLD without allow_short_from_flat
    assert positions([SELL], asf=True) == [-1]
    assert positions([SELL], asf=True, short=False) == [0]  # shorting not allowed at all
    assert positions([BUY]) == [1]  # BUY while flat -> long


def test_position_awareness_opposite_signal_closes_or_reverses():
    assert positions([SELL], pos=1) == [0]
    assert positions([BUY], pos=-1) == [0]
    assert positions([SELL], pos=1, roo=True) == [-1]
    assert positions([BUY], pos=-1, roo=True) == [1]
    assert positions([SELL], pos=1, roo=True, short=False) == [0]
    assert positions([BUY], pos=-1, roo=True, short=False) == [1]
    # close, then a second SELL while flat stays flat (no allow_short_from_flat)
    assert positions([BUY, SELL, SELL]) == [1, 0, 0]
    assert positions([BUY, SELL, SELL], asf=True) == [1, 0, -1]


def test_without_position_awareness():
    assert positions([BUY, BUY, SELL, SELL, BUY], pa=False) == [1, 1, -1, -1, 1]
    assert positions([BUY, SELL, SELL, BUY], pa=False, short=False) == [1, 0, 0, 1]
    assert positions([SELL], pa=False, pos=1) == [-1]  # flags of the aware mode do not apply


def test_outputs_dtype_shape_and_empty_input():
    probs = np.array([BUY, SELL], dtype=np.float64)
    out, fp, fs = decide_nb(
        probs,
        np.array([0.5, 0.9]),
        0,
        True,
        False,
        False,
        True,
        np.zeros(2, np.int64),
        np.full(2, NEVER_BARS_SINCE, np.int64),
    )
    assert out.dtype == np.int8 and out.shape == (2, 2)
    assert fp.dtype == np.int64 and fs.dtype == np.int64
    assert out.tolist() == [[1, 0], [0, 0]]
    out, fp, fs = decide_nb(
        np.empty((0, 3)),
        np.array([0.5]),
        3,
        True,
        False,
        False,
        True,
        np.array([-1], np.int64),
        np.array([2], np.int64),
    )
    assert out.shape == (0, 1) and fp.tolist() == [-1] and fs.tolist() == [2]


# --- properties --------------------------------------------------------------------------------


@st.composite
def cases(draw):
    n = draw(st.integers(0, 60))
    raw = draw(
        st.lists(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3), min_size=n, max_size=n)
    )
    probs = np.asarray(raw, dtype=np.float64).reshape(n, 3)
    probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    for i in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=5)):
        if n:
            probs[i, draw(st.integers(0, 2))] = np.nan
    k = draw(st.integers(1, 4))
    thresholds = np.asarray(draw(st.lists(st.floats(0.3, 0.9), min_size=k, max_size=k)))
    flags = tuple(draw(st.booleans()) for _ in range(4))
    sep = draw(st.integers(0, 6))
    init_pos = np.asarray(draw(st.lists(st.integers(-1, 1), min_size=k, max_size=k)), np.int64)
    init_since = np.asarray(
        draw(st.lists(st.sampled_from([0, 1, 2, 5, NEVER_BARS_SINCE]), min_size=k, max_size=k)),
        np.int64,
    )
    return probs, thresholds, sep, flags, init_pos, init_since


def call(probs, thresholds, sep, flags, init_pos, init_since):
    return decide_nb(probs, thresholds, sep, *flags, init_pos, init_since)


@SETTINGS
@given(cases(), st.data())
def test_prefix_property(case, data):
    probs, thresholds, sep, flags, p0, s0 = case
    full, _, _ = call(probs, thresholds, sep, flags, p0, s0)
    k = data.draw(st.integers(0, probs.shape[0]))
    part, _, _ = call(probs[:k].copy(), thresholds, sep, flags, p0, s0)
    assert np.array_equal(part, full[:k])


@SETTINGS
@given(cases())
def test_deterministic(case):
    a = call(*case)
    b = call(*case)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@SETTINGS
@given(cases())
def test_threshold_vector_equals_separate_calls(case):
    probs, thresholds, sep, flags, p0, s0 = case
    out, fp, fs = call(probs, thresholds, sep, flags, p0, s0)
    assert out.shape == (probs.shape[0], thresholds.shape[0])
    for j in range(thresholds.shape[0]):
        o1, f1, s1 = call(probs, thresholds[j : j + 1], sep, flags, p0[j : j + 1], s0[j : j + 1])
        assert np.array_equal(out[:, j], o1[:, 0])
        assert (fp[j], fs[j]) == (f1[0], s1[0])


@SETTINGS
@given(cases(), st.data())
def test_bar_by_bar_stepping_equals_batch(case, data):
    probs, thresholds, sep, flags, p0, s0 = case
    batch, fp, fs = call(probs, thresholds, sep, flags, p0, s0)
    pos, since = p0.copy(), s0.copy()
    for t in range(probs.shape[0]):  # one live bar at a time, carrying the returned state
        row, pos, since = call(probs[t : t + 1].copy(), thresholds, sep, flags, pos, since)
        assert np.array_equal(row[0], batch[t])
    assert np.array_equal(pos, fp) and np.array_equal(since, fs)
    # two chunks with carried state equal the batch too
    k = data.draw(st.integers(0, probs.shape[0]))
    a, pa, sa = call(probs[:k].copy(), thresholds, sep, flags, p0, s0)
    b, _, _ = call(probs[k:].copy(), thresholds, sep, flags, pa, sa)
    assert np.array_equal(np.vstack([a, b]), batch)


@pytest.mark.parametrize("pa", [True, False])
def test_positions_stay_in_range_and_respect_allow_short(pa):
    rng = np.random.default_rng(7)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=500)
    out, _, _ = decide_nb(
        probs,
        np.array([0.4, 0.6]),
        2,
        pa,
        True,
        True,
        False,
        np.zeros(2, np.int64),
        np.full(2, NEVER_BARS_SINCE, np.int64),
    )
    assert set(np.unique(out).tolist()) <= {0, 1}
    out, _, _ = decide_nb(
        probs,
        np.array([0.4, 0.6]),
        2,
        pa,
        True,
        True,
        True,
        np.zeros(2, np.int64),
        np.full(2, NEVER_BARS_SINCE, np.int64),
    )
    assert set(np.unique(out).tolist()) == {-1, 0, 1}
