"""External predictions (SPEC §8): loading, validation, the backtest against a reference.

Random prediction files over the bundled 5m bars are simulated by the engine kernel
(:func:`fuzzyvec.backtest.predictions.backtest_predictions`) and by the plain-Python reference in
``tests/reference_predictions.py``: equity curves agree to 1e-9 and every trade agrees.
Hand-computed cases on tiny synthetic bars pin the rules; every bad-file case must raise a
``DataError`` naming the file, the row and the timestamp.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from fuzzyvec.backtest.predictions import (
    backtest_predictions,
    load_predictions,
    predictions_from_probs,
    write_predictions_csv,
)
from fuzzyvec.errors import DataError

from .reference_predictions import simulate_predictions

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)


def ts(i: int) -> datetime:
    return T0 + i * STEP


def make_bars(ohlc: list[tuple[float, float, float, float]]) -> pl.DataFrame:
    """Synthetic 5m bars from (open, high, low, close) tuples, starting 2024-01-01 00:00 UTC."""
    o, h, lo, c = ([float(v) for v in x] for x in zip(*ohlc, strict=True))
    return pl.DataFrame({"timestamp": [ts(i) for i in range(len(o))], "open": o, "high": h, "low": lo,
                         "close": c, "volume": [1.0] * len(o)}).with_columns(
        pl.col("timestamp").dt.cast_time_unit("us"))


def make_preds(rows: dict[int, tuple[str, float, float | None, float | None]]) -> pl.DataFrame:
    """A prediction frame from ``{bar: (signal, confidence, stop_loss, take_profit)}``."""
    keys = sorted(rows)
    return pl.DataFrame({
        "timestamp": [ts(i) for i in keys],
        "signal": [rows[i][0] for i in keys],
        "confidence": [float(rows[i][1]) for i in keys],
        "stop_loss": pl.Series([rows[i][2] for i in keys], dtype=pl.Float64),
        "take_profit": pl.Series([rows[i][3] for i in keys], dtype=pl.Float64),
    }).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def run(bars: pl.DataFrame, rows: dict, **kw):
    kw.setdefault("init_cash", 1000.0)
    return backtest_predictions(bars, make_preds(rows), **kw)


def trade_tuples(res) -> list[tuple]:
    t = res.trades
    return list(zip(t["direction"], t["entry_bar"], t["entry_price"], t["exit_bar"], t["exit_price"],
                    t["exit_reason"], strict=True))


# ---------------------------------------------------------------------------------------------
# the engine == the plain-Python reference on real bars
# ---------------------------------------------------------------------------------------------


def random_predictions(bars: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, dict]:
    """Signals in persistent regimes, random confidences, stops 0.05-0.6 % and targets
    0.05-0.8 % from the bar's open, 10 % of rows missing."""
    rng = np.random.default_rng(seed)
    n = bars.height
    o = bars["open"].to_numpy()
    state = np.empty(n, dtype=np.int64)
    state[0] = 0
    flips = rng.random(n) < 0.3
    draws = rng.choice([1, -1, 0], n, p=[0.4, 0.4, 0.2])
    for i in range(1, n):
        state[i] = draws[i] if flips[i] else state[i - 1]
    conf = rng.random(n)
    sl_d, tp_d = rng.uniform(0.0005, 0.006, n), rng.uniform(0.0005, 0.008, n)
    sl = np.where(state != 0, o * (1 - state * sl_d), np.nan)
    tp = np.where(state != 0, o * (1 + state * tp_d), np.nan)
    keep = rng.random(n) > 0.1
    names = np.array(["short", "neutral", "long"])[state + 1]
    frame = pl.DataFrame({"timestamp": bars["timestamp"], "signal": names, "confidence": conf,
                          "stop_loss": sl, "take_profit": tp}).filter(pl.Series(keep))
    rows = {int(i): (str(names[i]), float(conf[i]), float(sl[i]), float(tp[i])) for i in np.flatnonzero(keep)}
    return frame, rows


@pytest.mark.parametrize("share_class", ["USDT", "BTC"])
def test_vectorbt_from_the_records_equals_the_engine(btc_5m, share_class):
    bars = btc_5m.slice(5000, 2000)
    frame, _ = random_predictions(bars, 9)
    res = backtest_predictions(bars, frame, fees=0.001, slippage=0.0005, share_class=share_class)
    pf = res.portfolio  # quote currency, from the kernel's order records
    value = pf.value().to_numpy()
    expected = value / bars["close"].to_numpy() if share_class == "BTC" else value
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), expected, rtol=1e-12)
    vt = pf.trades.records_readable
    assert len(vt) == res.trades.height > 50
    np.testing.assert_allclose(vt["PnL"].to_numpy(), res.trades["pnl"].to_numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(vt["Avg Exit Price"].to_numpy(), res.trades["exit_price"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("symbol", ["btc", "eth"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("costs", [(0.0, 0.0), (0.001, 0.0005)], ids=["free", "costs"])
@pytest.mark.parametrize("share_class", ["USDT", "BTC"])
def test_matches_reference_on_real_bars(request, symbol, seed, costs, share_class):
    data = request.getfixturevalue(f"{symbol}_5m")
    start = int(np.random.default_rng(seed).integers(0, data.height - 3000))
    bars = data.slice(start, 3000)
    frame, rows = random_predictions(bars, seed)
    fees, slippage = costs
    res = backtest_predictions(bars, frame, fees=fees, slippage=slippage, share_class=share_class)
    ref_eq, ref_trades = simulate_predictions({k: bars[k].to_list() for k in ("open", "high", "low", "close")},
                                              rows, threshold=0.65, init_cash=10_000.0, fees=fees,
                                              slippage=slippage, share_class=share_class)
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), ref_eq, rtol=1e-9, atol=0)
    t = res.trades
    assert t.height == len(ref_trades) == res.stats["trades"] > 20
    assert t["direction"].to_list() == ["long" if r.direction == 1 else "short" for r in ref_trades]
    assert t["entry_bar"].to_list() == [r.entry_bar for r in ref_trades]
    assert t["exit_bar"].to_list() == [r.exit_bar for r in ref_trades]
    assert t["exit_reason"].to_list() == [r.reason for r in ref_trades]
    assert set(t["exit_reason"]) == {"sl", "tp", "close"}  # every exit kind is exercised
    np.testing.assert_allclose(t["entry_price"].to_numpy(), [r.entry_price for r in ref_trades], rtol=1e-12)
    np.testing.assert_allclose(t["exit_price"].to_numpy(), [r.exit_price for r in ref_trades], rtol=1e-12)
    np.testing.assert_allclose(t["size"].to_numpy(), [r.size for r in ref_trades], rtol=1e-9)
    np.testing.assert_allclose(t["pnl"].to_numpy(), [r.pnl for r in ref_trades], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.stats["final_equity"], ref_eq[-1], rtol=1e-9)
    np.testing.assert_allclose(res.stats["total_return"], ref_eq[-1] / 10_000.0 - 1, rtol=1e-9, atol=1e-12)
    held = (t["exit_bar"] > t["entry_bar"]).sum()
    assert held > 0  # some positions were held across bars


# ---------------------------------------------------------------------------------------------
# hand-computed cases (fees and slippage 0, init_cash 1000 unless stated)
# ---------------------------------------------------------------------------------------------


def test_both_levels_touched_exits_at_stop_loss_on_entry_bar():
    # bar 0: long at 100 (10 units), stop 97, target 103; low 95 and high 105 touch both:
    # the stop-loss wins, also on the entry bar itself -> 10 * 97 = 970.
    bars = make_bars([(100, 105, 95, 101), (101, 102, 100, 101)])
    res = run(bars, {0: ("long", 0.9, 97, 103)})
    assert trade_tuples(res) == [("long", 0, 100.0, 0, 97.0, "sl")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [970, 970], rtol=1e-12)


def test_short_stop_and_target_touched_in_one_bar():
    # short at 100 (10 units), stop 102, target 95: high 102.5 and low 94 -> stop at 102:
    # 1000 + 10 * (100 - 102) = 980.
    bars = make_bars([(100, 102.5, 94, 99), (99, 100, 98, 99)])
    res = run(bars, {0: ("short", 0.7, 102, 95)})
    assert trade_tuples(res) == [("short", 0, 100.0, 0, 102.0, "sl")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [980, 980], rtol=1e-12)


def test_gap_through_the_stop_fills_at_the_open():
    # bar 0: long at 100, stop 98, target 104, untouched; bar 1 is long too -> held.
    # bar 0 equity 10 * 100.5 = 1005. bar 1 opens at 97, below the stop: exit at the open 97
    # (not at 98) -> 970.
    bars = make_bars([(100, 101, 99.5, 100.5), (97, 99, 96, 98.5), (98.5, 99, 98, 98.8)])
    res = run(bars, {0: ("long", 0.8, 98, 104), 1: ("long", 0.8, 96, 99)})
    assert trade_tuples(res) == [("long", 0, 100.0, 1, 97.0, "sl")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1005, 970, 970], rtol=1e-12)


def test_gap_through_the_target_fills_at_the_open():
    # short at 100, stop 103, target 98; held into bar 1, which opens at 97 (below the
    # target): exit at 97 -> 1000 + 10 * 3 = 1030.
    bars = make_bars([(100, 100.5, 99, 99.5), (97, 97.5, 96.5, 97.2)])
    res = run(bars, {0: ("short", 0.8, 103, 98), 1: ("short", 0.8, 100, 95)})
    assert trade_tuples(res) == [("short", 0, 100.0, 1, 97.0, "tp")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy()[-1], 1030, rtol=1e-12)


def test_gap_through_target_then_stop_touched_is_a_stop_loss():
    # the stop-loss is checked first (SPEC §7 convention): bar 1 opens at 105 above the
    # target 104 but its low 97 touches the stop 98 -> exit at 98 -> 980.
    bars = make_bars([(100, 101, 99, 100.5), (105, 106, 97, 100)])
    res = run(bars, {0: ("long", 0.9, 98, 104), 1: ("long", 0.9, 99, 110)})
    assert trade_tuples(res) == [("long", 0, 100.0, 1, 98.0, "sl")]


def test_hold_keeps_the_original_stops():
    # bar 0: long at 100, stop 98, target 104. bar 1's row is long with tighter levels
    # 99.8 / 101.2 that bar 1 (low 99.5, high 101.5) would touch: they are ignored, the
    # original levels are untouched, and with no row on bar 2 the position closes at bar 1's
    # close 101 -> 1010.
    bars = make_bars([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 101), (101, 102, 100, 101.5)])
    res = run(bars, {0: ("long", 0.9, 98, 104), 1: ("long", 0.9, 99.8, 101.2)})
    assert trade_tuples(res) == [("long", 0, 100.0, 1, 101.0, "close")]
    assert res.trades["stop_loss"][0] == 98 and res.trades["take_profit"][0] == 104
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1005, 1010, 1010], rtol=1e-12)
    assert res.stats["trades"] == 1


def test_neutral_in_the_middle_of_a_position():
    # rows: 0 long, 1 long, 2 neutral, 3 long (levels 95 / 110 never touched).
    # The long entered at bar 0's open 100 is held into bar 1 and closed at bar 1's close
    # 101 (the next bar, 2, has no long acting signal): 1000 / 100 * 101 = 1010. Bar 2 is
    # flat. Bar 3: long at 101.5, closed at its close 101.8 (bar 4 has no row):
    # 1010 / 101.5 * 101.8 = 1012.985221674877.
    bars = make_bars([(100, 101, 99.5, 100.5), (100.5, 101.5, 100, 101), (101, 102, 100.5, 101.5),
                      (101.5, 102, 101, 101.8), (101.8, 102, 101.5, 102)])
    res = run(bars, {0: ("long", 0.9, 95, 110), 1: ("long", 0.9, 95, 110), 2: ("neutral", 0.9, None, None),
                     3: ("long", 0.9, 95, 110)})
    assert trade_tuples(res) == [("long", 0, 100.0, 1, 101.0, "close"), ("long", 3, 101.5, 3, 101.8, "close")]
    eq3 = 1010 / 101.5 * 101.8
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1005, 1010, 1010, eq3, eq3], rtol=1e-12)
    assert res.stats["exposure"] == pytest.approx(3 / 5)


def test_below_threshold_and_missing_rows_do_not_act():
    # bar 0 long 0.9 -> entered at 100; bar 1 long 0.5 (below 0.65) -> does not act, so the
    # long closes at bar 0's close 102 -> 1020; bar 1 stays flat. Bar 2 has no row; bar 3
    # short 0.65 (exactly the threshold: acts) at 103, closed at its close 101 (last bar):
    # 1020 + 1020 / 103 * (103 - 101) = 1039.805825242718.
    bars = make_bars([(100, 102.5, 99.5, 102), (102, 103, 101, 102.5), (102.5, 103.5, 102, 103),
                      (103, 103.5, 100.5, 101)])
    res = run(bars, {0: ("long", 0.9, 95, 110), 1: ("long", 0.5, 95, 110), 3: ("short", 0.65, 110, 90)})
    assert trade_tuples(res) == [("long", 0, 100.0, 0, 102.0, "close"), ("short", 3, 103.0, 3, 101.0, "close")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1020, 1020, 1020, 1020 + 1020 / 103 * 2],
                               rtol=1e-12)
    # the same file with threshold 0.4: bar 1 now acts long -> held through bar 1
    res2 = run(bars, {0: ("long", 0.9, 95, 110), 1: ("long", 0.5, 95, 110)}, signal_threshold=0.4)
    assert trade_tuples(res2) == [("long", 0, 100.0, 1, 102.5, "close")]


def test_reversal_long_to_short():
    # bar 0 long, bar 1 short: the long is not the same direction as bar 1's signal, so it
    # closes at bar 0's close 102 (reason close) -> 1020; the short enters at bar 1's open
    # 102.5 with 1020 / 102.5 units and closes at bar 1's close 101 (last bar):
    # 1020 + 1020 / 102.5 * 1.5 = 1034.926829268293.
    bars = make_bars([(100, 102.5, 99.5, 102), (102.5, 103, 100.5, 101)])
    res = run(bars, {0: ("long", 0.9, 95, 110), 1: ("short", 0.9, 106, 90)})
    assert trade_tuples(res) == [("long", 0, 100.0, 0, 102.0, "close"), ("short", 1, 102.5, 1, 101.0, "close")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1020, 1020 + 1020 / 102.5 * 1.5], rtol=1e-12)
    assert res.stats["trades"] == 2
    assert res.to_json()["exit_reasons"] == {"sl": 0, "tp": 0, "close": 2}


def test_fees_and_slippage_on_a_stop_fill():
    # long at the open 100: buy fill 100 * 1.001 = 100.1, units = 1000 / (100.1 * 1.001);
    # the stop 98 is touched: sell fill 98 * 0.999 = 97.902, exit fee 0.1 % of it.
    bars = make_bars([(100, 100.5, 97, 99), (99, 99.5, 98.5, 99)])
    res = run(bars, {0: ("long", 0.9, 98, 104)}, fees=0.001, slippage=0.001)
    units = 1000 / (100.1 * 1.001)
    final = units * 97.902 * (1 - 0.001)
    assert trade_tuples(res) == [("long", 0, pytest.approx(100.1, rel=1e-12), 0, pytest.approx(97.902, rel=1e-12),
                                  "sl")]
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [final, final], rtol=1e-12)
    t = res.trades
    np.testing.assert_allclose(t["entry_fees"][0] + t["exit_fees"][0], units * (100.1 + 97.902) * 0.001, rtol=1e-12)
    np.testing.assert_allclose(t["pnl"][0], final - 1000, rtol=1e-12)
    np.testing.assert_allclose(res.stats["fees_paid"], units * (100.1 + 97.902) * 0.001, rtol=1e-12)


def test_share_class_btc():
    # 1 BTC at the first open 100 = 100 USDT. Long at 100 (1 unit), closed at 102: 102 USDT
    # = 102 / 102 = 1 BTC at bar 0's close. Flat on bar 1 (close 110): 102 / 110 BTC.
    bars = make_bars([(100, 102.5, 99.5, 102), (102, 110, 101.5, 110)])
    res = run(bars, {0: ("long", 0.9, 95, 110)}, init_cash=1.0, share_class="btc")
    np.testing.assert_allclose(res.equity["equity"].to_numpy(), [1.0, 102 / 110], rtol=1e-12)
    assert res.stats["share_class"] == "BTC" and res.stats["init_cash"] == 1.0
    np.testing.assert_allclose(res.stats["final_equity"], 102 / 110, rtol=1e-12)
    np.testing.assert_allclose(res.stats["total_return"], 102 / 110 - 1, rtol=1e-12)
    usdt = run(bars, {0: ("long", 0.9, 95, 110)}, init_cash=100.0)
    np.testing.assert_allclose(usdt.equity["equity"].to_numpy(), [102, 102], rtol=1e-12)


def test_to_json_is_serialisable_and_has_the_stats():
    bars = make_bars([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 101), (101, 102, 100, 101.5)])
    res = run(bars, {0: ("long", 0.9, 98, 104), 1: ("short", 0.9, 103, 99)}, timeframe="5m")
    out = json.loads(json.dumps(res.to_json()))
    for key in ("final_equity", "total_return", "trades", "sharpe", "max_drawdown", "win_rate", "exposure",
                "fees_paid", "buy_and_hold_return", "bars_per_year"):
        assert key in out
    assert out["trades"] == 2 and out["bars_per_year"] == 105120.0
    assert res.equity.columns == ["timestamp", "equity"]


def test_bad_arguments():
    bars = make_bars([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 101)])
    preds = make_preds({0: ("long", 0.9, 98, 104)})
    with pytest.raises(ValueError, match="share_class"):
        backtest_predictions(bars, preds, share_class="EUR")
    with pytest.raises(ValueError, match="signal_threshold"):
        backtest_predictions(bars, preds, signal_threshold=1.5)
    with pytest.raises(ValueError, match="slippage"):
        backtest_predictions(bars, preds, slippage=-0.1)


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------

BARS4 = make_bars([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 101), (101, 102, 100, 101.5),
                   (101.5, 102, 101, 101.8)])
HEADER = "timestamp,signal,confidence,stop_loss,take_profit\n"
GOOD = ["2024-01-01 00:00:00,long,0.9,98,104", "2024-01-01 00:05:00,neutral,0.2,,",
        "2024-01-01 00:10:00,short,0.8,103,99", "2024-01-01 00:15:00,LONG,0.7,99,104"]


def write_csv(tmp_path, lines: list[str], header: str = HEADER):
    path = tmp_path / "preds.csv"
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_load_predictions_parses_a_good_file(tmp_path):
    df = load_predictions(write_csv(tmp_path, GOOD), bars=BARS4)
    assert df.columns == ["timestamp", "signal", "confidence", "stop_loss", "take_profit"]
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert df["signal"].to_list() == ["long", "neutral", "short", "long"]
    assert np.isnan(df["stop_loss"][1])
    # epoch seconds and milliseconds, upper-case headers, unsorted rows
    secs = [int(ts(i).timestamp()) for i in range(4)]
    lines = [f"{secs[2]},short,0.8,103,99", f"{secs[0]},Long,0.9,98,104"]
    df2 = load_predictions(write_csv(tmp_path, lines, HEADER.upper()), bars=BARS4)
    assert df2["timestamp"].to_list() == [ts(0), ts(2)]
    lines_ms = [f"{secs[0] * 1000},long,0.9,98,104"]
    assert load_predictions(write_csv(tmp_path, lines_ms))["timestamp"][0] == ts(0)


@pytest.mark.parametrize("line, row, message", [
    ("2024-01-01 00:10:00,buy,0.8,103,99", 2, "unknown signal 'buy'"),
    ("2024-01-01 00:10:00,short,high,103,99", 2, "non-numeric value 'high'"),
    ("2024-01-01 00:10:00,short,NaN,103,99", 2, "missing or NaN confidence"),
    ("2024-01-01 00:10:00,short,,103,99", 2, "missing or NaN confidence"),
    ("2024-01-01 00:10:00,short,1.5,103,99", 2, "outside [0, 1]"),
    ("2024-01-01 00:05:00,short,0.8,103,99", 2, "duplicate timestamp"),
    ("2024-01-01 00:12:00,short,0.8,103,99", 2, "matches no bar"),
    ("2024-01-01 00:10:00,short,0.8,,99", 2, "missing, non-finite or non-positive stop_loss"),
    ("2024-01-01 00:10:00,long,0.8,98,", 2, "missing, non-finite or non-positive take_profit"),
    ("2024-01-01 00:10:00,long,0.8,104,98", 2, "stop_loss >= take_profit"),
    ("2024-01-01 00:10:00,short,0.8,99,103", 2, "take_profit >= stop_loss"),
    ("2024-01-01 00:10:00,long,0.8,101.5,104", 2, "do not bracket the entry"),  # stop at the open
    ("2024-01-01 00:10:00,short,0.8,103,101.2", 2, "do not bracket the entry"),  # target above open
])
def test_bad_rows_name_file_row_and_timestamp(tmp_path, line, row, message):
    lines = [*GOOD[:2], line, GOOD[3]]
    path = write_csv(tmp_path, lines)
    with pytest.raises(DataError) as info:
        load_predictions(path, bars=BARS4)
    msg = str(info.value)
    assert message in msg
    assert str(path) in msg
    assert f"row {row} (line {row + 2})" in msg
    assert "2024-01-01 00:" + line[14:19] in msg  # the row's timestamp


def test_backtest_validates_frames_too():
    preds = make_preds({0: ("long", 0.9, 101, 104)})  # stop above the open 100
    with pytest.raises(DataError, match=r"row 0 at 2024-01-01 00:00:00"):
        backtest_predictions(BARS4, preds)


def test_missing_columns_and_bad_timestamps(tmp_path):
    path = write_csv(tmp_path, ["2024-01-01 00:00:00,long,0.9"], "timestamp,signal,confidence\n")
    with pytest.raises(DataError, match=r"preds.csv: missing columns 'stop_loss', 'take_profit'"):
        load_predictions(path)
    path = write_csv(tmp_path, [GOOD[0], "yesterday,long,0.9,98,104"])
    with pytest.raises(DataError, match=r"cannot parse .*'yesterday' in row 1 \(line 3\)"):
        load_predictions(path)


# ---------------------------------------------------------------------------------------------
# the record stage
# ---------------------------------------------------------------------------------------------


def test_predictions_from_probs_and_csv_round_trip(tmp_path, btc_5m):
    bars = btc_5m.slice(500, 400)
    rng = np.random.default_rng(7)
    probs = rng.dirichlet([1, 1, 1], bars.height)
    probs[:5] = np.nan  # warm-up
    frame = predictions_from_probs(bars, probs, stop_loss=0.01, take_profit=0.02)
    assert frame.height == bars.height - 1
    assert frame["timestamp"].to_list() == bars["timestamp"][1:].to_list()  # bar t's probs act at t+1
    o = bars["open"].to_numpy()[1:]
    sig = frame["signal"].to_numpy()
    expect = np.array(["long", "neutral", "short"])[np.argmax(np.nan_to_num(probs[:-1]), axis=1)]
    expect[:5] = "neutral"
    assert (sig == expect).all()
    np.testing.assert_allclose(frame["confidence"].to_numpy()[5:], probs[5:-1].max(axis=1))
    assert (frame["confidence"].to_numpy()[:5] == 0).all()
    lo = sig == "long"
    np.testing.assert_allclose(frame["stop_loss"].to_numpy()[lo], o[lo] * 0.99)
    np.testing.assert_allclose(frame["take_profit"].to_numpy()[sig == "short"], o[sig == "short"] * 0.98)
    assert frame.filter(pl.col("signal") == "neutral")["stop_loss"].null_count() == (sig == "neutral").sum()

    path = write_predictions_csv(frame, tmp_path / "out" / "preds.csv")
    back = load_predictions(path, bars=bars)
    assert back["timestamp"].to_list() == frame["timestamp"].to_list()
    assert back["signal"].to_list() == frame["signal"].to_list()
    for col in ("confidence", "stop_loss", "take_profit"):
        np.testing.assert_array_equal(back[col].to_numpy(), frame[col].fill_null(np.nan).to_numpy())
    a = backtest_predictions(bars, frame, signal_threshold=0.5)
    b = backtest_predictions(bars, path, signal_threshold=0.5)
    assert a.stats == b.stats and a.trades.equals(b.trades)
    assert a.stats["trades"] > 0
    with pytest.raises(ValueError, match="shape"):
        predictions_from_probs(bars, probs[:-1])
