"""Strategy grammar: the shipped files load, and malformed strategies fail with clear messages."""

from __future__ import annotations

import warnings

import pytest
import yaml

import fuzzyvec as fv
from fuzzyvec.strategy.load import StrategyWarning, strategy_from_dict, strategy_warnings

from .conftest import STRATEGIES_DIR

SHARED_FILES = ("v3_e2e_test.yaml", "v3_test_example.yaml")


def _base() -> dict:
    return yaml.safe_load((STRATEGIES_DIR / "v3_test_example.yaml").read_text())


@pytest.mark.parametrize("name", SHARED_FILES)
def test_shipped_strategies_load(name):
    spec = fv.load_strategy(STRATEGIES_DIR / name)
    assert spec.name == name.removesuffix(".yaml")
    assert spec.version == "3.0"
    assert spec.source_path == str((STRATEGIES_DIR / name).resolve())


def test_e2e_reference_file_fields():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    assert spec.symbols == ("EURUSD",)
    assert spec.timeframes == ("1h",) and spec.base_timeframe == "1h"
    assert spec.training_data.history_required == 100
    assert spec.indicators["rsi_14"].type == "rsi"  # "RSI" in the file: types are case-insensitive
    assert spec.indicators["rsi_14"].params == {"period": 14, "source": "close"}
    fs = spec.fuzzy_sets["rsi_14"]
    assert list(fs.memberships) == ["oversold", "neutral", "overbought"]  # YAML order kept
    assert fs.memberships["neutral"].parameters == (30.0, 50.0, 70.0)
    assert spec.model.architecture.hidden_layers == (16, 8)
    assert spec.model.features.scale_features is True
    assert spec.model.training.early_stopping.enabled is False
    assert spec.decisions.confidence_threshold == 0.6 and spec.decisions.position_awareness is False
    assert spec.training.labels.source == "zigzag" and spec.training.labels.label_lookahead == 10
    assert spec.label_horizon == 10
    assert spec.backtest.init_cash == 10_000.0  # default when the section is absent


def test_example_file_fields():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    assert spec.timeframes == ("5m", "1h") and spec.base_timeframe == "5m"
    assert spec.fuzzy_sets["rsi_fast"].memberships["oversold"].type == "triangular"  # list shorthand
    neg = spec.fuzzy_sets["macd_momentum"].memberships["negative"]
    assert neg.type == "trapezoidal" and neg.parameters == (-1000.0, -1000.0, -5.0, 0.0)
    assert spec.nn_inputs[3].raw_indicator == "rsi_14" and spec.nn_inputs[3].normalization == "zscore"
    assert spec.decisions.filters.min_signal_separation == 6
    assert spec.backtest.sl_stop == 0.01 and spec.backtest.tp_stop == 0.02
    assert spec.backtest.fees == 0.0005


def test_strategy_is_frozen():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]


def _set(path, value):
    def f(d):
        node = d
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return f


def _pop(path):
    def f(d):
        node = d
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]
    return f


def _append(path, value):
    def f(d):
        node = d
        for p in path:
            node = node[p]
        node.append(value)
    return f


# (mutation, expected key path in the message, expected fragment naming the wrong value)
MALFORMED = [
    (_set(["fuzzy_sets", "rsi_fast", "oversold"], [40, 20, 0]),
     "fuzzy_sets.rsi_fast.oversold.parameters", "expected a <= b <= c, got [40, 20, 0]"),
    (_set(["indicators", "rsi_14", "period"], 1), "indicators.rsi_14.period", "expected >= 2, got 1"),
    (_set(["indicators", "rsi_14", "period"], 14.5), "indicators.rsi_14.period", "14.5"),
    (_set(["indicators", "rsi_14", "perod"], 14), "indicators.rsi_14.perod", "unknown parameter"),
    (_set(["indicators", "rsi_14", "type"], "rsx"), "indicators.rsi_14.type", "'rsx'"),
    (_pop(["indicators", "rsi_14", "type"]), "indicators.rsi_14.type", "missing"),
    (_set(["indicators", "rsi_14", "source"], "vwap"), "indicators.rsi_14.source", "'vwap'"),
    (_set(["indicators", "macd_12_26_9", "fast_period"], 30), "indicators.macd_12_26_9.fast_period",
     "fast_period=30"),
    (_set(["nmae"], "x"), "nmae", "did you mean 'name'"),
    (_set(["name"], "bad name"), "name", "'bad name'"),
    (_set(["version"], "2.0"), "version", "'2.0'"),
    (_set(["model", "training", "epochs"], "ten"), "model.training.epochs", "'ten'"),
    (_set(["model", "training", "epochs"], 0), "model.training.epochs", "got 0"),
    (_set(["model", "training", "optimiser"], "adam"), "model.training.optimiser", "did you mean 'optimizer'"),
    (_set(["model", "training", "optimizer"], "rmsprop"), "model.training.optimizer", "'rmsprop'"),
    (_set(["model", "architecture", "activation"], "swish"), "model.architecture.activation", "'swish'"),
    (_set(["model", "architecture", "hidden_layers"], [32, 0]), "model.architecture.hidden_layers", "[32, 0]"),
    (_set(["model", "architecture", "dropout"], 1.5), "model.architecture.dropout", "1.5"),
    (_set(["model", "features", "lookback_periods"], 0), "model.features.lookback_periods", "got 0"),
    (_set(["model", "type"], "lstm"), "model.type", "'lstm'"),
    (_set(["fuzzy_sets", "macd_momentum", "indicator"], "macd_12_26_9"), "fuzzy_sets.macd_momentum.indicator",
     "macd_12_26_9.histogram"),
    (_set(["fuzzy_sets", "macd_momentum", "indicator"], "macd_12_26_9.hist"),
     "fuzzy_sets.macd_momentum.indicator", "'hist'"),
    (_set(["fuzzy_sets", "rsi_fast", "indicator"], "rsi_99"), "fuzzy_sets.rsi_fast.indicator", "'rsi_99'"),
    (_set(["fuzzy_sets", "rsi_fast", "indicator"], "rsi_14.value"), "fuzzy_sets.rsi_fast.indicator",
     "single output"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "gaussian", "parameters": [0.01, -1]}),
     "fuzzy_sets.bb_squeeze.wide.parameters", "expected sigma > 0, got [0.01, -1]"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "gauss", "parameters": [0.01, 1]}),
     "fuzzy_sets.bb_squeeze.wide.type", "'gauss'"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "trapezoidal", "parameters": [0, 2, 1, 3]}),
     "fuzzy_sets.bb_squeeze.wide.parameters", "expected a <= b <= c <= d, got [0, 2, 1, 3]"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "gbell", "parameters": [0, 2, 1]}),
     "fuzzy_sets.bb_squeeze.wide.parameters", "expected width > 0, got [0, 2, 1]"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], [0.1, 0.2]), "fuzzy_sets.bb_squeeze.wide", "[0.1, 0.2]"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "triangular", "parameters": [0, "x", 1]}),
     "fuzzy_sets.bb_squeeze.wide.parameters", "'x'"),
    (_set(["fuzzy_sets", "bb_squeeze", "wide"], {"type": "triangular", "parameters": [0, 1, 2], "shape": 1}),
     "fuzzy_sets.bb_squeeze.wide.shape", "unknown key 'shape'"),
    (_set(["nn_inputs", 0, "timeframes"], ["15m"]), "nn_inputs[0].timeframes", "'15m'"),
    (_set(["nn_inputs", 0, "fuzzy_set"], "rsi_slow"), "nn_inputs[0].fuzzy_set", "'rsi_slow'"),
    (_set(["nn_inputs", 0, "normalization"], "zscore"), "nn_inputs[0].normalization", "'zscore'"),
    (_set(["nn_inputs", 3, "normalization"], "robust"), "nn_inputs[3].normalization", "'robust'"),
    (_append(["nn_inputs"], {"fuzzy_set": "rsi_fast", "timeframes": ["5m"]}), "nn_inputs[4]",
     "'rsi_fast' on 5m"),
    (_set(["training", "labels", "source"], "zigzog"), "training.labels.source", "'zigzog'"),
    (_pop(["training", "labels", "label_lookahead"]), "training.labels.label_lookahead", "missing"),
    (_set(["training", "labels", "zigzag_threshold"], -0.01), "training.labels.zigzag_threshold", "-0.01"),
    (_set(["training", "data_split", "train"], 0.8), "training.data_split", "= 1.1"),
    (_set(["training", "method"], "reinforcement"), "training.method", "'reinforcement'"),
    (_set(["training_data", "timeframes", "base_timeframe"], "1h"), "training_data.timeframes.base_timeframe",
     "got '1h'"),
    (_set(["training_data", "timeframes", "list"], ["5m", "7m"]), "training_data.timeframes.list", "'7m'"),
    (_set(["training_data", "timeframes", "list"], ["5m", "1x"]), "training_data.timeframes.list[1]", "'1x'"),
    (_set(["training_data", "symbols", "mode"], "many"), "training_data.symbols.mode", "'many'"),
    (_set(["training_data", "history_required"], -5), "training_data.history_required", "-5"),
    (_set(["training_data", "start_date"], "yesterday"), "training_data.start_date", "'yesterday'"),
    (_set(["decisions", "confidence_threshold"], 1.5), "decisions.confidence_threshold", "1.5"),
    (_set(["decisions", "filters", "min_signal_separation"], -1), "decisions.filters.min_signal_separation", "-1"),
    (_set(["backtest", "fees"], -0.1), "backtest.fees", "-0.1"),
    (_set(["backtest", "direction"], "long"), "backtest.direction", "'long'"),
    (_set(["backtest", "stop_loss"], 0.02), "backtest.stop_loss", "unknown key 'stop_loss'"),
    (_set(["backtest", "size"], 0), "backtest.size", "got 0"),
    (_pop(["model"]), "model", "missing"),
]


@pytest.mark.parametrize("mutate, path, fragment", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_strategy_message(mutate, path, fragment):
    d = _base()
    mutate(d)
    with pytest.raises(fv.StrategyError) as info:
        strategy_from_dict(d)
    msg = str(info.value)
    assert f"{path}:" in msg, msg
    assert fragment in msg, msg


def test_at_least_25_malformed_cases():
    assert len(MALFORMED) >= 25


def test_error_names_file_and_line(tmp_path):
    text = (STRATEGIES_DIR / "v3_test_example.yaml").read_text()
    text = text.replace("oversold: [0, 20, 35]", "oversold: [40, 20, 0]")
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "oversold: [40, 20, 0]" in s)
    with pytest.raises(fv.StrategyError) as info:
        fv.load_strategy(p)
    assert str(info.value) == (
        f"{p}:{line}: fuzzy_sets.rsi_fast.oversold.parameters: expected a <= b <= c, got [40, 20, 0]"
    )


def test_yaml_syntax_error_reports_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nindicators:\n  rsi_14:\n    type: rsi\n   period: 14\n")
    with pytest.raises(fv.StrategyError) as info:
        fv.load_strategy(p)
    assert f"{p}:5:" in str(info.value)
    assert "YAML syntax error" in str(info.value)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    text = (STRATEGIES_DIR / "v3_e2e_test.yaml").read_text().replace(
        "    period: 14\n", "    period: 14\n    period: 21\n")
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    line = text.splitlines().index("    period: 21") + 1
    with pytest.raises(fv.StrategyError, match=rf"{p}:{line}:.*duplicate key 'period'"):
        fv.load_strategy(p)


def test_several_problems_are_all_reported():
    d = _base()
    d["model"]["training"]["epochs"] = 0
    d["backtest"]["fees"] = -1
    with pytest.raises(fv.StrategyError) as info:
        strategy_from_dict(d)
    msg = str(info.value)
    assert msg.startswith("2 problems") and "model.training.epochs" in msg and "backtest.fees" in msg


def test_missing_file_is_strategy_error(tmp_path):
    with pytest.raises(fv.StrategyError, match="not found"):
        fv.load_strategy(tmp_path / "nope.yaml")


def test_non_mapping_file(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(fv.StrategyError, match="expected a mapping"):
        fv.load_strategy(p)


def test_unused_indicator_and_fuzzy_set_warn():
    d = _base()
    d["indicators"]["atr_14"] = {"type": "atr", "period": 14}
    d["fuzzy_sets"]["unused"] = {"indicator": "rsi_14", "low": [0, 10, 20]}
    spec = strategy_from_dict(d)
    ws = strategy_warnings(spec)
    assert any(w.startswith("indicators.atr_14:") for w in ws)
    assert any(w.startswith("fuzzy_sets.unused:") for w in ws)
    with pytest.warns(StrategyWarning) as record:
        fv.load_strategy(d)
    assert sorted(str(r.message).split(":")[0] for r in record) == ["fuzzy_sets.unused", "indicators.atr_14"]


def test_shipped_strategies_have_no_warnings():
    for name in SHARED_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fv.load_strategy(STRATEGIES_DIR / name)


def test_timeframe_forms():
    d = _base()
    d["training_data"]["timeframes"] = {"mode": "single", "timeframe": "5m"}
    d["nn_inputs"] = [i for i in d["nn_inputs"] if i.get("timeframes") in ("all", ["5m"])]
    d["fuzzy_sets"].pop("macd_momentum")
    d["indicators"].pop("macd_12_26_9")
    spec = strategy_from_dict(d)
    assert spec.timeframes == ("5m",) and spec.base_timeframe == "5m"
    d["training_data"]["timeframes"] = {"mode": "single", "list": ["5m", "1h"], "base_timeframe": "5m"}
    with pytest.raises(fv.StrategyError, match=r"training_data.timeframes.list: mode: single takes exactly one"):
        strategy_from_dict(d)


def test_multi_timeframe_order_is_kept_and_base_need_not_be_first():
    d = _base()
    d["training_data"]["timeframes"] = {"mode": "multi_timeframe", "list": ["1h", "5m"], "base_timeframe": "5m"}
    spec = strategy_from_dict(d)
    assert spec.timeframes == ("1h", "5m") and spec.base_timeframe == "5m"


def test_multi_symbol():
    d = _base()
    d["training_data"]["symbols"] = {"mode": "multi_symbol", "list": ["BTCUSDT", "ETHUSDT"]}
    assert strategy_from_dict(d).symbols == ("BTCUSDT", "ETHUSDT")
    d["training_data"]["symbols"] = {"mode": "multi_symbol", "list": ["BTCUSDT", "BTCUSDT"]}
    with pytest.raises(fv.StrategyError, match=r"training_data.symbols.list: .*duplicate symbol 'BTCUSDT'"):
        strategy_from_dict(d)


def test_label_sources():
    d = _base()
    d["training"]["labels"] = {"source": "forward_return", "horizon": 12, "threshold": 0.002}
    spec = strategy_from_dict(d)
    assert spec.label_horizon == 12
    d["training"]["labels"] = {"source": "triple_barrier", "pt_multiplier": 2, "sl_multiplier": 1,
                               "max_holding_period": 24, "vol_span": 50}
    assert strategy_from_dict(d).label_horizon == 24


def test_dates_are_utc():
    d = _base()
    d["training_data"]["start_date"] = "2023-02-01"
    d["training_data"]["end_date"] = "2023-03-01T12:00:00+02:00"
    spec = strategy_from_dict(d)
    assert spec.training_data.start_date.isoformat() == "2023-02-01T00:00:00+00:00"
    assert spec.training_data.end_date.isoformat() == "2023-03-01T10:00:00+00:00"
    d["training_data"]["end_date"] = "2023-01-01"
    with pytest.raises(fv.StrategyError, match=r"training_data\.end_date"):
        strategy_from_dict(d)


def test_every_indicator_type_validates_with_defaults():
    for t in fv.indicator_types():
        d = _base()
        d["indicators"]["extra"] = {"type": t.upper()}
        spec = strategy_from_dict(d)
        assert spec.indicators["extra"].type == t


def test_keys_of_shipped_files_are_all_model_fields():
    """Nothing in the shipped files is silently ignored: every key maps to a model field."""
    for name in SHARED_FILES:
        raw = yaml.safe_load((STRATEGIES_DIR / name).read_text())
        spec = fv.load_strategy(STRATEGIES_DIR / name)
        dumped = spec.model_dump()
        for key in raw:
            assert key in dumped, key
        for section in ("model", "decisions", "training", "training_data"):
            _assert_keys_kept(raw[section], dumped[section], section)


def _assert_keys_kept(raw, dumped, path):
    if isinstance(raw, dict):
        for k, v in raw.items():
            assert k in dumped, f"{path}.{k} is not kept"
            _assert_keys_kept(v, dumped[k], f"{path}.{k}")


# sha256 of the files in ../shared/strategies (the originals are not read by tests)
SHARED_SHA256 = {'v3_e2e_test.yaml': '27c81527ca4c1a13aad1d1abb433336b038ba44871d5bb1c4bb260ecdc429a71', 'v3_test_example.yaml': '7faf62871329e08df8f35bf65e10b1e971822668d11e62ddd48df19e0976bf50'}


def test_shared_files_are_unchanged_copies():
    import hashlib

    for name, digest in SHARED_SHA256.items():
        assert hashlib.sha256((STRATEGIES_DIR / name).read_bytes()).hexdigest() == digest, name
