"""Honest-evaluation statistics (SPEC §15): DSR, PBO by CSCV, stationary bootstrap, random entries.

Each statistic is checked against a plain-Python transcription of its paper's formula, against
the numerical example of the deflated-Sharpe paper, and on simulated trials whose answer is
known (i.i.d. noise: PBO ≈ 0.5, nothing significant; one real drift: PBO ≈ 0, DSR ≈ 1).
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzyvec.backtest import significance as sg

# ---------------------------------------------------------------------------------------------
# plain-Python references (no numpy in the formulas, no scipy)
# ---------------------------------------------------------------------------------------------


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _moments(xs: list[float]) -> tuple[float, int, float, float]:
    n = len(xs)
    mu = sum(xs) / n
    m2 = sum((x - mu) ** 2 for x in xs) / n
    m3 = sum((x - mu) ** 3 for x in xs) / n
    m4 = sum((x - mu) ** 4 for x in xs) / n
    return mu / statistics.stdev(xs), n, m3 / m2 ** 1.5, m4 / m2 ** 2


def _psr(sr: float, n: int, g3: float, g4: float, bench: float) -> float:
    # Bailey & López de Prado (2012) eq. 9 / (2014) eq. 2, transcribed
    return _phi((sr - bench) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))


def _sr0(n_trials: int, var: float) -> float:
    g = 0.5772156649015329
    inv = statistics.NormalDist().inv_cdf
    return math.sqrt(var) * ((1 - g) * inv(1 - 1 / n_trials) + g * inv(1 - 1 / (n_trials * math.e)))


def _sharpe_or_ninf(xs: list[float]) -> float:
    if len(xs) < 2 or statistics.pvariance(xs) == 0:
        return -math.inf
    return statistics.mean(xs) / statistics.stdev(xs)


def _pbo_reference(returns: np.ndarray, blocks: int) -> tuple[float, list[float]]:
    """CSCV (Bailey et al. 2015, section 2.2) on the matrix itself, in plain Python."""
    cols = [list(map(float, returns[:, j])) for j in range(returns.shape[1])]
    split = np.array_split(np.arange(returns.shape[0]), blocks)
    n = len(cols)
    logits = []
    for is_blocks in itertools.combinations(range(blocks), blocks // 2):
        is_rows = [i for b in is_blocks for i in split[b]]
        oos_rows = [i for b in range(blocks) if b not in is_blocks for i in split[b]]
        is_sr = [_sharpe_or_ninf([c[i] for i in is_rows]) for c in cols]
        oos_sr = [_sharpe_or_ninf([c[i] for i in oos_rows]) for c in cols]
        best = is_sr.index(max(is_sr))  # first of the best
        worse = sum(1 for t in range(n) if t != best and oos_sr[t] < oos_sr[best])
        tied = sum(1 for t in range(n) if t != best and oos_sr[t] == oos_sr[best])
        w = (1 + worse + tied / 2) / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return sum(lam <= 0 for lam in logits) / len(logits), logits


# ---------------------------------------------------------------------------------------------
# deflated Sharpe ratio
# ---------------------------------------------------------------------------------------------


def test_the_papers_numerical_example():
    # Bailey & López de Prado (2014), "a numerical example": N = 100 trials, V = 1/2 (annualised),
    # SR = 2.5 (annualised), T = 1250 daily returns, skew -3, kurtosis 10 -> SR0 = 0.1132, DSR = 0.9004
    sr0 = sg.expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = sg.probabilistic_sharpe(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


@pytest.mark.parametrize(("sr", "n", "g3", "g4", "bench"), [
    (0.05, 500, 0.0, 3.0, 0.0), (0.1, 250, -1.2, 7.5, 0.02), (-0.03, 1000, 0.4, 4.0, 0.01),
    (0.2, 60, -2.0, 12.0, 0.15),
])
def test_psr_equals_the_formula(sr, n, g3, g4, bench):
    assert sg.probabilistic_sharpe(sr, n, g3, g4, bench) == pytest.approx(_psr(sr, n, g3, g4, bench), abs=1e-12)


@pytest.mark.parametrize(("n_trials", "var"), [(2, 0.01), (10, 0.002), (1000, 1e-4), (12_870, 3e-3)])
def test_expected_max_sharpe_equals_the_formula(n_trials, var):
    assert sg.expected_max_sharpe(n_trials, var) == pytest.approx(_sr0(n_trials, var), rel=1e-12)


def test_expected_max_sharpe_edges_and_growth():
    assert sg.expected_max_sharpe(1, 0.5) == 0.0  # no selection
    assert sg.expected_max_sharpe(50, 0.0) == 0.0
    values = [sg.expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values) and values[0] > 0
    with pytest.raises(ValueError, match="n_trials"):
        sg.expected_max_sharpe(0, 1.0)
    with pytest.raises(ValueError, match="variance"):
        sg.expected_max_sharpe(10, -1.0)


def test_return_moments_and_deflated_sharpe_of_a_series_equal_the_formulas():
    rng = np.random.default_rng(3)
    r = rng.standard_t(5, 400) * 0.01 + 0.002
    sr, n, g3, g4 = _moments(list(map(float, r)))
    got = sg.return_moments(r)
    assert got[1] == n and got[0] == pytest.approx(sr, rel=1e-12)
    assert got[2] == pytest.approx(g3, rel=1e-10) and got[3] == pytest.approx(g4, rel=1e-10)
    assert sg.deflated_sharpe(r, 20, 0.004) == pytest.approx(_psr(sr, n, g3, g4, _sr0(20, 0.004)), abs=1e-12)
    m = sg.return_moments(np.column_stack([r, -r]))  # columns of a matrix: one value each
    assert m[0] == pytest.approx([sr, -sr]) and m[2] == pytest.approx([g3, -g3]) and list(m[1]) == [n, n]


def test_zero_variance_series_has_no_sharpe():
    sr, n, g3, g4 = sg.return_moments(np.zeros(50))
    assert math.isnan(sr) and math.isnan(g3) and math.isnan(g4) and n == 50
    assert math.isnan(sg.deflated_sharpe(np.zeros(50), 10, 0.01))
    with pytest.raises(ValueError, match="finite"):
        sg.return_moments(np.array([0.1, np.nan, 0.2]))


def test_deflated_sharpe_from_moments_vectorised():
    rng = np.random.default_rng(5)
    sharpe = rng.normal(0, 0.03, 200)
    skew = rng.normal(0, 0.5, 200)
    kurt = 3 + rng.gamma(2.0, 1.0, 200)
    n_obs = 1500
    dsr = sg.deflated_sharpe_from_moments(sharpe, n_obs, skew, kurt)
    sr0 = _sr0(200, statistics.variance(map(float, sharpe)))  # defaults: N and V of the trials
    ref = [_psr(float(a), n_obs, float(b), float(c), sr0) for a, b, c in zip(sharpe, skew, kurt, strict=True)]
    assert dsr.shape == (200,) and dsr == pytest.approx(ref, abs=1e-12)
    explicit = sg.deflated_sharpe_from_moments(sharpe, n_obs, skew, kurt, 500, 0.002)
    assert explicit[7] == pytest.approx(_psr(sharpe[7], n_obs, skew[7], kurt[7], _sr0(500, 0.002)), abs=1e-12)
    # NaN moments (an undefined trial) give NaN, and do not count as trials by default
    sharpe[3] = np.nan
    out = sg.deflated_sharpe_from_moments(sharpe, n_obs, skew, kurt)
    assert math.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


# ---------------------------------------------------------------------------------------------
# PBO by CSCV
# ---------------------------------------------------------------------------------------------


def test_the_six_combinations_of_four_blocks_by_hand():
    rng = np.random.default_rng(11)
    r = rng.normal(0, 0.01, (14, 4))  # 14 bars -> blocks of 4, 4, 3, 3 bars
    r[:, 2] += np.linspace(0.004, -0.004, 14)  # a trial that is good early and bad late
    res = sg.pbo(r, blocks=4)
    ref_pbo, ref_logits = _pbo_reference(r, 4)
    assert res.n_combinations == 6 and res.n_trials == 4 and res.blocks == 4
    assert res.logits == pytest.approx(ref_logits, abs=1e-12)
    assert res.pbo == pytest.approx(ref_pbo)
    # the IS halves are the combinations in itertools order: {0,1}, {0,2}, {0,3}, {1,2}, {1,3}, {2,3}
    first_half = r[:8]
    assert res.best_trial[0] == int(np.argmax(first_half.mean(0) / first_half.std(0, ddof=1)))
    assert res.is_sharpe[0] == pytest.approx(np.max(first_half.mean(0) / first_half.std(0, ddof=1)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pbo_equals_the_plain_python_cscv(seed):
    r = np.random.default_rng(seed).normal(0.0005, 0.01, (60, 7))
    res = sg.pbo(r, blocks=6)
    ref_pbo, ref_logits = _pbo_reference(r, 6)
    assert res.n_combinations == math.comb(6, 3)
    assert res.logits == pytest.approx(ref_logits, abs=1e-10) and res.pbo == ref_pbo


def test_pbo_of_returns_equals_pbo_of_their_block_stats():
    r = np.random.default_rng(4).normal(0, 0.01, (1003, 30))
    direct = sg.pbo(r, blocks=8)
    count, s1, s2 = sg.block_stats(r, blocks=8)
    assert count.shape == (8,) and s1.shape == (30, 8) and s2.shape == (30, 8)
    assert count.sum() == 1003 and list(count[:3]) == [126, 126, 126] and count[-1] == 125
    assert s1.sum(axis=1) == pytest.approx(r.sum(axis=0)) and s2.sum(axis=1) == pytest.approx((r * r).sum(axis=0))
    via = sg.pbo_from_block_stats(count, s1, s2)
    assert np.array_equal(direct.logits, via.logits) and direct.pbo == via.pbo
    # one series: (blocks,) statistics
    _, a1, b1 = sg.block_stats(r[:, 0], blocks=8)
    assert a1.shape == (8,) and a1 == pytest.approx(s1[0]) and b1 == pytest.approx(s2[0])


def test_iid_trials_overfit_half_the_time_and_none_is_significant():
    pbos = []
    for seed in range(8):
        r = np.random.default_rng(seed).normal(0, 0.01, (1000, 50))
        pbos.append(sg.pbo(r, blocks=16).pbo)
        sr, n, g3, g4 = sg.return_moments(r)
        dsr = sg.deflated_sharpe_from_moments(sr, n, g3, g4)
        assert dsr.max() < 0.95  # the winner of 50 noise trials is not significant after deflation
        best = int(np.argmax(sr))
        assert sg.deflated_sharpe(r[:, best], 50, float(np.var(sr, ddof=1))) == pytest.approx(dsr[best])
    assert 0.35 <= float(np.mean(pbos)) <= 0.65, pbos


def test_one_real_drift_is_not_overfit_and_its_dsr_is_near_one():
    rng = np.random.default_rng(9)
    r = rng.normal(0, 0.01, (2000, 50))
    r[:, 17] += 0.002  # a true per-bar Sharpe of 0.2
    res = sg.pbo(r, blocks=16)
    assert res.pbo < 0.1 and (res.best_trial == 17).mean() > 0.95
    sr, n, g3, g4 = sg.return_moments(r)
    dsr = sg.deflated_sharpe_from_moments(sr, n, g3, g4)
    assert dsr[17] > 0.99 and np.argmax(dsr) == 17 and np.delete(dsr, 17).max() < 0.95


def test_overfit_trials_get_a_high_pbo():
    # every trial is good in its own two blocks and pays it back elsewhere: the IS winner is the
    # trial whose good blocks happen to be IS, so it is bad OOS
    rng = np.random.default_rng(2)
    bars, blocks = 800, 8
    r = rng.normal(0, 0.01, (bars, 28))
    size = bars // blocks
    for j, (a, b) in enumerate(itertools.combinations(range(blocks), 2)):
        for blk in range(blocks):
            r[blk * size:(blk + 1) * size, j] += 0.003 if blk in (a, b) else -0.001
    assert sg.pbo(r, blocks=blocks).pbo > 0.9


def test_zero_variance_trials_are_never_best_and_rank_last():
    rng = np.random.default_rng(1)
    r = rng.normal(-0.003, 0.01, (400, 3))  # defined but negative Sharpe everywhere
    r = np.column_stack([np.zeros(400), r, np.full(400, 0.001)])  # flat trial first, constant trial last
    res = sg.pbo(r, blocks=8)
    assert not np.isin(res.best_trial, [0, 4]).any()  # -inf is never the IS best
    ref_pbo, ref_logits = _pbo_reference(r, 8)
    assert res.logits == pytest.approx(ref_logits) and res.pbo == ref_pbo
    # when every trial is undefined the first is "best", tied with all others in the middle rank
    flat = sg.pbo(np.zeros((64, 3)), blocks=4)
    assert (flat.best_trial == 0).all() and flat.logits == pytest.approx(0.0) and flat.pbo == 1.0
    assert np.isneginf(flat.is_sharpe).all()


def test_pbo_argument_checks():
    r = np.zeros((100, 3))
    with pytest.raises(ValueError, match="even"):
        sg.pbo(r, blocks=5)
    with pytest.raises(ValueError, match="cannot be split"):
        sg.pbo(np.zeros((10, 3)), blocks=16)
    with pytest.raises(ValueError, match="at least 2 trials"):
        sg.pbo(np.zeros((100, 1)), blocks=4)
    with pytest.raises(ValueError, match="matrix"):
        sg.pbo(np.zeros(100), blocks=4)
    with pytest.raises(ValueError, match="finite"):
        sg.block_stats(np.array([[0.1, np.inf]] * 8), blocks=4)
    with pytest.raises(ValueError, match="shape"):
        sg.pbo_from_block_stats(np.ones(4), np.zeros((3, 4)), np.zeros((3, 5)))
    assert set(sg.pbo(np.random.default_rng(0).normal(size=(40, 3)), blocks=4).to_json()) >= {"pbo", "n_combinations"}


# ---------------------------------------------------------------------------------------------
# stationary bootstrap
# ---------------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic():
    r = np.random.default_rng(0).normal(0.0002, 0.01, 5000)
    total = float(np.prod(1 + r) - 1)
    sharpe = float(r.mean() / r.std(ddof=1))
    both = sg.bootstrap_intervals(r, seed=3)
    assert both["total_return"][0] < total < both["total_return"][1]
    assert both["sharpe"][0] < sharpe < both["sharpe"][1]
    assert sg.bootstrap_interval(r, stat="sharpe", seed=3) == both["sharpe"]
    assert sg.bootstrap_interval(r, seed=3) == both["total_return"]
    assert sg.bootstrap_intervals(r, seed=3) == both  # same seed, same interval
    assert sg.bootstrap_intervals(r, seed=4) != both
    ann = sg.bootstrap_interval(r, stat="sharpe", seed=3, ann_factor=8760)
    assert ann == pytest.approx(tuple(x * math.sqrt(8760) for x in both["sharpe"]))
    narrow = sg.bootstrap_interval(r, stat="sharpe", seed=3, alpha=0.5)
    assert both["sharpe"][0] < narrow[0] < narrow[1] < both["sharpe"][1]


def test_bootstrap_covers_the_true_sharpe_about_95_percent():
    mu, sigma, n = 0.001, 0.01, 250  # true per-bar Sharpe 0.1
    rng = np.random.default_rng(42)
    hits = 0
    reps = 200
    for i in range(reps):
        lo, hi = sg.bootstrap_interval(rng.normal(mu, sigma, n), stat="sharpe", n_boot=400, seed=i)
        hits += lo <= mu / sigma <= hi
    assert 0.88 <= hits / reps <= 0.99, hits


def test_blocks_keep_serial_dependence():
    # positively autocorrelated returns: blocks preserve the dependence, so the interval is wider
    # than the i.i.d. bootstrap's (mean block 1)
    rng = np.random.default_rng(7)
    e = rng.normal(0, 0.01, 4000)
    r = np.empty_like(e)
    r[0] = e[0]
    for t in range(1, len(e)):
        r[t] = 0.6 * r[t - 1] + e[t]
    lo1, hi1 = sg.bootstrap_interval(r, stat="sharpe", mean_block=1, seed=0)
    lo2, hi2 = sg.bootstrap_interval(r, stat="sharpe", mean_block=40, seed=0)
    assert (hi2 - lo2) > 1.5 * (hi1 - lo1)


def test_bootstrap_edges():
    flat = sg.bootstrap_intervals(np.zeros(100))
    assert flat["total_return"] == (0.0, 0.0) and all(math.isnan(x) for x in flat["sharpe"])
    wiped = sg.bootstrap_interval(np.array([0.1, -1.0, 0.1, 0.2] * 5), mean_block=100, seed=0)
    assert wiped[0] == -1.0
    with pytest.raises(ValueError, match="stat"):
        sg.bootstrap_interval(np.ones(10), stat="sortino")
    with pytest.raises(ValueError, match="mean_block"):
        sg.bootstrap_interval(np.ones(10), mean_block=0.5)
    with pytest.raises(ValueError, match="alpha"):
        sg.bootstrap_intervals(np.ones(10), alpha=1.5)
    with pytest.raises(ValueError, match="one series"):
        sg.bootstrap_intervals(np.ones((10, 2)))


# ---------------------------------------------------------------------------------------------
# random entries
# ---------------------------------------------------------------------------------------------


def _runs(col: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, length, side) of every maximal run of one non-zero value."""
    out, t = [], 0
    while t < len(col):
        if col[t] != 0:
            s = t
            while t < len(col) and col[t] == col[s]:
                t += 1
            out.append((s, t - s, int(col[s])))
        else:
            t += 1
    return out


def _check_activity(pos: np.ndarray, k: int, exposed: int, longs: int) -> None:
    assert pos.dtype == np.int8 and set(np.unique(pos)) <= {-1, 0, 1}
    assert not pos[-1].any()  # the last bar is flat
    for j in range(pos.shape[1]):
        runs = _runs(pos[:, j])
        assert len(runs) == k
        assert sum(r[1] for r in runs) == exposed == np.count_nonzero(pos[:, j])
        assert sum(r[2] == 1 for r in runs) == longs
        # runs never touch: a reversal would be two trades glued together
        assert all(a[0] + a[1] < b[0] for a, b in itertools.pairwise(runs))


@pytest.mark.parametrize(("n_bars", "trades", "exposure", "long_share"), [
    (1000, 20, 0.3, 0.5), (500, 1, 0.5, 1.0), (500, 7, 0.02, 0.0), (300, 50, 0.6, 0.3), (101, 50, 0.5, 0.5),
])
def test_random_positions_have_the_strategys_activity(n_bars, trades, exposure, long_share):
    pos = sg.random_positions(n_bars, n_series=40, trades=trades, exposure=exposure, long_share=long_share, seed=1)
    assert pos.shape == (n_bars, 40)
    _check_activity(pos, trades, round(exposure * n_bars), round(long_share * trades))


@settings(max_examples=60, deadline=None)
@given(n_bars=st.integers(2, 400), trades=st.integers(0, 250), exposure=st.floats(0, 1),
       long_share=st.floats(0, 1), seed=st.integers(0, 2**31 - 1))
def test_random_positions_property(n_bars, trades, exposure, long_share, seed):
    pos = sg.random_positions(n_bars, n_series=5, trades=trades, exposure=exposure, long_share=long_share, seed=seed)
    k = min(trades, n_bars // 2)  # as close as fits: K trades need K bars and K - 1 gaps before the last bar
    if k == 0:
        assert not pos.any()
        return
    exposed = min(max(round(exposure * n_bars), k), n_bars - k)
    _check_activity(pos, k, exposed, round(long_share * k))
    if k == trades and round(exposure * n_bars) >= trades and round(exposure * n_bars) <= n_bars - trades:
        assert exposed == round(exposure * n_bars)  # exact whenever it fits


def test_random_positions_are_random_and_seeded():
    a = sg.random_positions(2000, n_series=300, trades=10, exposure=0.25, long_share=0.5, seed=5)
    assert np.array_equal(a, sg.random_positions(2000, n_series=300, trades=10, exposure=0.25, long_share=0.5, seed=5))
    assert not np.array_equal(a, sg.random_positions(2000, n_series=300, trades=10, exposure=0.25, long_share=0.5,
                                                     seed=6))
    first_entry = np.argmax(a != 0, axis=0)
    assert len(np.unique(first_entry)) > 120 and first_entry.std() > 50  # random bars, not a fixed grid
    # every bar of the middle is in a position about as often as exposure / bars says
    occupancy = (a[200:1800] != 0).mean()
    assert occupancy == pytest.approx(0.25, abs=0.03)
    # sides are shuffled among the runs: the first run is long about half the time
    first_side = a[first_entry, np.arange(300)]
    assert 0.35 < (first_side == 1).mean() < 0.65


def test_random_positions_edges():
    assert not sg.random_positions(100, n_series=3, trades=0, exposure=0.5, long_share=0.5).any()
    assert sg.random_positions(100, n_series=0, trades=5, exposure=0.5, long_share=0.5).shape == (100, 0)
    assert not sg.random_positions(1, n_series=2, trades=3, exposure=1.0, long_share=0.5).any()
    one = sg.random_positions(100, n_series=4, trades=3, exposure=0.0, long_share=1.0)  # each trade >= 1 bar
    _check_activity(one, 3, 3, 3)
    with pytest.raises(ValueError, match="exposure"):
        sg.random_positions(100, trades=3, exposure=1.5, long_share=0.5)
    with pytest.raises(ValueError, match="long_share"):
        sg.random_positions(100, trades=3, exposure=0.5, long_share=-0.1)
    with pytest.raises(ValueError, match="trades"):
        sg.random_positions(100, trades=-1, exposure=0.5, long_share=0.5)


# ---------------------------------------------------------------------------------------------
# p-values and percentiles
# ---------------------------------------------------------------------------------------------


def test_baseline_pvalue():
    samples = np.array([0.1, 0.2, 0.3, 0.4])
    assert sg.baseline_pvalue(0.5, samples) == pytest.approx(1 / 5)  # better than all: the floor 1/(N+1)
    assert sg.baseline_pvalue(0.0, samples) == 1.0  # worse than all
    assert sg.baseline_pvalue(0.3, samples) == pytest.approx(3 / 5)  # ties count as "at least as good"
    assert sg.baseline_pvalue(0.25, [0.1, np.nan, 0.3]) == pytest.approx(2 / 3)  # NaN dropped
    assert sg.baseline_pvalue(0.25, []) == 1.0
    assert math.isnan(sg.baseline_pvalue(float("nan"), samples))
    # under the null (the strategy is one more draw) p is uniform: P(p <= 0.05) ~ 0.05
    rng = np.random.default_rng(0)
    ps = [sg.baseline_pvalue(rng.normal(), rng.normal(size=99)) for _ in range(2000)]
    assert np.mean(np.array(ps) <= 0.05) == pytest.approx(0.05, abs=0.015)


def test_percentile_of():
    samples = [1.0, 2.0, 3.0, 4.0]
    assert sg.percentile_of(5.0, samples) == 100.0 and sg.percentile_of(0.0, samples) == 0.0
    assert sg.percentile_of(2.0, samples) == pytest.approx(37.5)  # one below, one tie (half)
    assert sg.percentile_of(2.5, [*samples, np.nan]) == pytest.approx(50.0)
    assert math.isnan(sg.percentile_of(1.0, [])) and math.isnan(sg.percentile_of(float("nan"), samples))
