"""Backtests (SPEC §7): the engine against the bar-by-bar reference, golden cases, stats, multi-symbol."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from fuzzyvec.backtest.engine import STAT_KEYS, backtest
from fuzzyvec.errors import DataError, StrategyError

from .reference_sim import simulate

N_BARS = 3000
REL = 1e-9


def random_positions(n: int, seed: int) -> np.ndarray:
    """Runs of random positions (mean length ~8 bars) with direct reversals and flat bars."""
    rng = np.random.default_rng(seed)
    return np.repeat(rng.integers(-1, 2, n), rng.integers(1, 16, n))[:n].astype(np.int8)


def arrays(bars: pl.DataFrame) -> dict[str, np.ndarray]:
    return {c: bars[c].to_numpy() for c in ("open", "high", "low", "close")}


def run_reference(bars: pl.DataFrame, positions: np.ndarray, **kw):
    a = arrays(bars)
    return simulate(a["open"], a["high"], a["low"], a["close"], positions, **kw)


def frame(rows: list[tuple[float, float, float, float]], step: timedelta = timedelta(hours=1)) -> pl.DataFrame:
    """A tiny bar frame from (open, high, low, close) rows, hourly from 2024-01-01."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    o, h, lo, c = (list(x) for x in zip(*rows, strict=True))
    return pl.DataFrame({
        "timestamp": pl.Series([t0 + i * step for i in range(len(rows))]).cast(pl.Datetime("us", "UTC")),
        "open": o, "high": h, "low": lo, "close": c, "volume": [1.0] * len(rows),
    })


NO_COSTS = {"fees": 0.0, "slippage": 0.0}


def equity(res) -> np.ndarray:
    return res.equity.drop("timestamp").to_numpy()[:, 0]


# ---------------------------------------------------------------------------------------------
# engine == reference, on real bundled data
# ---------------------------------------------------------------------------------------------

# (fees, slippage, stops, sl_trail, direction, execution, size)
CASES = [
    (0.0, 0.0, False, False, "both", "next_open", 1.0),
    (0.001, 0.0005, False, False, "both", "next_open", 1.0),
    (0.001, 0.0005, True, False, "both", "next_open", 1.0),
    (0.001, 0.0005, True, True, "both", "next_open", 1.0),
    (0.001, 0.0005, True, False, "longonly", "next_open", 1.0),
    (0.0005, 0.0002, True, True, "shortonly", "next_open", 0.5),
    (0.0, 0.0, True, False, "both", "next_open", 0.5),
    (0.001, 0.0005, False, False, "both", "close", 1.0),
    (0.001, 0.0005, True, False, "both", "close", 1.0),
    (0.001, 0.0005, True, True, "longonly", "close", 0.5),
    (0.0, 0.0, True, True, "both", "close", 0.5),
]
# stop distances sized to the instrument so that sl, tp and trail exits all occur
STOPS = {"eurusd": (0.002, 0.003), "btc": (0.004, 0.006)}


@pytest.fixture(scope="module")
def real_bars(eurusd_1h, btc_5m) -> dict[str, tuple[pl.DataFrame, str]]:
    return {"eurusd": (eurusd_1h.head(N_BARS), "1h"), "btc": (btc_5m.head(N_BARS), "5m")}


def _kwargs(case, market):
    fees, slip, stops, trail, direction, execution, size = case
    sl, tp = STOPS[market]
    return {"fees": fees, "slippage": slip, "sl_stop": sl if stops else None,
            "tp_stop": tp if stops else None, "sl_trail": trail, "direction": direction, "execution": execution, "size": size}


@pytest.mark.parametrize("market", ["eurusd", "btc"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_equity_matches_reference(real_bars, market, case):
    bars, tf = real_bars[market]
    pos = random_positions(len(bars), seed=len(CASES) * (market == "btc") + CASES.index(case))
    kw = _kwargs(case, market)
    res = backtest(bars, pos, timeframe=tf, **kw)
    ref = run_reference(bars, pos, **kw)

    np.testing.assert_allclose(equity(res), ref.equity, rtol=REL, atol=0)
    tr = res.trades
    assert res.stats["trades"][0] == len(ref.trades) == tr.height > 10
    assert tr["entry_bar"].to_list() == [t.entry_bar for t in ref.trades]
    assert tr["exit_bar"].to_list() == [t.exit_bar for t in ref.trades]
    assert tr["direction"].to_list() == ["long" if t.direction > 0 else "short" for t in ref.trades]
    assert tr["exit_reason"].to_list() == [t.reason for t in ref.trades]
    np.testing.assert_allclose(tr["exit_price"].to_numpy(), [t.exit_price for t in ref.trades], rtol=REL)
    np.testing.assert_allclose(tr["pnl"].to_numpy(), [t.pnl for t in ref.trades], rtol=0, atol=REL * 10_000)
    assert res.stats["exposure"][0] == pytest.approx(np.mean(ref.in_position), abs=1e-12)
    if kw["sl_stop"] is not None:  # the stops really fired
        assert {"trail" if kw["sl_trail"] else "sl"} <= set(tr["exit_reason"])


# ---------------------------------------------------------------------------------------------
# golden hand-computed cases (tiny synthetic frames)
# ---------------------------------------------------------------------------------------------

# opens 100, 102, 104, 106, 108; each bar closes at its open (a staircase)
STAIRS = frame([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104),
                (106, 107, 105, 106), (108, 109, 107, 108)])


def test_next_open_executes_at_the_next_bars_open():
    # decided long on bars 0-1, flat from bar 2 -> long at bar 1's open (102), out at bar 3's open (106)
    # units = 10000 / 102 = 98.0392...; equity = units * close: 10000, 10000, 10196.08, 10392.16, 10392.16
    res = backtest(STAIRS, [1, 1, 0, 0, 0], **NO_COSTS)
    u = 10_000 / 102
    np.testing.assert_allclose(equity(res), [10_000, 10_000, 104 * u, 106 * u, 106 * u], rtol=1e-12)
    t = res.trades.row(0, named=True)
    assert (t["entry_bar"], t["exit_bar"]) == (1, 3)
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(102.0), pytest.approx(106.0))
    assert t["entry_time"] == STAIRS["timestamp"][1] and t["exit_reason"] == "signal"


def test_close_execution_trades_at_the_same_bars_close():
    # execution: close -> long at bar 0's close (100), out at bar 2's close (104): 100 units, 10400
    res = backtest(STAIRS, [1, 1, 0, 0, 0], execution="close", **NO_COSTS)
    np.testing.assert_allclose(equity(res), [10_000, 10_200, 10_400, 10_400, 10_400], rtol=1e-12)
    t = res.trades.row(0, named=True)
    assert (t["entry_bar"], t["exit_bar"]) == (0, 2)
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(100.0), pytest.approx(104.0))


def test_a_position_decided_on_the_last_bar_is_never_executed():
    assert backtest(STAIRS, [0, 0, 0, 0, 1], **NO_COSTS).trades.height == 0
    # with execution: close it fills at the last close and stays open ("end")
    t = backtest(STAIRS, [0, 0, 0, 0, 1], execution="close", **NO_COSTS).trades.row(0, named=True)
    assert (t["entry_bar"], t["status"], t["exit_reason"]) == (4, "open", "end")


def test_fees_on_both_sides_are_in_the_trade_pnl():
    # fees 1 %: units = 10000 / (102 * 1.01) = 97.068530; entry fee = 102 * units * 0.01 = 99.009901
    # exit at 106: fee = 106 * units * 0.01 = 102.892642
    # pnl = (106 - 102) * units - 99.009901 - 102.892642 = 186.371578; final equity 10186.371578
    res = backtest(STAIRS, [1, 1, 0, 0, 0], fees=0.01, slippage=0.0)
    t = res.trades.row(0, named=True)
    assert t["entry_fees"] == pytest.approx(99.009901, abs=1e-6)
    assert t["exit_fees"] == pytest.approx(102.892642, abs=1e-6)
    assert t["pnl"] == pytest.approx(186.371578, abs=1e-6)
    assert equity(res)[-1] == pytest.approx(10_186.371578, abs=1e-6)
    assert res.stats["fees_paid"][0] == pytest.approx(99.009901 + 102.892642, abs=1e-6)


def test_slippage_moves_both_fills_adversely():
    # slippage 1 %: buy at 102 * 1.01 = 103.02, sell at 106 * 0.99 = 104.94
    t = backtest(STAIRS, [1, 1, 0, 0, 0], fees=0.0, slippage=0.01).trades.row(0, named=True)
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(103.02), pytest.approx(104.94))
    assert t["pnl"] == pytest.approx((104.94 - 103.02) * 10_000 / 103.02, rel=1e-12)


# long entered at bar 1's open (100); sl 5 % -> 95, tp 5 % -> 105
ENTRY = [(100, 100, 100, 100), (100, 101, 99, 100)]


def test_a_bar_touching_both_stops_exits_at_the_stop_loss():
    # bar 2: high 106 >= 105 and low 94 <= 95 -> the stop-loss wins: exit at 95, equity 9500
    bars = frame([*ENTRY, (100, 106, 94, 100), (100, 100, 100, 100)])
    res = backtest(bars, [1, 1, 1, 1], sl_stop=0.05, tp_stop=0.05, **NO_COSTS)
    t = res.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (2, pytest.approx(95.0), "sl")
    assert equity(res)[-1] == pytest.approx(9_500.0, rel=1e-12)
    # the short mirror: sl 105, tp 95, both touched -> exit at 105 (equity 10000 - 100 * 5 = 9500)
    t = backtest(bars, [-1, -1, -1, -1], sl_stop=0.05, tp_stop=0.05, **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_price"], t["exit_reason"]) == (pytest.approx(105.0), "sl")


def test_a_gap_through_a_stop_fills_at_the_open():
    # bar 2 opens at 90, below the stop at 95: fill at 90 (not 95), equity 100 units * 90 = 9000
    res = backtest(frame([*ENTRY, (90, 92, 88, 91), (91, 91, 91, 91)]), [1, 1, 1, 1], sl_stop=0.05, **NO_COSTS)
    t = res.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (2, pytest.approx(90.0), "sl")
    assert equity(res)[-1] == pytest.approx(9_000.0, rel=1e-12)
    # a gap through the take-profit (105) fills at the open too: 110 -> 11000
    t = backtest(frame([*ENTRY, (110, 112, 108, 111), (111, 111, 111, 111)]), [1, 1, 1, 1], tp_stop=0.05,
                 **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_price"], t["exit_reason"]) == (pytest.approx(110.0), "tp")


def test_stops_are_live_on_the_entry_bar():
    # next_open: the long enters at bar 1's open (100) and bar 1's own low (90) reaches the stop
    # (95): it is stopped on the entry bar, at 95, as backtesting.py does
    bars = frame([(100,) * 4, (100, 101, 90, 100), (100, 100, 96, 98), (98, 98, 94, 95)])
    t = backtest(bars, [1] * 4, sl_stop=0.05, **NO_COSTS).trades.row(0, named=True)
    assert (t["entry_bar"], t["exit_bar"], t["exit_price"], t["exit_reason"]) == (1, 1, pytest.approx(95.0), "sl")
    # the take-profit too (high 106 >= 105); a bar touching both exits at the stop-loss
    up = frame([(100,) * 4, (100, 106, 99, 100), (100,) * 4])
    t = backtest(up, [1] * 3, tp_stop=0.05, **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (1, pytest.approx(105.0), "tp")
    both = frame([(100,) * 4, (100, 106, 94, 100), (100,) * 4])
    t = backtest(both, [1] * 3, sl_stop=0.05, tp_stop=0.05, **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_reason"]) == (1, "sl")
    # a reversal at the open arms the new position's stops on the same bar: short entered at
    # bar 2's open (100) is stopped at 105 by bar 2's high
    rev = frame([(100,) * 4, (100, 101, 99, 100), (100, 106, 99, 100), (100,) * 4])
    t = backtest(rev, [1, -1, -1, -1], sl_stop=0.05, **NO_COSTS).trades.row(1, named=True)
    assert (t["direction"], t["entry_bar"], t["exit_bar"], t["exit_price"]) == ("short", 2, 2, pytest.approx(105.0))
    # under execution: close the entry fills at bar 0's close: bar 0's range is before it
    t = backtest(bars, [1] * 4, sl_stop=0.05, execution="close", **NO_COSTS).trades.row(0, named=True)
    assert (t["entry_bar"], t["exit_bar"]) == (0, 1)


def test_trailing_stop_on_the_entry_bar_trails_from_the_fill():
    # the trailing stop is checked on the entry bar from the fill (100 * 0.9 = 90); the bar's
    # high (110) raises it after the check, to 99, which bar 2 (low 98) hits
    bars = frame([(100,) * 4, (100, 110, 95, 108), (108, 108, 98, 100), (100,) * 4])
    t = backtest(bars, [1] * 4, sl_stop=0.1, sl_trail=True, **NO_COSTS).trades.row(0, named=True)
    assert (t["entry_bar"], t["exit_bar"], t["exit_price"], t["exit_reason"]) == (1, 2, pytest.approx(99.0), "trail")


def test_a_signal_at_the_open_comes_before_the_stop():
    # next_open: the exit decided on bar 2 fills at bar 3's open (100) even though bar 3's low
    # (90) is below the stop (95); under execution: close the stop (hit during the bar) wins
    bars = frame([(100,) * 4, (100, 101, 99, 100), (100, 100, 99, 100), (100, 100, 90, 92), (92,) * 4])
    t = backtest(bars, [1, 1, 0, 0, 0], sl_stop=0.05, **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (3, pytest.approx(100.0), "signal")
    t = backtest(bars, [1, 1, 1, 0, 0], sl_stop=0.05, execution="close", **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (3, pytest.approx(95.0), "sl")


def test_trailing_stop_follows_the_highest_high():
    # highs 110, 120 raise the stop to 120 * 0.9 = 108; bar 4 (low 105) exits at 108
    bars = frame([*ENTRY, (100, 110, 100, 110), (110, 120, 110, 115), (115, 115, 105, 106), (106,) * 4])
    t = backtest(bars, [1] * 6, sl_stop=0.1, sl_trail=True, **NO_COSTS).trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (4, pytest.approx(108.0), "trail")


def test_after_a_stop_the_position_stays_flat_until_the_decision_changes():
    bars = frame([*ENTRY, (100, 100, 90, 92), (92,) * 4, (92,) * 4, (92,) * 4, (92,) * 4])
    stopped = backtest(bars, [1] * 7, sl_stop=0.05, **NO_COSTS)
    assert stopped.trades.height == 1 and stopped.trades["exit_bar"][0] == 2
    # long -> flat on bar 3 -> long on bar 4: a new entry at bar 5's open
    again = backtest(bars, [1, 1, 1, 0, 1, 1, 1], sl_stop=0.05, **NO_COSTS)
    assert again.trades["entry_bar"].to_list() == [1, 5]


def test_reversal_long_to_short_at_the_same_open():
    # long at bar 1's open (100): 100 units; bar 3 opens at 120: sell 100 (cash 12000) and short
    # 12000 / 120 = 100 units; bar 4 opens at 100: cover, +20 * 100 -> 14000
    bars = frame([(100,) * 4, (100, 110, 100, 110), (110, 120, 110, 120), (120, 120, 100, 100),
                  (100, 100, 90, 90), (90,) * 4])
    pos = [1, 1, -1, 0, 0, 0]
    res = backtest(bars, pos, **NO_COSTS)
    np.testing.assert_allclose(equity(res), [10_000, 11_000, 12_000, 14_000, 14_000, 14_000], rtol=1e-12)
    assert res.trades["direction"].to_list() == ["long", "short"]
    assert res.trades["exit_bar"][0] == res.trades["entry_bar"][1] == 3
    # size 0.5: long 50 units; at 120 equity 11000 -> short 0.5 * 11000 / 120 = 45.8333 units;
    # cover at 100: 11000 + 45.8333 * 20 = 11916.67
    half = backtest(bars, pos, size=0.5, **NO_COSTS)
    assert equity(half)[-1] == pytest.approx(11_000 + 0.5 * 11_000 / 120 * 20, rel=1e-12)


def test_close_execution_enters_after_a_stop_on_the_same_bar():
    # long at bar 0's close (100), sl 5 %; bar 1 hits 95 and the decision reverses on bar 1:
    # stop exit at 95 (9500), then a short at bar 1's close (96): 9500 / 96 units
    bars = frame([(100,) * 4, (100, 100, 94, 96), (96, 96, 90, 90)])
    res = backtest(bars, [1, -1, -1], sl_stop=0.05, execution="close", **NO_COSTS)
    assert res.trades["exit_reason"].to_list() == ["sl", "end"]
    assert res.trades["entry_price"][1] == pytest.approx(96.0)
    assert equity(res)[-1] == pytest.approx(9_500 + 9_500 / 96 * 6, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eur_result(real_bars):
    bars, tf = real_bars["eurusd"]
    pos = random_positions(len(bars), seed=99)
    return bars, pos, backtest(bars, pos, timeframe=tf, sl_stop=0.002, tp_stop=0.003)


def test_stats_keys_and_identities(eur_result):
    bars, pos, res = eur_result
    s = res.stats.row(0, named=True)
    assert res.stats.columns == ["symbol", *STAT_KEYS]
    assert s["total_return"] == pytest.approx(s["final_equity"] / s["init_cash"] - 1, rel=1e-12)
    assert s["final_equity"] == pytest.approx(equity(res)[-1], rel=1e-12)
    assert s["buy_and_hold_return"] == pytest.approx(bars["close"][-1] / bars["open"][0] - 1, rel=1e-12)
    assert s["trades"] == len(run_reference(bars, pos, sl_stop=0.002, tp_stop=0.003).trades)
    assert s["fees_paid"] == pytest.approx(res.trades["entry_fees"].sum() + res.trades["exit_fees"].sum())
    closed = res.trades.filter(pl.col("status") == "closed")
    assert s["win_rate"] == pytest.approx((closed["pnl"] > 0).mean())
    assert s["expectancy"] == pytest.approx(closed["pnl"].mean(), rel=1e-9)
    eq = np.r_[s["init_cash"], equity(res)]
    assert s["max_drawdown"] == pytest.approx(np.max(1 - eq / np.maximum.accumulate(eq)), rel=1e-9)
    assert s["start"] == bars["timestamp"][0] and s["end"] == bars["timestamp"][-1]
    json.dumps(res.metrics(), allow_nan=False)


def test_annualisation_uses_the_bar_frequency(eur_result):
    bars, pos, res = eur_result
    s = res.stats.row(0, named=True)
    assert s["bars_per_year"] == 365 * 24  # 1h bars
    eq = np.r_[s["init_cash"], equity(res)]
    r = eq[1:] / eq[:-1] - 1
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760), rel=1e-9)
    assert s["cagr"] == pytest.approx((1 + s["total_return"]) ** (8760 / len(r)) - 1, rel=1e-9)
    fx = backtest(bars, pos, timeframe="1h", sl_stop=0.002, tp_stop=0.003, bars_per_year=6240).stats
    assert fx["sharpe"][0] == pytest.approx(s["sharpe"] * math.sqrt(6240 / 8760), rel=1e-9)
    assert fx["total_return"][0] == s["total_return"]
    # the frequency is inferred from the bar spacing when no timeframe is given
    assert backtest(bars.head(50), pos[:50]).stats["bars_per_year"][0] == 8760


def test_no_trades_gives_empty_trades_and_undefined_ratios():
    res = backtest(STAIRS, [0] * 5)
    s = res.stats.row(0, named=True)
    assert res.trades.height == 0 and res.trades.schema["exit_reason"] == pl.String
    assert (s["trades"], s["total_return"], s["max_drawdown"], s["fees_paid"], s["exposure"]) == (0, 0, 0, 0, 0)
    assert math.isnan(s["sharpe"]) and math.isnan(s["win_rate"])
    assert res.metrics()["asset"]["sharpe"] is None


def test_bad_inputs_are_clear_errors():
    with pytest.raises(StrategyError, match="fes"):
        backtest(STAIRS, [0] * 5, fes=0.0)
    with pytest.raises(ValueError, match="shape"):
        backtest(STAIRS, [0] * 4)
    with pytest.raises(ValueError, match=r"-1, 0 or \+1"):
        backtest(STAIRS, [0, 2, 0, 0, 0])


# ---------------------------------------------------------------------------------------------
# multi-symbol
# ---------------------------------------------------------------------------------------------


def test_two_symbols_in_one_simulation_equal_two_single_runs(btc_5m, eth_5m):
    btc, eth = btc_5m.head(2000), eth_5m.head(2000)
    assert btc["timestamp"].equals(eth["timestamp"])
    pos = {"BTCUSDT": random_positions(2000, 1), "ETHUSDT": random_positions(2000, 2)}
    kw = {"timeframe": "5m", "sl_stop": 0.004, "tp_stop": 0.006}
    both = backtest({"BTCUSDT": btc, "ETHUSDT": eth}, pos, **kw)
    assert list(both.portfolio.wrapper.get_columns()) == ["BTCUSDT", "ETHUSDT"]
    assert both.equity.columns == ["timestamp", "BTCUSDT", "ETHUSDT"]
    for sym, bars in (("BTCUSDT", btc), ("ETHUSDT", eth)):
        one = backtest(bars, pos[sym], symbol=sym, **kw)
        np.testing.assert_allclose(both.equity[sym].to_numpy(), one.equity[sym].to_numpy(), rtol=1e-12)
        assert both.trades.filter(pl.col("symbol") == sym).equals(one.trades)
        row = both.stats.filter(pl.col("symbol") == sym)
        for key in ("total_return", "sharpe", "max_drawdown", "trades", "exposure", "fees_paid"):
            assert row[key][0] == pytest.approx(one.stats[key][0], rel=1e-12, nan_ok=True)


def test_symbols_must_share_timestamps(btc_5m, eth_5m):
    with pytest.raises(DataError, match="identical timestamps"):
        backtest({"BTCUSDT": btc_5m.head(100), "ETHUSDT": eth_5m.slice(1, 100)},
                 {"BTCUSDT": np.zeros(100), "ETHUSDT": np.zeros(100)})
