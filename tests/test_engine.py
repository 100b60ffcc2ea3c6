"""The engine kernel and vectorbt as its analytics layer (SPEC §7).

- vectorbt's own ``Portfolio``, built from the kernel's order records, gives the kernel's
  equity, trades and statistics (value, trade P&L, returns statistics, drawdowns, trade stats);
- on position series where no stop is touched on an entry bar, vectorbt's own native
  simulation (``Portfolio.from_signals``) agrees with the engine (keeps us honest against the
  library);
- nothing imports vectorbt until the portfolio is asked for.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest

from fuzzyvec.backtest.engine import backtest
from fuzzyvec.nb.engine import METRICS, ORDER_DT

from .test_backtest import random_positions

N = 4000
CONFIGS = [
    {"fees": 0.001, "slippage": 0.0005},
    {"fees": 0.001, "slippage": 0.0005, "sl_stop": 0.004, "tp_stop": 0.006},
    {"fees": 0.0005, "slippage": 0.0, "sl_stop": 0.005, "sl_trail": True, "size": 0.6},
    {"fees": 0.001, "slippage": 0.0002, "sl_stop": 0.004, "tp_stop": 0.01, "execution": "close"},
]


def test_order_records_are_vectorbts_order_dt():
    from vectorbt.portfolio.enums import order_dt

    assert ORDER_DT == order_dt


@pytest.fixture(scope="module")
def results(btc_5m):
    bars = btc_5m.head(N)
    return [(cfg, backtest(bars, random_positions(N, seed=k + 40), timeframe="5m", **cfg))
            for k, cfg in enumerate(CONFIGS)]


@pytest.mark.parametrize("k", range(len(CONFIGS)))
def test_vectorbt_rebuilt_from_the_records_equals_the_kernel(results, k):
    _cfg, res = results[k]
    pf = res.portfolio
    eq = res.equity["asset"].to_numpy()
    np.testing.assert_allclose(pf.value().to_numpy(), eq, rtol=1e-12)
    vt = pf.trades.records_readable
    tr = res.trades
    assert len(vt) == tr.height > 20
    np.testing.assert_array_equal(vt["Entry Timestamp"].to_numpy(), tr["entry_time"].dt.replace_time_zone(None).to_numpy())
    np.testing.assert_array_equal(vt["Exit Timestamp"].to_numpy(), tr["exit_time"].dt.replace_time_zone(None).to_numpy())
    np.testing.assert_allclose(vt["PnL"].to_numpy(), tr["pnl"].to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(vt["Avg Exit Price"].to_numpy(), tr["exit_price"].to_numpy(), rtol=1e-12)
    assert (vt["Direction"].str.lower().to_numpy() == tr["direction"].to_numpy()).all()
    s = res.stats.row(0, named=True)
    rets = pf.returns_acc
    assert s["sharpe"] == pytest.approx(float(rets.sharpe_ratio()), rel=1e-9)
    assert s["sortino"] == pytest.approx(float(rets.sortino_ratio()), rel=1e-9)
    assert s["cagr"] == pytest.approx(float(rets.annualized()), rel=1e-9)
    assert s["calmar"] == pytest.approx(float(rets.calmar_ratio()), rel=1e-9)
    assert s["max_drawdown"] == pytest.approx(-float(rets.max_drawdown()), rel=1e-9)
    assert s["max_drawdown_duration_bars"] == pf.drawdowns.max_duration() / pd.Timedelta("5min")
    closed = pf.trades.closed
    assert s["win_rate"] == pytest.approx(float(closed.win_rate()), rel=1e-12)
    assert s["profit_factor"] == pytest.approx(float(closed.profit_factor()), rel=1e-9)
    assert s["expectancy"] == pytest.approx(float(closed.expectancy()), rel=1e-9)
    assert s["trades"] == int(pf.trades.count())
    assert s["fees_paid"] == pytest.approx(float(pf.orders.fees.sum()), rel=1e-12)
    assert s["final_equity"] == pytest.approx(float(pf.final_value()), rel=1e-12)
    assert s["total_return"] == pytest.approx(float(pf.total_return()), rel=1e-12)


def _no_entry_bar_touch(bars: pl.DataFrame, pos: np.ndarray, sl: float, tp: float) -> np.ndarray:
    """Positions whose entries' own bar (next open under next_open) never reaches a stop level."""
    o, h, lo = (bars[c].to_numpy() for c in ("open", "high", "low"))
    target = np.concatenate([[0], pos[:-1]])
    prev = np.concatenate([[0], target[:-1]])
    out = pos.copy()
    for i in np.flatnonzero((target != prev) & (target != 0)):
        side = target[i]
        stop, take = o[i] * (1 - side * sl), o[i] * (1 + side * tp)
        touched = (lo[i] <= stop or h[i] >= take) if side > 0 else (h[i] >= stop or lo[i] <= take)
        if touched:  # do not enter there: hold the previous decision instead
            out[i - 1] = out[i - 2] if i >= 2 else 0
    return out


@pytest.fixture(scope="module")
def skip_callbacks():
    """vectorbt checks a bar's stops before its signal; the SPEC fills a next-open signal first.

    These ``adjust_*_func_nb`` callbacks switch the stops off on bars where a signal closes
    the position at the open (the position no longer exists when the bar's range happens).
    """
    from numba import njit

    @njit
    def skip_sl(c, skip):
        if c.position_now != 0 and skip[c.i]:
            return np.nan, False
        return c.curr_stop, c.curr_trail

    @njit
    def skip_tp(c, skip):
        if c.position_now != 0 and skip[c.i]:
            return np.nan
        return c.curr_stop

    return skip_sl, skip_tp


def test_vectorbt_native_simulation_agrees_without_entry_bar_touches(btc_5m, skip_callbacks):
    import vectorbt as vbt

    bars = btc_5m.head(N)
    sl, tp = 0.004, 0.006
    pos = random_positions(N, seed=7)
    pos[pos < 0] = 0  # one long-only column: from_signals' own semantics, no cash-sharing legs
    for _ in range(5):  # removing one touching entry can create another
        pos = _no_entry_bar_touch(bars, pos, sl, tp)
    res = backtest(bars, pos, timeframe="5m", fees=0.001, slippage=0.0, sl_stop=sl, tp_stop=tp)
    assert res.trades.height > 20 and set(res.trades["exit_reason"]) >= {"sl", "tp"}
    target = np.concatenate([[0], pos[:-1]])
    prev = np.concatenate([[0], target[:-1]])
    close = pd.Series(bars["close"].to_numpy(), index=pd.DatetimeIndex(bars["timestamp"].dt.replace_time_zone(None)))
    exits = (target != 1) & (prev == 1)
    pf = vbt.Portfolio.from_signals(
        close, entries=(target == 1) & (prev != 1), exits=exits,
        price=-np.inf, open=bars["open"].to_numpy(), high=bars["high"].to_numpy(), low=bars["low"].to_numpy(),
        size=1.0, size_type="percent", fees=0.001, sl_stop=sl, tp_stop=tp, stop_entry_price="fillprice",
        stop_exit_price="stopmarket", upon_stop_exit="close", init_cash=10_000.0, freq="5min",
        adjust_sl_func_nb=skip_callbacks[0], adjust_sl_args=(exits,),
        adjust_tp_func_nb=skip_callbacks[1], adjust_tp_args=(exits,))
    # vectorbt takes one order per bar and column, so it cannot stop a position on its entry bar;
    # on position series where no entry bar touches a stop, the two simulations are the same path
    np.testing.assert_allclose(pf.value().to_numpy(), res.equity["asset"].to_numpy(), rtol=1e-9)
    assert int(pf.trades.count()) == res.trades.height


def test_importing_and_backtesting_do_not_import_vectorbt():
    code = ("import sys, numpy as np, fuzzyvec as fv; "
            "b = fv.load_ohlcv(fv.sample_data_dir() / 'EURUSD_1h.parquet').head(500); "
            "r = fv.backtest(b, np.sign(np.sin(np.arange(500) / 9)).astype(int), timeframe='1h', sl_stop=0.002); "
            "assert r.trades.height > 0; print('vectorbt' in sys.modules); "
            "r.portfolio; print('vectorbt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_metrics_names_are_unique_and_complete():
    assert len(set(METRICS)) == len(METRICS)
    assert {"sharpe", "sortino", "cagr", "calmar", "max_drawdown", "trades", "exposure", "ret_skew",
            "ret_kurtosis"} <= set(METRICS)
