"""Sweeps (SPEC §7): the grid as columns of ONE engine call, rows equal to single runs."""

from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

import fuzzyvec as fv
from fuzzyvec.backtest.decision import decide
from fuzzyvec.backtest.engine import backtest
from fuzzyvec.backtest.sweep import SWEEP_METRICS, sweep
from fuzzyvec.errors import StrategyError
from fuzzyvec.strategy.config import BacktestConfig, DecisionConfig

N_BARS = 2000
GRID = {
    "confidence_threshold": [0.4, 0.5, 0.6],
    "sl_stop": [None, 0.004],
    "tp_stop": [None, 0.006],
    "fees": [0.0, 0.001],
}
N_COMBOS = 3 * 2 * 2 * 2
DECISIONS = DecisionConfig(reverse_on_opposite=True, allow_short_from_flat=True)
BACKTEST = BacktestConfig(slippage=0.0002, size=0.8)


def synthetic_probs(n: int, seed: int = 5) -> np.ndarray:
    """Slowly drifting class probabilities, so that each threshold trades differently."""
    rng = np.random.default_rng(seed)
    logits = 0.05 * rng.normal(size=(n, 3)).cumsum(axis=0) + rng.normal(size=(n, 3))
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def bars(btc_5m) -> pl.DataFrame:
    return btc_5m.head(N_BARS)


@pytest.fixture(scope="module")
def probs() -> np.ndarray:
    return synthetic_probs(N_BARS)


@pytest.fixture(scope="module")
def result(bars, probs):
    return sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m")


def test_table_has_one_row_per_combination(result):
    t = result.table
    assert t.height == N_COMBOS
    assert t.columns == ["combination", *GRID, *SWEEP_METRICS, "dsr"]
    combos = list(itertools.product(*GRID.values()))
    assert [tuple(r) for r in t.select(list(GRID)).iter_rows()] == combos
    assert t.select(list(GRID)).unique().height == N_COMBOS
    assert t["trades"].min() > 10
    # the thresholds really differ (fewer trades at a higher threshold)
    by_thr = t.group_by("confidence_threshold").agg(pl.col("trades").first()).sort("confidence_threshold")
    assert by_thr["trades"].to_list() == sorted(by_thr["trades"].to_list(), reverse=True)


@pytest.mark.parametrize("row", [0, 7, 13, 22])
def test_a_row_equals_a_separate_backtest(result, bars, probs, row):
    r = result.table.row(row, named=True)
    pos = decide(probs, DECISIONS, confidence_threshold=r["confidence_threshold"])
    single = backtest(bars, pos, config=BACKTEST, timeframe="5m",
                      sl_stop=r["sl_stop"], tp_stop=r["tp_stop"], fees=r["fees"])
    s = single.stats.row(0, named=True)
    for key in SWEEP_METRICS:
        assert r[key] == pytest.approx(s[key], rel=1e-12, nan_ok=True), key
    again = result.backtest(row)  # the combination re-simulated with full records
    np.testing.assert_allclose(again.equity[str(row)].to_numpy(), single.equity["asset"].to_numpy(), rtol=1e-12)
    assert again.trades.drop("symbol").equals(single.trades.drop("symbol"))


def test_every_sweepable_key_is_a_per_column_parameter(bars, probs):
    grid = {"execution": ["next_open", "close"], "size": [0.5, 1.0], "slippage": [0.0, 0.001],
            "init_cash": [1_000.0], "sl_stop": [0.004], "sl_trail": [False, True]}
    bt = BacktestConfig(tp_stop=0.006)
    short = bars.head(600)
    res = sweep(short, probs[:600], DECISIONS, bt, grid, timeframe="5m")
    pos = decide(probs[:600], DECISIONS)
    for r in res.table.iter_rows(named=True):
        params = {k: r[k] for k in grid}
        single = backtest(short, pos, config=bt, timeframe="5m", **params).stats.row(0, named=True)
        for key in ("final_equity", "trades", "sharpe", "fees_paid"):
            assert r[key] == pytest.approx(single[key], rel=1e-12), (params, key)


def test_the_sweep_is_one_kernel_call_without_bar_by_combination_arrays(bars, probs, monkeypatch):
    import fuzzyvec.nb.engine as eng

    calls = []
    original = eng.simulate_nb

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(eng, "simulate_nb", counting)
    res = sweep(bars.head(300), probs[:300], DECISIONS, BACKTEST, GRID, timeframe="5m")
    assert len(calls) == 1 and res.chunks == 1
    signals = calls[0][4]
    assert signals.shape == (300, 3)  # one position column per threshold, not per combination
    assert calls[0][7].shape == (N_COMBOS,)  # N_COMBOS engine columns
    assert calls[0][-4] is False and len(calls[0][-1]) == 0  # no records, no equity: metrics only


def test_keep_top_k_resimulates_the_best_rows_with_records(bars, probs):
    res = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", keep="top:3")
    best = res.table.sort("sharpe", descending=True, nulls_last=True)["combination"].head(3).to_list()
    assert list(res.top) == best
    for comb, bt in res.top.items():
        row = res.table.filter(pl.col("combination") == comb).row(0, named=True)
        assert bt.stats["sharpe"][0] == pytest.approx(row["sharpe"], rel=1e-12)
        assert bt.trades.height >= row["trades"] > 0
        assert bt.portfolio.value().iloc[-1] == pytest.approx(row["final_equity"], rel=1e-12)
    by_dd = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", keep=2, rank_by="max_drawdown")
    assert list(by_dd.top) == by_dd.table.sort("max_drawdown")["combination"].head(2).to_list()
    with pytest.raises(ValueError, match="top:K"):
        sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", keep="best")
    with pytest.raises(ValueError, match="rank_by"):
        sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", rank_by="luck")


def test_heatmap_axes_and_cells(result):
    fig = result.heatmap("confidence_threshold", "sl_stop", metric="sharpe")
    assert isinstance(fig, go.Figure)
    hm = fig.data[0]
    assert list(hm.x) == [0.4, 0.5, 0.6] and list(hm.y) == ["none", 0.004]
    assert fig.layout.xaxis.title.text == "confidence_threshold"
    assert fig.layout.yaxis.title.text == "sl_stop"
    assert "max over tp_stop, fees" in fig.layout.title.text
    z = np.array(hm.z, dtype=float)
    assert z.shape == (2, 3)
    best = result.table.filter((pl.col("confidence_threshold") == 0.5) & pl.col("sl_stop").is_not_null())
    assert z[1, 1] == pytest.approx(best["sharpe"].max())
    with pytest.raises(ValueError, match="grid key"):
        result.heatmap("confidence_threshold", "slippage")


def test_grid_errors():
    bars_ = pl.DataFrame()
    with pytest.raises(StrategyError, match="direction"):
        sweep(bars_, np.zeros((0, 3)), DECISIONS, BACKTEST, {"direction": ["both"]})
    with pytest.raises(StrategyError, match="sl_trail"):
        sweep(bars_, np.zeros((0, 3)), DECISIONS, BACKTEST, {"sl_trail": [True]})


# ---------------------------------------------------------------------------------------------
# overfitting statistics (SPEC §15): the deflated Sharpe ratio and the PBO of a grid
# ---------------------------------------------------------------------------------------------

OVERFIT_GRID = {"confidence_threshold": [0.34, 0.4, 0.5], "sl_stop": [None, 0.004, 0.008], "tp_stop": [None, 0.01]}


def _edge_probs(bars: pl.DataFrame, edge: float, seed: int) -> np.ndarray:
    """Probabilities that know the next bar's direction with some edge (0: pure noise)."""
    rng = np.random.default_rng(seed)
    o = bars["open"].to_numpy()
    up = np.concatenate([o[2:] > o[1:-1], [False, False]])  # decided on t, filled at t+1's open
    logits = rng.normal(size=(bars.height, 3))
    logits[:, 0] += edge * up
    logits[:, 2] += edge * ~up
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def test_planted_edge_is_significant_and_noise_is_not(btc_5m):
    bars = btc_5m.slice(20_000, 6_000)
    dec = DecisionConfig(position_awareness=False, filters={"min_signal_separation": 0})
    cfg = BacktestConfig(fees=0.0, slippage=0.0)
    edge = sweep(bars, _edge_probs(bars, 2.0, 1), dec, cfg, OVERFIT_GRID, timeframe="5m")
    noise = sweep(bars, _edge_probs(bars, 0.0, 1), dec, cfg, OVERFIT_GRID, timeframe="5m")
    best_edge = edge.table.sort("sharpe", descending=True, nulls_last=True).row(0, named=True)
    best_noise = noise.table.sort("sharpe", descending=True, nulls_last=True).row(0, named=True)
    assert best_edge["dsr"] > 0.99
    assert best_noise["dsr"] < 0.95
    assert 0.0 <= noise.pbo.pbo <= 1.0 and noise.pbo.n_combinations == 12_870
    assert edge.pbo.pbo < noise.pbo.pbo


def test_sweep_pbo_equals_pbo_of_the_return_matrix(bars, probs):
    res = sweep(bars, probs, DECISIONS, BACKTEST, OVERFIT_GRID, timeframe="5m")
    m = res.table.height
    returns = np.empty((bars.height, m))
    for j in range(m):  # every combination re-simulated with its equity curve
        eq = res.backtest(j).equity[str(j)].to_numpy()
        returns[:, j] = eq / np.concatenate([[BACKTEST.init_cash], eq[:-1]]) - 1.0
    direct = fv.pbo(returns, blocks=16)
    assert res.pbo.pbo == pytest.approx(direct.pbo, abs=1e-12)
    # the block sums the kernel accumulated are those of the returns (ties between near-identical
    # combinations may resolve differently per split, so the per-split logits are not compared)
    from fuzzyvec.backtest.significance import block_stats

    count, s1, s2 = block_stats(returns, 16)
    np.testing.assert_array_equal(res.block_returns[0, :, 0], count)
    np.testing.assert_allclose(res.block_returns[:, :, 1], s1, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(res.block_returns[:, :, 2], s2, rtol=1e-9, atol=1e-15)
