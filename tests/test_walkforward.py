"""Walk-forward: fold layout, no fold's model sees its test bars, stitched out-of-sample equity."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

import fuzzyvec as fv
from fuzzyvec.research.walkforward import make_folds, run_fold, walk_forward
from fuzzyvec.strategy.config import WalkForward

from .conftest import STRATEGIES_DIR
from .test_cli import run_cli

EXAMPLE = STRATEGIES_DIR / "v3_test_example.yaml"


def test_fold_layout():
    ts = pl.datetime_range(pl.datetime(2023, 1, 1, time_zone="UTC"), pl.datetime(2023, 1, 1, 8, 15, time_zone="UTC"),
                           "5m", eager=True)  # 100 bars
    folds = make_folds(ts, WalkForward(train_bars=40, test_bars=20))
    assert [(f.train_bars, f.test_bars) for f in folds] == [(40, 20), (40, 20), (40, 20)]
    assert folds[0].train_start == ts[0] and folds[0].train_end == ts[39] and folds[0].test_start == ts[40]
    assert folds[1].train_start == ts[20] and folds[2].test_end == ts[99]
    overlapping = make_folds(ts, WalkForward(train_bars=40, test_bars=30, step_bars=10))
    assert len(overlapping) == 6 and overlapping[-1].test_bars == 10
    with pytest.raises(fv.DataError, match="walk-forward needs more than"):
        make_folds(ts, WalkForward(train_bars=99, test_bars=5))


@pytest.fixture(scope="module")
def btc_slice(btc_5m):
    bars = btc_5m.filter((pl.col("timestamp") >= pl.datetime(2023, 3, 1, time_zone="UTC"))
                         & (pl.col("timestamp") < pl.datetime(2023, 4, 10, time_zone="UTC")))
    return {"BTCUSDT": {"5m": bars, "1h": fv.resample(bars, "1h", base_timeframe="5m")}}


@pytest.fixture(scope="module")
def result(btc_slice):
    spec = fv.load_strategy(EXAMPLE)
    return walk_forward(spec, btc_slice, train_bars=6000, test_bars=1500)


def test_walk_forward_runs_folds(result):
    assert len(result.folds) == 4
    assert result.table.height == 4
    assert set(result.table.columns) >= {"fold", "test_start", "total_return", "sharpe", "trades"}
    oos = result.metrics["out_of_sample"]["BTCUSDT"]
    assert oos["bars"] == result.equity.height == sum(r.fold.test_bars for r in result.folds)


def test_no_fold_model_saw_its_test_bars(result):
    for r in result.folds:
        files = r.bundle.metadata["data_fingerprint"]["files"]
        for info in files.values():
            last = pl.Series([info["last"]]).str.to_datetime(time_zone="UTC")[0]
            assert last < r.fold.test_start, (r.fold.index, info)
        # the test window starts after every labelled training row
        for split in ("train", "validation"):
            end = r.bundle.metadata["date_ranges"][split]["end"]
            assert end is None or pl.Series([end]).str.to_datetime(time_zone="UTC")[0] < r.fold.test_start


def test_changing_test_bars_does_not_change_the_fold_model(result, btc_slice):
    """Scramble every bar after fold 0's training window: fold 0's model is bit-identical."""
    spec = fv.load_strategy(EXAMPLE)
    fold = result.folds[0].fold
    rng = np.random.default_rng(0)

    def scramble(df: pl.DataFrame) -> pl.DataFrame:
        after = (df["timestamp"] > fold.train_end).to_numpy()
        f = np.where(after, rng.uniform(0.8, 1.2, df.height), 1.0)
        return df.with_columns([(pl.col(c) * f).alias(c) for c in ("open", "high", "low", "close")])

    base = scramble(btc_slice["BTCUSDT"]["5m"])
    data = {"BTCUSDT": {"5m": base, "1h": fv.resample(base, "1h", base_timeframe="5m")}}
    again = run_fold(spec, data, fold)
    a, b = result.folds[0].bundle.state_dict, again.bundle.state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_equity_is_stitched_by_compounding(result):
    eq = result.equity
    init = 10_000.0
    level = init
    for r in result.folds:
        seg = eq.filter(pl.col("fold") == r.fold.index)["BTCUSDT"].to_numpy()
        own = r.equity["BTCUSDT"].to_numpy()
        np.testing.assert_allclose(seg, own * level / init, rtol=1e-12)
        level = seg[-1]
    assert result.metrics["out_of_sample"]["BTCUSDT"]["final_equity"] == pytest.approx(level)


def test_walk_forward_needs_windows():
    with pytest.raises(fv.StrategyError, match="--train-bars and --test-bars"):
        walk_forward(fv.load_strategy(EXAMPLE), {}, train_bars=100)


def test_walk_forward_cli(tmp_path):
    r = run_cli("walk-forward", str(EXAMPLE), "--start", "2023-03-01", "--end", "2023-03-25",
                "--train-bars", "4000", "--test-bars", "1500", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["folds"]) == out["fold_count"] >= 2
    assert "BTCUSDT" in out["out_of_sample"]
    (run,) = list(tmp_path.iterdir())
    for f in ("folds.csv", "equity.csv", "equity.html", "metrics.json", "fold_0/bundle/model.pt"):
        assert (run / f).exists(), f
    assert set(out["baselines"]["BTCUSDT"]) == {"buy_and_hold", "flat", "random"}
    lo, hi = out["bootstrap"]["BTCUSDT"]["total_return"]
    assert lo <= out["out_of_sample"]["BTCUSDT"]["total_return"] <= hi
    assert "random entries, 5-95 %" in (run / "equity.html").read_text()


def test_out_of_sample_uncertainty_and_baselines(result):
    m = result.metrics
    for key in ("total_return", "sharpe"):
        lo, hi = m["bootstrap"]["BTCUSDT"][key]
        assert lo < hi
        point = m["out_of_sample"]["BTCUSDT"][key]
        assert lo <= point <= hi, (key, lo, point, hi)
    base = m["baselines"]["BTCUSDT"]
    total_trades = sum(r.trades.height for r in result.folds)
    assert base["random"]["trades"] == total_trades
    assert base["random"]["n_series"] == 1000
    # the baselines run on exactly the stitched out-of-sample bars
    assert result.baselines["BTCUSDT"].band["timestamp"][0] == result.equity["timestamp"][0]
    assert result.baselines["BTCUSDT"].band["timestamp"][-1] == result.equity["timestamp"][-1]
    assert m["warnings"] == [w for w in m["warnings"] if "0 trades" in w]
