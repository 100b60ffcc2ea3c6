"""Baselines (SPEC §15): buy-and-hold, flat and random entries on the same bars and costs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import fuzzyvec as fv
from fuzzyvec.backtest.baselines import baselines, baselines_from_result
from fuzzyvec.backtest.significance import random_positions
from fuzzyvec.strategy.config import BacktestConfig

from .test_backtest import random_positions as runs

CFG = BacktestConfig(fees=0.001, slippage=0.0005, sl_stop=0.01)


@pytest.fixture(scope="module")
def bars(btc_5m) -> pl.DataFrame:
    return btc_5m.slice(30_000, 5_000)


@pytest.fixture(scope="module")
def strategy(bars):
    return fv.backtest(bars, runs(bars.height, seed=3), config=CFG, timeframe="5m", symbol="BTCUSDT")


@pytest.fixture(scope="module")
def base(strategy, bars):
    return baselines_from_result(strategy, {"BTCUSDT": bars}, timeframe="5m")["BTCUSDT"]


def test_buy_and_hold_is_a_long_position_with_the_same_costs(base, bars):
    hold = fv.backtest(bars, np.ones(bars.height), config=CFG, timeframe="5m", sl_stop=None)
    s = hold.stats.row(0, named=True)
    assert base.buy_and_hold["total_return"] == pytest.approx(s["total_return"], rel=1e-12)
    assert base.buy_and_hold["trades"] == 1 and base.buy_and_hold["sharpe"] == pytest.approx(s["sharpe"], rel=1e-12)
    assert base.flat == {"total_return": 0.0, "cagr": 0.0, "sharpe": None, "max_drawdown": 0.0, "trades": 0,
                         "exposure": 0.0, "final_equity": 10_000.0}


def test_random_series_copy_the_strategys_activity(base, strategy, bars):
    s = strategy.stats.row(0, named=True)
    r = base.random
    assert r["trades"] == s["trades"] and r["exposure"] == pytest.approx(s["exposure"])
    longs = int((strategy.trades["direction"] == "long").sum())
    assert r["long_share"] == pytest.approx(longs / strategy.trades.height)
    # the series themselves: simulated, each has the strategy's trade count (stops only end runs early)
    pos = random_positions(bars.height, n_series=50, trades=r["trades"], exposure=r["exposure"],
                           long_share=r["long_share"], seed=r["seed"])
    one = fv.backtest(bars, pos[:, 7], config=CFG, timeframe="5m")
    assert one.stats["trades"][0] == s["trades"]


def test_p_value_and_percentile_place_the_strategy_among_random_entries(bars, base):
    kw = {"config": CFG, "trades": base.random["trades"], "exposure": base.random["exposure"],
          "long_share": base.random["long_share"], "n_random": 200, "timeframe": "5m"}
    great = baselines(bars, strategy_return=10.0, strategy_sharpe=50.0, **kw).random
    awful = baselines(bars, strategy_return=-0.99, strategy_sharpe=-50.0, **kw).random
    assert great["p_value"]["total_return"] == pytest.approx(1 / 201) and great["percentile"]["total_return"] == 100
    assert awful["p_value"]["total_return"] == 1.0 and awful["percentile"]["total_return"] == 0
    q = base.random["total_return"]
    assert q["p5"] <= q["median"] <= q["p95"]
    # the same seed gives the same baseline
    again = baselines(bars, strategy_return=10.0, strategy_sharpe=50.0, **kw).random
    assert again == great


def test_the_band_spans_the_random_series(base, bars):
    band = base.band
    assert band.height == 400 and band["timestamp"][0] == bars["timestamp"][0]
    assert band["timestamp"][-1] == bars["timestamp"][-1]
    assert (band["p5"] <= band["median"]).all() and (band["median"] <= band["p95"]).all()
    assert band["p5"][0] == band["p95"][0] == 10_000.0  # every series starts flat


def test_prediction_backtests_carry_baselines(bars):
    probs = np.random.default_rng(1).dirichlet([1, 1, 1], bars.height)
    preds = fv.predictions_from_probs(bars, probs, stop_loss=0.01, take_profit=0.02)
    res = fv.backtest_predictions(bars, preds, signal_threshold=0.5, fees=0.001)
    out = res.to_json()
    assert set(out["baselines"]) == {"buy_and_hold", "flat", "random"}
    assert out["baselines"]["random"]["trades"] == res.stats["trades"] > 0
    btc = fv.backtest_predictions(bars, preds, signal_threshold=0.5, share_class="BTC", n_random=50)
    # in base-asset units, buy-and-hold of the asset itself is flat up to the costs
    assert abs(btc.baselines.buy_and_hold["total_return"]) < 0.01
    assert fv.backtest_predictions(bars, preds, n_random=0).baselines is None
