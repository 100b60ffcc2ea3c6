"""Warm-up (recursive) check: bars until values stop depending on where the data starts."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import yaml

import fuzzyvec as fv
from fuzzyvec.features.warmup import convergence_bars, warmup_check, warmup_warnings
from fuzzyvec.strategy.load import strategy_from_dict

from .conftest import STRATEGIES_DIR


def _spec(ind: dict, hist: int) -> fv.Strategy:
    d = yaml.safe_load((STRATEGIES_DIR / "v3_e2e_test.yaml").read_text())
    d["indicators"] = {"x": ind}
    d["fuzzy_sets"] = {"x": {"indicator": "x", "low": [0, 1, 2]}}
    d["nn_inputs"] = [{"fuzzy_set": "x", "timeframes": "all"}]
    d["training_data"]["history_required"] = hist
    return strategy_from_dict(d)


def test_convergence_bars_basic():
    full = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert convergence_bars(full, full.copy(), tolerance=1e-9, scale=1.0) == 0
    part = np.array([np.nan, 2.5, 3.01, 4.0, 5.0])
    assert convergence_bars(full, part, tolerance=1e-9, scale=1.0) == 3
    part = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    assert convergence_bars(full, part, tolerance=1e-9, scale=1.0) is None


def test_window_indicator_needs_only_its_lookback(eurusd_1h):
    spec = _spec({"type": "sma", "period": 30}, 0)
    (row,) = warmup_check(spec, {"EURUSD": {"1h": eurusd_1h}})
    assert row["lookback"] == 29 and row["warmup_bars"] == 29
    assert not row["ok"] and "raise history_required to at least 29" in warmup_warnings([row])[0]


def test_ema_warmup_matches_geometric_decay(eurusd_1h):
    """An EMA's start effect decays like (1 - alpha)^k: about log(tol)/log(1 - alpha) bars."""
    period = 20
    spec = _spec({"type": "ema", "period": period}, 1000)
    (row,) = warmup_check(spec, {"EURUSD": {"1h": eurusd_1h}}, tolerance=1e-6)
    alpha = 2 / (period + 1)
    expected = math.log(1e-6) / math.log(1 - alpha)  # ~138 bars, plus the seed window
    assert expected * 0.5 < row["warmup_bars"] < expected * 1.5 + period
    assert row["ok"]


def test_rsi_needs_more_than_its_lookback(eurusd_1h):
    spec = _spec({"type": "rsi", "period": 14}, 50)
    (row,) = warmup_check(spec, {"EURUSD": {"1h": eurusd_1h}})
    assert row["warmup_bars"] > 100 > row["lookback"]
    assert warmup_warnings([row])


def test_only_used_indicators_are_checked(btc_5m):
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    bars = btc_5m.filter(pl.col("timestamp") < pl.datetime(2023, 3, 1, time_zone="UTC"))
    data = {"BTCUSDT": {"5m": bars, "1h": fv.resample(bars, "1h", base_timeframe="5m")}}
    rows = warmup_check(spec, data)
    assert [(r["indicator"], r["timeframe"]) for r in rows] == [
        ("rsi_14", "5m"), ("rsi_14", "1h"), ("bbwidth_20_2", "5m"), ("macd_12_26_9.histogram", "1h")]
