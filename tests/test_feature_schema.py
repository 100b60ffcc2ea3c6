"""resolve_features: ids and order of SPEC §3.3; schema hashing, comparison and selection by name."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml

import fuzzyvec as fv
from fuzzyvec.features.frame import compare_names, parse_feature_name, schema_hash
from fuzzyvec.strategy.load import strategy_from_dict

from .conftest import STRATEGIES_DIR

# written out by hand from strategies/v3_test_example.yaml:
# nn_inputs order -> timeframes in the entry's order -> memberships in YAML order; then lag 1
EXAMPLE_BLOCK = [
    "5m_rsi_fast_oversold", "5m_rsi_fast_neutral", "5m_rsi_fast_overbought",
    "1h_rsi_fast_oversold", "1h_rsi_fast_neutral", "1h_rsi_fast_overbought",
    "5m_bb_squeeze_tight", "5m_bb_squeeze_wide",
    "1h_macd_momentum_negative", "1h_macd_momentum_positive",
    "5m_rsi_14_raw",
]
EXAMPLE_FEATURES = [
    *EXAMPLE_BLOCK,
    "5m_rsi_fast_oversold_lag1", "5m_rsi_fast_neutral_lag1", "5m_rsi_fast_overbought_lag1",
    "1h_rsi_fast_oversold_lag1", "1h_rsi_fast_neutral_lag1", "1h_rsi_fast_overbought_lag1",
    "5m_bb_squeeze_tight_lag1", "5m_bb_squeeze_wide_lag1",
    "1h_macd_momentum_negative_lag1", "1h_macd_momentum_positive_lag1",
    "5m_rsi_14_raw_lag1",
]


def _example() -> dict:
    return yaml.safe_load((STRATEGIES_DIR / "v3_test_example.yaml").read_text())


def test_example_strategy_feature_order():
    schema = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml"))
    assert list(schema.names) == EXAMPLE_FEATURES
    assert len(schema) == 22
    assert schema.base_timeframe == "5m"
    # rsi 14 on 5m -> 14, bbwidth 20 -> 19; macd 12/26/9 on 1h -> 33 (rsi on 1h is 14)
    assert dict(schema.warmup) == {"5m": 19, "1h": 33}
    raw = [f for f in schema.features if f.kind == "raw"]
    assert [f.normalization for f in raw] == ["zscore", "zscore"]


def test_e2e_strategy_feature_order():
    schema = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml"))
    assert list(schema.names) == ["1h_rsi_14_oversold", "1h_rsi_14_neutral", "1h_rsi_14_overbought"]
    assert dict(schema.warmup) == {"1h": 14}


def test_lags_and_price_context():
    d = _example()
    d["model"]["features"].update(lookback_periods=3, include_price_context=True)
    schema = fv.resolve_features(strategy_from_dict(d))
    block = [*EXAMPLE_BLOCK, "5m_return_1"]
    expected = block + [f"{n}_lag1" for n in block] + [f"{n}_lag2" for n in block]
    assert list(schema.names) == expected
    assert [f.lag for f in schema.features] == [0] * 12 + [1] * 12 + [2] * 12


def test_timeframes_all_follows_listed_order():
    d = _example()
    d["training_data"]["timeframes"]["list"] = ["1h", "5m"]
    names = fv.resolve_features(strategy_from_dict(d)).names
    assert names[:6] == ("1h_rsi_fast_oversold", "1h_rsi_fast_neutral", "1h_rsi_fast_overbought",
                         "5m_rsi_fast_oversold", "5m_rsi_fast_neutral", "5m_rsi_fast_overbought")


def test_multi_output_raw_reference_name():
    d = _example()
    d["nn_inputs"].append({"raw_indicator": "macd_12_26_9.histogram", "timeframes": ["1h"]})
    schema = fv.resolve_features(strategy_from_dict(d))
    assert "1h_macd_12_26_9.histogram_raw" in schema.names
    assert schema.names.index("1h_macd_12_26_9.histogram_raw") == 11


def test_schema_hash_depends_on_order():
    names = ["a", "b", "c"]
    assert schema_hash(names) == schema_hash(list(names))
    assert schema_hash(names) != schema_hash(["b", "a", "c"])
    schema = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml"))
    assert schema.sha256 == schema_hash(EXAMPLE_FEATURES)
    assert len(schema.sha256) == 64


def test_compare_reports_missing_unexpected_reordered():
    diff = compare_names(["a", "b", "c", "d"], ["b", "a", "c", "x"])
    assert diff.missing == ("d",)
    assert diff.unexpected == ("x",)
    assert diff.reordered == (("a", 0, 1), ("b", 1, 0))
    assert not diff.equal
    text = diff.describe()
    assert "1 missing: d" in text and "1 unexpected: x" in text and "a (expected #0, found #1)" in text
    assert compare_names(["a"], ["a"]).equal


def test_schema_compare_between_strategies():
    a = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml"))
    d = _example()
    d["nn_inputs"][0], d["nn_inputs"][1] = d["nn_inputs"][1], d["nn_inputs"][0]
    b = fv.resolve_features(strategy_from_dict(d))
    diff = a.compare(b)
    assert not diff.missing and not diff.unexpected and diff.reordered


def test_select_features_by_name_not_position():
    schema = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml"))
    frame = pl.DataFrame({
        "timestamp": [1, 2], "extra": [9.0, 9.0],
        "1h_rsi_14_overbought": [0.3, 0.6], "1h_rsi_14_oversold": [0.1, 0.4], "1h_rsi_14_neutral": [0.2, 0.5],
    })
    x = fv.select_features(frame, schema)
    np.testing.assert_array_equal(x, np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32))
    assert x.dtype == np.float32


def test_select_features_names_every_missing_column():
    schema = fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml"))
    frame = pl.DataFrame({"1h_rsi_14_neutral": [0.2]})
    with pytest.raises(fv.SchemaMismatchError) as info:
        fv.select_features(frame, schema)
    msg = str(info.value)
    assert "1h_rsi_14_oversold" in msg and "1h_rsi_14_overbought" in msg and "2 of the 3" in msg


def test_feature_names_parse_back():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    schema = fv.resolve_features(spec)
    for f in schema.features:
        parsed = parse_feature_name(f.name, spec)
        assert (parsed.timeframe, parsed.kind, parsed.source, parsed.membership, parsed.lag) == (
            f.timeframe, f.kind, f.source, f.membership, f.lag)
    p = parse_feature_name("5m_return_1_lag2")
    assert (p.kind, p.lag, p.timeframe) == ("price", 2, "5m")
