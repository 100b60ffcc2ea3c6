"""Training rows: labels joined per symbol on timestamp, warm-up dropped, chronological split with embargo."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml

import fuzzyvec as fv
from fuzzyvec.features.dataset import build_dataset, split_rows
from fuzzyvec.strategy.load import strategy_from_dict

from .conftest import STRATEGIES_DIR


def _multi_symbol_spec(**labels) -> fv.Strategy:
    d = yaml.safe_load((STRATEGIES_DIR / "v3_test_example.yaml").read_text())
    d["training_data"]["symbols"] = {"mode": "multi_symbol", "list": ["BTCUSDT", "ETHUSDT"]}
    if labels:
        d["training"]["labels"] = labels
    return strategy_from_dict(d)


@pytest.fixture(scope="module")
def two_symbols(btc_5m, eth_5m):
    lim = pl.datetime(2023, 2, 1, time_zone="UTC")
    out = {}
    for sym, df in (("BTCUSDT", btc_5m), ("ETHUSDT", eth_5m)):
        bars = df.filter(pl.col("timestamp") < lim)
        out[sym] = {"5m": bars, "1h": fv.resample(bars, "1h", base_timeframe="5m")}
    return out


def test_labels_are_joined_per_symbol(two_symbols):
    spec = _multi_symbol_spec(source="forward_return", horizon=12, threshold=0.002)
    ds = build_dataset(spec, two_symbols)
    assert set(ds.frame["symbol"].unique()) == {"BTCUSDT", "ETHUSDT"}
    for sym in ("BTCUSDT", "ETHUSDT"):
        own = fv.make_labels(two_symbols[sym]["5m"], spec.training.labels)
        rows = ds.frame.filter(pl.col("symbol") == sym).select("timestamp", "label")
        joined = rows.join(own, on="timestamp", suffix="_own")
        assert joined.height == rows.height
        assert (joined["label"] == joined["label_own"]).all()
    # the symbols' labels really differ, so a mix-up would be caught
    b = ds.frame.filter(pl.col("symbol") == "BTCUSDT").select("timestamp", "label")
    e = ds.frame.filter(pl.col("symbol") == "ETHUSDT").select("timestamp", "label")
    both = b.join(e, on="timestamp", suffix="_eth")
    assert (both["label"] != both["label_eth"]).sum() > 100


def test_warmup_and_unlabelled_rows_are_dropped(two_symbols):
    spec = _multi_symbol_spec(source="forward_return", horizon=12)
    ds = build_dataset(spec, two_symbols)
    names = list(ds.schema.names)
    assert np.isfinite(ds.frame.select(names).to_numpy()).all()
    assert (ds.frame["label"] >= 0).all()
    assert ds.dropped["warmup"] > 0 and ds.dropped["unlabelled"] == 2 * 12


def test_split_is_chronological_with_embargo(two_symbols):
    spec = _multi_symbol_spec(source="forward_return", horizon=12)
    ds = build_dataset(spec, two_symbols)
    tr, va, te = (ds.part(s) for s in ("train", "validation", "test"))
    assert tr["timestamp"].max() < va["timestamp"].min() and va["timestamp"].max() < te["timestamp"].min()
    # no training label window (12 bars ahead) reaches the first validation bar
    for sym in ("BTCUSDT", "ETHUSDT"):
        ts = two_symbols[sym]["5m"]["timestamp"]
        last_train = ds.part("train").filter(pl.col("symbol") == sym)["timestamp"].max()
        first_val = ds.part("validation").filter(pl.col("symbol") == sym)["timestamp"].min()
        i_last, i_val = ts.search_sorted(last_train), ts.search_sorted(first_val)
        assert i_last + 12 < i_val
    assert ds.dropped["embargo"] == 2 * 2 * 12  # 12 bars before each of 2 boundaries, per symbol
    n = ds.frame.height + ds.dropped["embargo"]
    assert tr.height / n == pytest.approx(0.7, abs=0.01)


def test_split_rows_hand_case():
    base = np.arange(20)
    code, cuts = split_rows(base[2:], base[2:], base, (0.5, 0.25, 0.25), 2)
    # 18 rows: train 9 -> cut at ts 11, validation 4 (rounded 4.5 -> 4) -> cut at ts 15
    assert cuts == (11, 15)
    assert code.tolist() == [0] * 7 + [-1, -1] + [1, 1] + [-1, -1] + [2] * 5


def test_example_strategy_dataset_summary(btc_5m):
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    data = fv.load_strategy_data(spec, start="2023-03-01", end="2023-04-01")
    ds = build_dataset(spec, data)
    s = ds.summary()
    assert s["embargo_bars"] == 48
    assert sum(s[k]["rows"] for k in ("train", "validation", "test")) == ds.frame.height
    assert set(s["train"]["class_counts"]) == {"BUY", "HOLD", "SELL"}
