"""Look-ahead guarantee (SPEC §3.3): features from data up to bar t equal the full run's row t.

Checked by truncation for every indicator output, every membership type and the
multi-timeframe join; a deliberately leaky user indicator is caught.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from numba import njit

import fuzzyvec as fv
from fuzzyvec.research.lookahead import check_lookahead
from fuzzyvec.strategy.load import strategy_from_dict
from fuzzyvec.strategy.registry import get_indicator_spec, register_indicator, unregister_indicator

from .conftest import REPO_ROOT, STRATEGIES_DIR

MEMBERSHIPS = {
    "tri": {"type": "triangular", "parameters": [-1.0, 0.0, 1.0]},
    "left": {"type": "trapezoidal", "parameters": [-10.0, -10.0, -1.0, 0.0]},
    "gauss": {"type": "gaussian", "parameters": [0.0, 1.0]},
    "sig": {"type": "sigmoid", "parameters": [0.0, 2.0]},
    "bell": {"type": "gbell", "parameters": [1.0, 2.0, 0.0]},
}


def all_indicator_strategy(symbols=("ETHUSDT",)) -> dict:
    """A 5m + 1h strategy using every indicator output raw, and every membership type."""
    indicators = {f"i_{t}": {"type": t} for t in fv.indicator_types() if get_indicator_spec(t).reference != "user-defined"}
    inputs = []
    for ind_id, cfg in indicators.items():
        outs = get_indicator_spec(cfg["type"]).outputs
        refs = [ind_id] if len(outs) == 1 else [f"{ind_id}.{o}" for o in outs]
        inputs += [{"raw_indicator": r, "timeframes": "all"} for r in refs]
    fuzzy = {"f_zscore": {"indicator": "i_zscore", **MEMBERSHIPS}}
    inputs.append({"fuzzy_set": "f_zscore", "timeframes": "all"})
    sym = ({"mode": "single", "symbol": symbols[0]} if len(symbols) == 1
           else {"mode": "multi_symbol", "list": list(symbols)})
    return {
        "name": "all_indicators",
        "training_data": {"symbols": sym, "timeframes": {"mode": "multi_timeframe", "list": ["5m", "1h"],
                                                         "base_timeframe": "5m"}},
        "indicators": indicators,
        "fuzzy_sets": fuzzy,
        "nn_inputs": inputs,
        "model": {"type": "mlp", "features": {"lookback_periods": 2, "include_price_context": True}},
        "decisions": {},
        "training": {"labels": {"source": "forward_return", "horizon": 6}},
    }


@pytest.fixture(scope="module")
def eth_q1_data(eth_5m):
    bars = eth_5m.filter(pl.col("timestamp") < pl.datetime(2023, 2, 1, time_zone="UTC"))
    return {"ETHUSDT": {"5m": bars, "1h": fv.resample(bars, "1h", base_timeframe="5m")}}


def test_every_indicator_membership_and_join_is_look_ahead_free(eth_q1_data):
    spec = strategy_from_dict(all_indicator_strategy())
    report = check_lookahead(spec, eth_q1_data, cuts=6, tolerance=0.0)
    n_outputs = sum(len(get_indicator_spec(c.type).outputs) for c in spec.indicators.values())
    assert report.columns_checked == 2 * (2 * n_outputs + 2 * len(MEMBERSHIPS) + 1)
    assert report.clean, report.table()
    assert len(report.cuts) == 6 and report.rows_checked > 6 * 100


def test_truncation_changes_nothing_exactly_at_hour_boundaries(eth_q1_data):
    """Cut on the last 5m bar of an hour (the 1h bar completes) and just before it."""
    spec = strategy_from_dict(all_indicator_strategy())
    full = fv.build_features(spec, eth_q1_data)
    names = list(fv.resolve_features(spec).names)
    from fuzzyvec.data.files import truncate_data

    for cut in ("2023-01-20 10:55", "2023-01-20 10:50", "2023-01-20 11:00"):
        ts = pl.Series([cut]).str.to_datetime(time_zone="UTC")[0]
        part = fv.build_features(spec, truncate_data(eth_q1_data, "5m", ts))
        a = full.filter(pl.col("timestamp") <= ts).select(names).to_numpy()
        b = part.select(names).to_numpy()
        np.testing.assert_array_equal(a, b)


def test_higher_timeframe_value_appears_when_the_bar_completes(eth_q1_data):
    """The 5m bar 10:55 (complete 11:00) sees the 1h bar 10:00 (complete 11:00); 10:50 does not."""
    d = all_indicator_strategy()
    d["nn_inputs"] = [{"raw_indicator": "i_sma", "timeframes": ["1h"]}]
    d["model"]["features"] = {}
    spec = strategy_from_dict(d)
    frame = fv.build_features(spec, eth_q1_data)
    hour = eth_q1_data["ETHUSDT"]["1h"]
    sma = fv.compute_indicator("sma", hour).frame["value"].to_numpy()
    def at(hm):
        ts = pl.Series([f"2023-01-20 {hm}"]).str.to_datetime(time_zone="UTC")[0]
        return frame.filter(pl.col("timestamp") == ts)["1h_i_sma_raw"][0]
    i10 = int(hour["timestamp"].search_sorted(pl.Series(["2023-01-20 10:00"]).str.to_datetime(time_zone="UTC")[0]))
    assert at("10:55") == sma[i10]
    assert at("10:50") == sma[i10 - 1]


def test_multi_symbol_is_look_ahead_free(eth_5m, btc_5m):
    lim = pl.datetime(2023, 1, 15, time_zone="UTC")
    data = {}
    for sym, df in (("BTCUSDT", btc_5m), ("ETHUSDT", eth_5m)):
        bars = df.filter(pl.col("timestamp") < lim)
        data[sym] = {"5m": bars, "1h": fv.resample(bars, "1h", base_timeframe="5m")}
    d = all_indicator_strategy(("BTCUSDT", "ETHUSDT"))
    d["nn_inputs"] = d["nn_inputs"][:6] + d["nn_inputs"][-1:]
    report = check_lookahead(strategy_from_dict(d), data, cuts=3, tolerance=0.0)
    assert report.clean, report.table()


@pytest.mark.parametrize("name", ["v3_e2e_test.yaml", "v3_test_example.yaml"])
def test_shipped_strategies_are_clean(name):
    spec = fv.load_strategy(STRATEGIES_DIR / name)
    end = "2023-02-15" if "example" in name else None
    report = check_lookahead(spec, cuts=4, end=end)
    assert report.clean, report.table()


@njit(cache=True)
def _centred_sma_nb(x, period):
    """Deliberately leaky: a centred moving average reads period//2 bars of the future."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    half = period // 2
    for i in range(half, n - half):
        s = 0.0
        for j in range(i - half, i + half + 1):
            s += x[j]
        out[i] = s / (2 * half + 1)
    return out


@pytest.fixture()
def leaky_indicator():
    from fuzzyvec.strategy.registry import Param

    register_indicator("centred_sma", _centred_sma_nb, inputs=("source",),
                       params=(Param("period", int, 5, min=3),), lookback=lambda p: p["period"] // 2)
    yield
    unregister_indicator("centred_sma")


def test_leaky_user_indicator_is_caught(leaky_indicator, eth_q1_data):
    d = all_indicator_strategy()
    d["indicators"] = {"leak": {"type": "centred_sma", "period": 5}, "sma": {"type": "sma"}}
    d["nn_inputs"] = [{"raw_indicator": "sma", "timeframes": "all"}, {"raw_indicator": "leak", "timeframes": ["5m"]}]
    d["fuzzy_sets"] = {}
    d["fuzzy_sets"] = {"s": {"indicator": "sma", "x": [0, 1, 2]}}
    spec = strategy_from_dict(d)
    report = check_lookahead(spec, eth_q1_data, cuts=3)
    assert not report.clean
    cols = set(report.table()["column"].to_list())
    assert cols == {"5m_leak_raw", "5m_leak_raw_lag1"}
    assert all(r["max_abs_diff"] == float("inf") for r in report.offending)  # a value became NaN


FEATURE_MODULES = ("features/frame", "features/indicators", "features/membership", "features/warmup",
                   "features/summary", "strategy/registry", "data/bars", "data/files", "research/lookahead",
                   "nb/sources", "nb/ma", "nb/momentum", "nb/volatility", "nb/trend", "nb/volume",
                   "nb/membership")


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def test_no_feature_module_imports_labels():
    src = REPO_ROOT / "src" / "fuzzyvec"
    for mod in FEATURE_MODULES:
        path = src / f"{mod}.py"
        assert path.exists(), path
        for imp in _imports(path):
            assert "labels" not in imp.split(".")[-1] and "labels" not in imp.split(".")[-2:], (mod, imp)


def test_building_features_never_loads_the_label_module():
    code = ("import sys, fuzzyvec as fv; s = fv.load_strategy(sys.argv[1]); "
            "fv.build_features(s, fv.load_strategy_data(s)); "
            "print([m for m in sys.modules if m.startswith('fuzzyvec') and 'labels' in m])")
    out = subprocess.run([sys.executable, "-c", code, str(STRATEGIES_DIR / "v3_e2e_test.yaml")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


LEAKY_PLUGIN = '''
import numpy as np
from numba import njit
from fuzzyvec import register_indicator
from fuzzyvec.strategy.registry import Param


@njit(cache=False)
def centred_sma(x, period):
    n = x.shape[0]
    out = np.full(n, np.nan)
    half = period // 2
    for i in range(half, n - half):
        out[i] = x[i - half:i + half + 1].mean()
    return out


register_indicator("centred_sma", centred_sma, inputs=("source",), params=(Param("period", int, 5, min=3),),
                   lookback=lambda p: p["period"] // 2)
'''


def test_check_lookahead_cli_catches_a_leaky_plugin_indicator(tmp_path):
    """A user indicator registered through FUZZYVEC_PLUGINS; check-lookahead exits 1 with a table."""
    import os

    (tmp_path / "leaky_plugin.py").write_text(LEAKY_PLUGIN)
    text = (STRATEGIES_DIR / "v3_e2e_test.yaml").read_text().replace(
        "fuzzy_sets:", "  leak:\n    type: centred_sma\n    period: 5\n\nfuzzy_sets:").replace(
        "nn_inputs:\n", "nn_inputs:\n  - raw_indicator: leak\n    timeframes: all\n")
    strat = tmp_path / "leaky.yaml"
    strat.write_text(text)
    env = {**os.environ, "FUZZYVEC_PLUGINS": "leaky_plugin",
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "check-lookahead", str(strat), "--cuts", "3"],
                       capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "LOOK-AHEAD in 1 column(s)" in r.stderr and "1h_leak_raw" in r.stderr
    env["FUZZYVEC_PLUGINS"] = "no_such_plugin_module"
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "validate", str(strat)], capture_output=True,
                       text=True, env=env, cwd=REPO_ROOT)
    assert r.returncode == 2 and "no_such_plugin_module" in r.stderr and "Traceback" not in r.stderr
