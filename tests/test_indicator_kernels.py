"""Indicator kernels (SPEC §3.1) against TA-Lib, the oracle, and the registry contract.

* every TA-Lib-referenced indicator equals TA-Lib to 1e-9 relative after warm-up, with NaN
  exactly where TA-Lib has NaN, on the bundled EURUSD 1h and BTCUSDT 5m bars, for default
  and non-default parameters, and on generated bars (flat stretches, gaps, short inputs);
* every registered kernel has exactly its registry lookback of leading NaN rows, no NaN
  after it, never reads a later bar (truncating the input truncates the output), accepts
  inputs shorter than its lookback, and is a cached numba dispatcher.

The formula-defined indicators (donchian, keltner, ...) are checked against reference
implementations in ``test_indicator_kernels_formula.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core.caching import FunctionCache
from numba.core.registry import CPUDispatcher

from fuzzyvec.strategy.registry import get_indicator_spec, indicator_types

RTOL = 1e-9
DATASETS = ("eurusd_arrays", "btc_arrays")
NB_MODULES = ("ma", "momentum", "volatility", "trend", "volume")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def run(type_: str, arrays: dict[str, np.ndarray], **params) -> tuple[np.ndarray, ...]:
    """Call the registered kernel the way :mod:`fuzzyvec.features.indicators` does (source = close)."""
    spec = get_indicator_spec(type_)
    p = spec.resolve_params(params)
    inputs = [arrays["close" if name == "source" else name] for name in spec.inputs]
    args = [
        spec.choice_codes[q.name][p[q.name]] if q.name in spec.choice_codes else p[q.name]
        for q in spec.params
        if q.name != "source"
    ]
    out = spec.kernel_function()(*inputs, *args)
    return out if isinstance(out, tuple) else (out,)


def assert_matches(ours, ref, rtol: float = RTOL, what: str = "") -> None:
    """Same NaN rows exactly; elsewhere equal to ``rtol`` relative.

    The absolute floor is 1e-10 of the largest magnitude in the reference series, for values
    that cross zero (MACD, CCI, momentum ...), where a relative test alone is meaningless.
    """
    assert len(ours) == len(ref), what
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape, f"{what} output {k}: shape {a.shape} != {b.shape}"
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        if not np.array_equal(nan_a, nan_b):
            bad = np.flatnonzero(nan_a != nan_b)[:5]
            raise AssertionError(f"{what} output {k}: NaN rows differ at {bad}: {a[bad]} vs {b[bad]}")
        finite = b[~nan_b]
        scale = float(np.max(np.abs(finite))) if finite.size else 0.0
        np.testing.assert_allclose(
            a[~nan_a], finite, rtol=rtol, atol=max(1e-10 * scale, 1e-300), err_msg=f"{what} output {k}"
        )


def _bbwidth(x, period, multiplier):
    upper, middle, lower = talib.BBANDS(x, period, multiplier, multiplier, 0)
    return ((upper - lower) / middle,)


def _aroon(h, l, period):  # noqa: E741
    down, up = talib.AROON(h, l, period)
    return up, down, talib.AROONOSC(h, l, period)


#: type -> TA-Lib oracle(arrays, resolved params), outputs in registry order
ORACLES = {
    "rsi": lambda a, p: (talib.RSI(a["close"], p["period"]),),
    "sma": lambda a, p: (talib.SMA(a["close"], p["period"]),),
    "ema": lambda a, p: (talib.EMA(a["close"], p["period"]),),
    "wma": lambda a, p: (talib.WMA(a["close"], p["period"]),),
    "macd": lambda a, p: talib.MACD(a["close"], p["fast_period"], p["slow_period"], p["signal_period"]),
    "bbands": lambda a, p: talib.BBANDS(a["close"], p["period"], p["multiplier"], p["multiplier"], 0),
    "bbwidth": lambda a, p: _bbwidth(a["close"], p["period"], p["multiplier"]),
    "atr": lambda a, p: (talib.ATR(a["high"], a["low"], a["close"], p["period"]),),
    "adx": lambda a, p: (
        talib.ADX(a["high"], a["low"], a["close"], p["period"]),
        talib.PLUS_DI(a["high"], a["low"], a["close"], p["period"]),
        talib.MINUS_DI(a["high"], a["low"], a["close"], p["period"]),
    ),
    "stochastic": lambda a, p: talib.STOCH(
        a["high"], a["low"], a["close"], p["k_period"], p["smooth_k"], 0, p["d_period"], 0
    ),
    "williamsr": lambda a, p: (talib.WILLR(a["high"], a["low"], a["close"], p["period"]),),
    "cci": lambda a, p: (talib.CCI(a["high"], a["low"], a["close"], p["period"]),),
    "mfi": lambda a, p: (talib.MFI(a["high"], a["low"], a["close"], a["volume"], p["period"]),),
    "roc": lambda a, p: (talib.ROC(a["close"], p["period"]),),
    "momentum": lambda a, p: (talib.MOM(a["close"], p["period"]),),
    "obv": lambda a, p: (talib.OBV(a["close"], a["volume"]),),
    "adline": lambda a, p: (talib.AD(a["high"], a["low"], a["close"], a["volume"]),),
    "aroon": lambda a, p: _aroon(a["high"], a["low"], p["period"]),
    "parabolicsar": lambda a, p: (talib.SAR(a["high"], a["low"], p["acceleration"], p["maximum"]),),
}

#: type -> parameter sets: the defaults plus non-default ones (edge values included)
PARAMS = {
    "rsi": [{}, {"period": 2}, {"period": 33}],
    "sma": [{}, {"period": 2}, {"period": 50}],
    "ema": [{}, {"period": 2}, {"period": 9}],
    "wma": [{}, {"period": 2}, {"period": 30}],
    "macd": [{}, {"fast_period": 5, "slow_period": 35, "signal_period": 5},
             {"fast_period": 2, "slow_period": 3, "signal_period": 1}],
    "bbands": [{}, {"period": 5, "multiplier": 1.0}, {"period": 2, "multiplier": 3.5}],
    "bbwidth": [{}, {"period": 5, "multiplier": 1.0}, {"period": 50, "multiplier": 2.5}],
    "atr": [{}, {"period": 1}, {"period": 30}],
    "adx": [{}, {"period": 2}, {"period": 30}],
    "stochastic": [{}, {"k_period": 1, "smooth_k": 1, "d_period": 1},
                   {"k_period": 9, "smooth_k": 4, "d_period": 2}],
    "williamsr": [{}, {"period": 2}, {"period": 30}],
    "cci": [{}, {"period": 2}, {"period": 14}],
    "mfi": [{}, {"period": 2}, {"period": 30}],
    "roc": [{}, {"period": 1}, {"period": 25}],
    "momentum": [{}, {"period": 1}, {"period": 25}],
    "obv": [{}],
    "adline": [{}],
    "aroon": [{}, {"period": 2}, {"period": 25}],
    "parabolicsar": [{}, {"acceleration": 0.01, "maximum": 0.1}, {"acceleration": 0.2, "maximum": 0.2}],
}

TALIB_CASES = [(t, p) for t in ORACLES for p in PARAMS[t]]


def _case_id(case) -> str:
    t, p = case
    return t + "".join(f"-{k}={v}" for k, v in p.items())


# ---------------------------------------------------------------------------------------------
# 1. TA-Lib oracle on real data
# ---------------------------------------------------------------------------------------------


def test_oracle_table_covers_every_talib_indicator():
    talib_types = {t for t in indicator_types() if "TA-Lib" in get_indicator_spec(t).reference}
    assert talib_types == set(ORACLES)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("case", TALIB_CASES, ids=[_case_id(c) for c in TALIB_CASES])
def test_matches_talib_on_real_data(case, dataset, request):
    type_, params = case
    arrays = request.getfixturevalue(dataset)
    spec = get_indicator_spec(type_)
    resolved = spec.resolve_params(params)
    ours = run(type_, arrays, **params)
    ref = ORACLES[type_](arrays, resolved)
    assert_matches(ours, ref, what=f"{type_}{params} on {dataset}")
    # the registry's lookback is TA-Lib's first valid row, output by output
    for name, a, b in zip(spec.outputs, ours, ref, strict=True):
        lb = spec.lookbacks(resolved)[name]
        assert np.isnan(b[:lb]).all() and not np.isnan(b[lb:]).any(), (type_, name)
        assert np.isnan(a[:lb]).all() and not np.isnan(a[lb:]).any(), (type_, name)


@pytest.mark.parametrize("dataset", DATASETS)
def test_exact_where_talib_arithmetic_is_mirrored(dataset, request):
    """Kernels that keep TA-Lib's operation order reproduce it to the last bit."""
    a = request.getfixturevalue(dataset)
    c, h, l, v = a["close"], a["high"], a["low"], a["volume"]  # noqa: E741
    np.testing.assert_array_equal(run("sma", a)[0], talib.SMA(c, 20))
    np.testing.assert_array_equal(run("rsi", a)[0], talib.RSI(c, 14))
    np.testing.assert_array_equal(run("obv", a)[0], talib.OBV(c, v))
    np.testing.assert_array_equal(run("adline", a)[0], talib.AD(h, l, c, v))
    np.testing.assert_array_equal(run("mfi", a)[0], talib.MFI(h, l, c, v, 14))
    np.testing.assert_array_equal(run("adx", a)[1], talib.PLUS_DI(h, l, c, 14))
    np.testing.assert_array_equal(run("aroon", a)[2], talib.AROONOSC(h, l, 14))


# ---------------------------------------------------------------------------------------------
# 2. TA-Lib oracle on generated bars
# ---------------------------------------------------------------------------------------------


@st.composite
def bars(draw, max_len: int = 70) -> dict[str, np.ndarray]:
    """Valid OHLCV bars on a tick grid: flat stretches, gaps, zero volume, short inputs.

    high >= max(open, close), low <= min(open, close), low > 0.
    """
    n = draw(st.integers(0, max_len))
    base = draw(st.sampled_from([0.0123, 1.1, 97.0, 20_000.0]))
    tick = base * draw(st.sampled_from([1e-4, 1e-3, 3e-2]))
    move = st.one_of(st.integers(-3, 3), st.just(0), st.sampled_from([-80, 80]))  # 0: flat, 80: gap
    steps = np.array(draw(st.lists(move, min_size=n, max_size=n)), dtype=np.float64)
    close = np.maximum(base + tick * np.cumsum(steps), tick)
    if draw(st.booleans()):
        opn = np.concatenate([close[:1], close[:-1]])  # open at the previous close
    else:
        jitter = np.array(draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n)), dtype=np.float64)
        opn = np.maximum(close + tick * jitter, tick)
    wicks = st.lists(st.integers(0, 3), min_size=n, max_size=n)
    up = tick * np.array(draw(wicks), dtype=np.float64)
    down = tick * np.array(draw(wicks), dtype=np.float64)
    high = np.maximum(opn, close) + up
    low = np.minimum(opn, close) - down
    low = np.where(low > 0.0, low, np.minimum(opn, close))
    vol_scale = draw(st.sampled_from([0.001, 1.0, 1e6]))
    volume = vol_scale * np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.float64)
    return {"open": opn, "high": high, "low": low, "close": close, "volume": volume}


def _draw_params(data, type_: str) -> dict:
    """Random valid parameters, kept small so that short inputs cross the lookback."""
    spec = get_indicator_spec(type_)
    p = {}
    for q in spec.params:
        if q.name == "source":
            continue
        if q.kind is int:
            p[q.name] = data.draw(st.integers(int(q.min), 12), label=q.name)
        elif q.kind is float:
            p[q.name] = data.draw(st.sampled_from([0.02, 0.1, 0.5, 1.0, 2.0, 3.3]), label=q.name)
    if type_ == "macd":
        p["slow_period"] = p["fast_period"] + data.draw(st.integers(1, 10), label="slow-fast")
    if type_ == "parabolicsar":
        p["maximum"] = max(p["maximum"], p["acceleration"])
    return p


@pytest.mark.parametrize("type_", sorted(ORACLES))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), arrays=bars())
def test_matches_talib_on_generated_bars(type_, data, arrays):
    params = _draw_params(data, type_)
    spec = get_indicator_spec(type_)
    ours = run(type_, arrays, **params)
    ref = ORACLES[type_](arrays, spec.resolve_params(params))
    assert_matches(ours, ref, what=f"{type_}{params}")


# ---------------------------------------------------------------------------------------------
# 3. Registry contract for every kernel
# ---------------------------------------------------------------------------------------------

#: non-default parameters per type for the contract tests (defaults are always tested)
ALT_PARAMS = {
    "macd": {"fast_period": 3, "slow_period": 7, "signal_period": 1},
    "stochastic": {"k_period": 5, "smooth_k": 1, "d_period": 4},
    "keltner": {"period": 5, "atr_period": 9},
    "squeeze": {"bb_period": 30, "kc_period": 10},
    "ichimoku": {"tenkan": 30, "kijun": 4, "senkou_b": 7},
    "rvi": {"period": 1, "signal_period": 7},
    "distancefromma": {"ma_type": "ema", "period": 7},
    "parabolicsar": {"acceleration": 0.05, "maximum": 0.3},
    "supertrend": {"period": 1},
    "donchian": {"period": 1},
    "vwap": {"period": 1},
}


def _contract_cases():
    cases = []
    for t in indicator_types():
        cases.append((t, {}))
        if t in ALT_PARAMS:
            cases.append((t, ALT_PARAMS[t]))
        elif "period" in get_indicator_spec(t).param_names:
            cases.append((t, {"period": 7}))
    return cases


CONTRACT_CASES = _contract_cases()


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[_case_id(c) for c in CONTRACT_CASES])
def test_leading_nan_rows_equal_registry_lookback(case, eurusd_arrays):
    type_, params = case
    spec = get_indicator_spec(type_)
    lbs = spec.lookbacks(spec.resolve_params(params))
    outs = run(type_, eurusd_arrays, **params)
    assert len(outs) == len(spec.outputs)
    for name, out in zip(spec.outputs, outs, strict=True):
        assert out.dtype == np.float64 and out.shape == eurusd_arrays["close"].shape
        lb = lbs[name]
        assert np.isnan(out[:lb]).all(), f"{type_}.{name}: a value inside the warm-up"
        assert not np.isnan(out[lb:]).any(), f"{type_}.{name}: NaN after the warm-up of {lb}"


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[_case_id(c) for c in CONTRACT_CASES])
def test_no_look_ahead_truncation(case, btc_arrays):
    """Row i depends on bars 0..i only: kernel(bars[:k]) == kernel(bars)[:k], NaN-equal."""
    type_, params = case
    spec = get_indicator_spec(type_)
    lb = max(spec.lookbacks(spec.resolve_params(params)).values())
    full = run(type_, btc_arrays, **params)
    for k in sorted({1, lb, lb + 1, lb + 2, 97, 1000, 4099, 12_345}):
        part = run(type_, {c: a[:k] for c, a in btc_arrays.items()}, **params)
        for name, p_out, f_out in zip(spec.outputs, part, full, strict=True):
            np.testing.assert_array_equal(p_out, f_out[:k], err_msg=f"{type_}.{name} k={k}")


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[_case_id(c) for c in CONTRACT_CASES])
def test_inputs_shorter_than_lookback_give_nan(case, eurusd_arrays):
    type_, params = case
    spec = get_indicator_spec(type_)
    lbs = spec.lookbacks(spec.resolve_params(params))
    for n in range(0, max(lbs.values()) + 3):
        outs = run(type_, {c: a[:n].copy() for c, a in eurusd_arrays.items()}, **params)
        for name, out in zip(spec.outputs, outs, strict=True):
            assert out.shape == (n,)
            assert np.isnan(out[: lbs[name]]).all() and not np.isnan(out[lbs[name]:]).any(), (name, n)


@pytest.mark.parametrize("type_", indicator_types())
def test_kernel_is_a_cached_numba_dispatcher(type_):
    spec = get_indicator_spec(type_)
    kernel = spec.kernel_function()
    assert isinstance(kernel, CPUDispatcher)
    assert isinstance(kernel._cache, FunctionCache), "compiled with cache=True"
    assert kernel.__name__.endswith("_1d_nb")
    assert kernel.targetoptions["nopython"] is True
    doc = inspect.getdoc(kernel) or ""
    assert "Reference" in doc and "Lookback" in doc, f"{kernel.__name__}: docstring names its reference"
    # the kernel takes the registry inputs, then the parameters (source excluded), in order
    names = list(inspect.signature(kernel.py_func).parameters)
    n_inputs = len(spec.inputs)
    assert names[n_inputs:] == [p for p in spec.param_names if p != "source"]


@pytest.mark.parametrize("module", NB_MODULES)
def test_kernel_modules_import_only_numpy_and_numba(module):
    mod = importlib.import_module(f"fuzzyvec.nb.{module}")
    tree = ast.parse(inspect.getsource(mod))
    allowed = {"__future__", "math", "numpy", "numba", "llvmlite"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside fuzzyvec.nb
                continue
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert roots <= allowed, f"fuzzyvec.nb.{module} imports {roots - allowed}"
