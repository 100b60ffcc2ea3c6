"""predict.py: columns are picked by name (never by position), NaN rows give NaN probabilities,
multi-symbol frames work, and the result equals the transform → MLP → softmax chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from fuzzyvec.errors import SchemaMismatchError
from fuzzyvec.model.bundle import save_bundle
from fuzzyvec.model.predict import predict_proba

from .test_bundle import make_bundle


def _frame(n: int = 40, seed: int = 0, symbol: str | None = None) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    cols = {
        "timestamp": [start + timedelta(hours=i) for i in range(n)],
        "1h_rsi_fast_low": rng.uniform(size=n),
        "1h_rsi_fast_high": rng.uniform(size=n),
        "1h_rsi_14_raw": rng.normal(50, 10, n),
        "1h_return_1": rng.normal(0, 0.01, n),
        "1h_rsi_14_raw_lag1": rng.normal(50, 10, n),
        "close": rng.normal(100, 1, n),            # not a feature: ignored
    }
    frame = pl.DataFrame(cols)
    if symbol is not None:
        frame = frame.insert_column(1, pl.lit(symbol).alias("symbol"))
    return frame


def _manual(bundle, frame: pl.DataFrame) -> np.ndarray:
    X = frame.select(list(bundle.feature_names)).to_numpy()
    net = bundle.model()
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(bundle.transform.apply(X))).double(), 1).numpy()


def test_probabilities_are_the_transform_model_softmax_chain():
    b = make_bundle()
    frame = _frame()
    p = predict_proba(b, frame)
    assert p.shape == (40, 3) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p, _manual(b, frame), atol=1e-7)
    assert not b.transform.is_identity


def test_shuffled_columns_give_identical_probabilities():
    b = make_bundle()
    frame = _frame()
    cols = frame.columns
    rng = np.random.default_rng(1)
    p = predict_proba(b, frame)
    for _ in range(3):
        shuffled = frame.select([cols[i] for i in rng.permutation(len(cols))])
        assert shuffled.columns != cols
        np.testing.assert_array_equal(predict_proba(b, shuffled), p)
    # positional selection would have given something else
    features = frame.drop("timestamp", "close")
    swapped = features.select(list(reversed(features.columns)))
    positional = swapped.to_numpy()
    with torch.no_grad():
        wrong = torch.softmax(b.model()(torch.from_numpy(b.transform.apply(positional))).double(), 1).numpy()
    assert not np.allclose(wrong, p)


def test_missing_columns_raise_schema_mismatch_naming_them():
    b = make_bundle()
    with pytest.raises(SchemaMismatchError, match="1h_rsi_14_raw_lag1"):
        predict_proba(b, _frame().drop("1h_rsi_14_raw_lag1"))
    with pytest.raises(SchemaMismatchError, match=r"2 of the 5.*1h_rsi_fast_low, 1h_return_1"):
        predict_proba(b, _frame().drop("1h_rsi_fast_low", "1h_return_1"))


def test_nan_rows_get_nan_probabilities():
    b = make_bundle()
    frame = _frame()
    lag = frame["1h_rsi_14_raw_lag1"].to_numpy().copy()
    lag[0] = np.nan                                   # warm-up row
    low = frame["1h_rsi_fast_low"].to_numpy().copy()
    low[[5, 6]] = np.nan
    frame = frame.with_columns(pl.Series("1h_rsi_14_raw_lag1", lag), pl.Series("1h_rsi_fast_low", low))
    p = predict_proba(b, frame)
    bad = np.zeros(40, bool)
    bad[[0, 5, 6]] = True
    assert np.isnan(p[bad]).all()
    assert not np.isnan(p[~bad]).any()
    np.testing.assert_allclose(p[~bad].sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p[~bad], predict_proba(b, frame.filter(pl.Series(~bad))), atol=1e-7)
    all_nan = frame.with_columns(pl.lit(float("nan")).alias("1h_return_1"))
    assert np.isnan(predict_proba(b, all_nan)).all()
    assert predict_proba(b, frame.head(0)).shape == (0, 3)


def test_multi_symbol_frames():
    b = make_bundle()
    eur = _frame(30, seed=2, symbol="EURUSD")
    btc = _frame(25, seed=3, symbol="BTCUSDT")
    both = pl.concat([eur, btc], how="vertical")
    p = predict_proba(b, both)
    assert p.shape == (55, 3)
    np.testing.assert_allclose(p[:30], predict_proba(b, eur), atol=1e-7)
    np.testing.assert_allclose(p[30:], predict_proba(b, btc), atol=1e-7)
    np.testing.assert_allclose(p[:30], predict_proba(b, eur.drop("symbol")), atol=1e-7)


def test_batching_and_loading_from_a_folder(tmp_path):
    b = make_bundle()
    frame = _frame(100)
    p = predict_proba(b, frame)
    np.testing.assert_allclose(predict_proba(b, frame, batch_size=7), p, atol=1e-7)
    folder = save_bundle(b, tmp_path / "bundle")
    np.testing.assert_array_equal(predict_proba(folder, frame), p)
