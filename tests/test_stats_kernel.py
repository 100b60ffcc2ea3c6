"""The stats kernels against vectorbt's own accessors (the oracle).

``portfolio_stats_nb`` rebuilds each group's equity curve from the order records instead of
calling ``pf.value()`` & co. (which build and copy (bars × columns) frames). These tests run
real simulations with fees, slippage, stops, trailing stops, both execution modes, reversals,
partial sizing and several init cash levels, and require the kernel's numbers to equal the
accessors' exactly (NaN where they are NaN).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import fuzzyvec as fv
from fuzzyvec.backtest.engine import Columns, ohlc_arrays, resolve_backtest_config, simulate
from fuzzyvec.nb.backtest import STATS_FIELDS, portfolio_stats_nb, value_stats_nb

FREQ = timedelta(minutes=5)
YEAR = timedelta(days=365)


def _oracle(pf, value: np.ndarray | None = None, init: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """STATS_FIELDS through vectorbt's accessors (what stats_frame computed before the kernel)."""
    import vectorbt as vbt

    if value is None:
        acc = pf.get_returns_acc(year_freq=pd.Timedelta(YEAR))
        dd = pf.drawdowns
        n, m = pf.wrapper.shape_2d[0], len(pf.wrapper.get_columns())
        exposure = np.asarray(pf.position_mask(), dtype=np.float64).reshape(n, m).mean(axis=0)
    else:
        df = pd.DataFrame(value, index=pf.wrapper.index)
        acc = df.vbt.returns.from_value(df, init_value=init, freq=pd.Timedelta(FREQ), year_freq=pd.Timedelta(YEAR))
        dd = vbt.Drawdowns.from_ts(df, wrapper_kwargs={"freq": pd.Timedelta(FREQ)})
        exposure = np.full(value.shape[1], np.nan)

    def v(x):
        return np.asarray(x, dtype=np.float64).reshape(-1)

    return {"cagr": v(acc.annualized()), "sharpe": v(acc.sharpe_ratio()), "sortino": v(acc.sortino_ratio()),
            "calmar": v(acc.calmar_ratio()), "max_drawdown": v(acc.max_drawdown()),
            "max_drawdown_duration_bars": v(dd.max_duration(wrap_kwargs={"to_timedelta": False})),
            "exposure": exposure}


def _kernel(pf, close: np.ndarray) -> np.ndarray:
    group_lens = np.asarray(pf.wrapper.grouper.get_group_lens(), dtype=np.int64)
    legs = np.repeat(np.arange(len(group_lens)), group_lens)
    close_col = np.zeros(len(legs), dtype=np.int64) if close.shape[1] == 1 else legs
    col_idxs, col_lens = pf.orders.col_mapper.col_map
    return portfolio_stats_nb(pf.order_records, col_idxs, col_lens, group_lens, close, close_col,
                              np.asarray(pf.init_cash, dtype=np.float64).reshape(-1),
                              float(pd.Timedelta(YEAR) / pd.Timedelta(FREQ)))


def _assert_same(got: np.ndarray, want: dict[str, np.ndarray]) -> None:
    for j, key in enumerate(STATS_FIELDS):
        np.testing.assert_array_equal(got[:, j], want[key], err_msg=key)


def _positions(n: int, seed: int, m: int) -> np.ndarray:
    """Sticky random positions in {-1, 0, 1}: runs of a few to a few hundred bars."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, m), dtype=np.int8)
    for j in range(m):
        change = rng.random(n) < rng.uniform(0.005, 0.05)
        draws = rng.integers(-1, 2, size=n)
        cur = 0
        for i in range(n):
            if change[i]:
                cur = draws[i]
            out[i, j] = cur
    return out


CONFIGS = [
    {},
    {"fees": 0.001, "slippage": 0.0005},
    {"sl_stop": 0.004, "tp_stop": 0.006, "fees": 0.0005},
    {"sl_stop": 0.003, "sl_trail": True, "execution": "close"},
    {"size": 0.5, "tp_stop": 0.01, "init_cash": 2_500.0},
    {"execution": "close", "fees": 0.002, "sl_stop": 0.01, "tp_stop": 0.002},
    {"size": 0.25, "slippage": 0.001, "init_cash": 123_456.0, "sl_stop": 0.002},
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_portfolio_stats_equal_vectorbt_accessors(btc_5m, seed):
    bars = btc_5m.slice(seed * 7_000, 6_000)
    index, ohlc = ohlc_arrays({"asset": bars})
    configs = [resolve_backtest_config(None, c) for c in CONFIGS]
    cols = Columns.from_configs(configs, list(range(len(configs))), "combination")
    positions = _positions(len(index), seed, len(configs))
    pf, _ = simulate(ohlc, index, positions, cols, FREQ)
    assert len(pf.order_records) > 50 * len(configs)  # real trading, stops included
    _assert_same(_kernel(pf, ohlc["close"]), _oracle(pf))


def test_multi_symbol_columns_use_their_own_close(btc_5m, eth_5m):
    n = 5_000
    index, ohlc = ohlc_arrays({"BTCUSDT": btc_5m.head(n), "ETHUSDT": eth_5m.head(n)})
    cfg = resolve_backtest_config(None, {"fees": 0.001, "sl_stop": 0.005})
    cols = Columns.from_configs([cfg, cfg], ["BTCUSDT", "ETHUSDT"], "symbol")
    pf, _ = simulate(ohlc, index, _positions(n, 7, 2), cols, FREQ)
    assert ohlc["close"].shape[1] == 2
    _assert_same(_kernel(pf, ohlc["close"]), _oracle(pf))


def test_flat_and_always_long_edge_cases(btc_5m):
    """No orders at all (no drawdown, zero volatility) and a position held to the end."""
    n = 800
    index, ohlc = ohlc_arrays({"asset": btc_5m.head(n)})
    cfg = resolve_backtest_config(None, {})
    cols = Columns.from_configs([cfg, cfg], [0, 1], "combination")
    positions = np.zeros((n, 2), dtype=np.int8)
    positions[:, 1] = 1
    pf, _ = simulate(ohlc, index, positions, cols, FREQ)
    got = _kernel(pf, ohlc["close"])
    _assert_same(got, _oracle(pf))
    assert np.isnan(got[0, 5]) and got[0, 6] == 0.0 and got[0, 1] == np.inf  # flat: vectorbt's inf Sharpe
    assert got[1, 6] == pytest.approx((n - 1) / n)  # next_open: in position from bar 1 on


def test_value_stats_equal_vectorbt_on_a_given_curve(btc_5m):
    rng = np.random.default_rng(3)
    value = 1_000.0 * np.cumprod(1.0 + rng.normal(0.0, 0.002, size=(3_000, 3)), axis=0)
    value[:, 2] = 1_000.0  # flat curve
    init = np.array([1_000.0, 1_000.0, 1_000.0])
    index, ohlc = ohlc_arrays({"asset": btc_5m.head(3_000)})
    cols = Columns.from_configs([resolve_backtest_config(None, {})], [0], "combination")
    pf, _ = simulate(ohlc, index, np.zeros((3_000, 1), dtype=np.int8), cols, FREQ)
    got = value_stats_nb(value, init, float(pd.Timedelta(YEAR) / pd.Timedelta(FREQ)))
    _assert_same(got, _oracle(pf, value, init))


def test_stats_frame_and_sweep_use_the_kernel_numbers(btc_5m):
    """The public tables carry the kernel's values (signs and units as documented)."""
    bars = btc_5m.head(4_000)
    rng = np.random.default_rng(11)
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=bars.height)
    res = fv.sweep(bars, probs, {"confidence_threshold": 0.5}, {"fees": 0.001},
                   {"sl_stop": [0.003, 0.01], "tp_stop": [0.004, None]}, timeframe="5m")
    pf = res.portfolio
    want = _oracle(pf)
    t = res.table
    np.testing.assert_array_equal(t["cagr"].to_numpy(), want["cagr"])
    np.testing.assert_array_equal(t["max_drawdown"].to_numpy(), np.abs(want["max_drawdown"]))
    np.testing.assert_array_equal(t["exposure"].to_numpy(), want["exposure"])
    np.testing.assert_array_equal(t["sharpe"].to_numpy(), np.where(np.isfinite(want["sharpe"]), want["sharpe"], np.nan))
