"""price_model.py: seeded training, ONNX parity with torch, the prediction frame (no look-ahead,
denormalised with the last window's min and max) and an end-to-end backtest on BTCUSDT 2023-Q1."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import polars as pl
import pytest
import torch

from fuzzyvec.backtest.predictions import PREDICTION_COLUMNS, backtest_price_model, load_predictions
from fuzzyvec.errors import DataError
from fuzzyvec.model.onnx import IncompatibleModelError, ModelRegistry
from fuzzyvec.model.price import (
    PRICE_FEATURE_NAMES,
    export_price_model,
    price_feature_array,
    price_features,
    price_model_predictions,
    price_windows,
    train_price_model,
)


@pytest.fixture(scope="module")
def q1(btc_5m) -> pl.DataFrame:
    """BTCUSDT 5m, 2023-Q1 (25,904 bars)."""
    return btc_5m.filter(pl.col("timestamp") < pl.datetime(2023, 4, 1, time_zone="UTC"))


@pytest.fixture(scope="module")
def trained(q1):
    """A tiny model trained for 2 epochs on the first 4,000 bars of 2023."""
    return train_price_model(q1.head(4000), epochs=2, seed=7)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("price_models")
    path = export_price_model(trained, folder, "btc_price")
    return path, ModelRegistry(folder).get("btc_price")


@pytest.fixture(scope="module")
def windows(q1):
    arr = price_feature_array(price_features(q1.head(3000)))
    return price_windows(arr, 120)[120:]  # complete windows only


def test_training_is_seeded_and_leaves_the_global_rng_alone(q1, trained):
    bars = q1.head(4000)
    state = torch.get_rng_state()
    again = train_price_model(bars, epochs=2, seed=7)
    assert torch.equal(state, torch.get_rng_state())
    for k, v in trained.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    other = train_price_model(bars, epochs=1, seed=8)
    assert not torch.equal(other.state_dict()["net.1.weight"], trained.state_dict()["net.1.weight"])
    assert len(trained.history) == 2 and trained.history[1] < trained.history[0]
    assert not trained.training and trained.training_info["windows"] == 4000 - 239  # windows ending at bars 238 .. 3998


def test_too_few_bars_is_a_data_error(q1):
    with pytest.raises(DataError, match="no training window"):
        train_price_model(q1.head(200), epochs=1)


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_onnxruntime_equals_torch(exported, trained, windows, batch):
    path, _ = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.array(windows[:batch])  # a writable copy for torch
    got = sess.run(None, {"windows": x})[0]
    with torch.no_grad():
        ref = trained(torch.from_numpy(x)).numpy()
    assert got.shape == (batch,) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_export_metadata(exported):
    path, runner = exported
    meta = json.loads(path.with_name("btc_price_metadata.json").read_text())
    assert meta["sequence_length"] == 120 and meta["feature_count"] == 5
    assert meta["feature_names"] == list(PRICE_FEATURE_NAMES)
    assert meta["price_normalization"] == "rolling_minmax"
    assert meta["normalization_params"]["window"] == 120
    assert meta["inputs"][0]["shape"] == ["batch", 120, 5]
    inp = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0]
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [120, 5]
    assert runner.input_shape == (120, 5)


def test_predictions_format_and_denormalisation(q1, exported, trained):
    _, runner = exported
    bars = q1.head(3000)
    pred = price_model_predictions(bars, runner, threshold=0.0005)
    assert pred.columns == list(PREDICTION_COLUMNS) and pred.height == bars.height - 1
    assert pred["timestamp"].equals(bars["timestamp"][1:])
    load_predictions(pred, bars=bars)  # a valid prediction file for these bars
    # bars 1 .. 239 have no complete window ending at t - 1 (features need 120 bars, windows 120 rows)
    warm = pred.head(238)
    assert (warm["signal"] == "neutral").all() and (warm["confidence"] == 0).all()
    assert pred["signal"][238] != "neutral" or pred["confidence"][238] > 0
    # bar t = 2000 by hand: window of rows 1880..1999, min/max of close over bars 1880..1999
    t = 2000
    arr = price_feature_array(price_features(bars))
    with torch.no_grad():
        p = float(trained(torch.from_numpy(arr[None, t - 120:t])).item())
    close = bars["close"].to_numpy()
    lo, hi = close[t - 120:t].min(), close[t - 120:t].max()
    ret = (lo + p * (hi - lo)) / close[t - 1] - 1
    row = pred.row(t - 1, named=True)
    assert row["confidence"] == pytest.approx(min(1.0, 0.5 * abs(ret) / 0.0005), rel=1e-4)
    expected = "long" if ret > 0.0005 else "short" if ret < -0.0005 else "neutral"
    assert row["signal"] == expected
    acting = pred.filter(pl.col("signal") != "neutral").join(bars, on="timestamp")
    assert acting.height > 0 and (acting["confidence"] > 0.5).all() and (acting["confidence"] <= 1).all()
    d = np.where(acting["signal"].to_numpy() == "long", 1.0, -1.0)
    np.testing.assert_allclose(acting["stop_loss"].to_numpy(), acting["open"].to_numpy() * (1 - 0.02 * d))
    np.testing.assert_allclose(acting["take_profit"].to_numpy(), acting["open"].to_numpy() * (1 + 0.04 * d))


def test_predictions_never_see_the_future(q1, exported):
    _, runner = exported
    bars = q1.head(2500)
    full = price_model_predictions(bars, runner, threshold=0.0005)
    for k in (241, 242, 1000, 2499):
        part = price_model_predictions(bars.head(k), runner, threshold=0.0005)
        assert part.height == k - 1
        assert part.equals(full.head(k - 1)), k


def test_mismatched_extractor_settings_are_refused(q1, exported):
    _, runner = exported
    with pytest.raises(IncompatibleModelError, match="expects sequence_length 120 and feature_count 5, "
                                                     "the extractor produces 60 and 5"):
        price_model_predictions(q1.head(500), runner, sequence_length=60)
    with pytest.raises(ValueError, match="threshold"):
        price_model_predictions(q1.head(500), runner, threshold=0.0)


def test_end_to_end_backtest_on_btcusdt_q1(q1, exported):
    _, runner = exported
    result = backtest_price_model(q1, runner, fees=0.001)
    stats = result.stats
    assert stats["bars"] == q1.height and stats["trades"] == result.trades.height > 0
    assert set(result.trades["direction"].unique()) <= {"long", "short"}
    assert set(result.trades["exit_reason"].unique()) <= {"sl", "tp", "close"}
    assert np.isfinite(stats["final_equity"]) and stats["fees_paid"] > 0
    assert result.equity.height == q1.height
