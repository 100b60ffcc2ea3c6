"""Backtest benchmarks: decide + simulate vs raw vectorbt ``from_signals`` on the same signals
(the overhead target), the full backtest vs raw vectorbt building the same tables, vs a plain
Python loop (lists) and a per-bar pandas loop, vs backtesting.py, a 1,000-combination sweep vs
separate calls, and the demo's wall time.

Run: ``python benchmarks/bench_backtest.py [--quick] [--markdown PATH]``.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    STRATEGY,
    SectionResult,
    Table,
    best_of,
    btc_5m_pl,
    fmt_num,
    fmt_ratio,
    fmt_sci,
    fmt_time,
    log,
    realistic_probs,
    repeats_for,
    run_python,
)

NAME = "backtest"


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# ---------------------------------------------------------------------------------------------
# decide + simulate on the BTC 5m year
# ---------------------------------------------------------------------------------------------


def _raw_vectorbt_call(simulate_once: Any):
    """vectorbt's ``Portfolio.from_signals`` with everything precomputed: a zero-argument call.

    ``simulate_once()`` runs fuzzyvec's simulation once while ``from_signals`` is spied on;
    the returned call repeats exactly that ``from_signals`` call (same close frame, entry/exit
    arrays, two-leg cash-sharing group, stops, fees, call sequence, stop callbacks) with the
    captured arguments, so only vectorbt itself is timed, and the portfolio is the same.
    """
    import vectorbt as vbt

    original = vbt.Portfolio.__dict__["from_signals"]
    bound = vbt.Portfolio.from_signals
    captured: dict[str, Any] = {}

    def spy(*args: Any, **kwargs: Any) -> Any:
        captured["args"], captured["kwargs"] = args, kwargs
        return bound(*args, **kwargs)

    vbt.Portfolio.from_signals = spy
    try:
        simulate_once()
    finally:
        vbt.Portfolio.from_signals = original
    assert captured, "fuzzyvec did not call vectorbt.Portfolio.from_signals"
    args, kwargs = captured["args"], captured["kwargs"]
    return lambda: bound(*args, **kwargs)


def _raw_vectorbt_with_tables(raw: Any, year: Any):
    """``raw`` (the captured ``from_signals`` call) plus the vectorbt calls fuzzyvec's result tables make.

    The same portfolio methods ``fuzzyvec.backtest`` calls for its stats, trades and equity
    (``stats_frame``, ``trades_frame``, ``equity_frame`` in src/fuzzyvec/backtest.py): the
    returns accessor with the same ``year_freq`` (annualised return, Sharpe, Sortino, Calmar,
    max drawdown), the drawdowns' longest duration, final value and total return, the closed
    trades' win rate, profit factor and expectancy, the trade count, the position mask, the
    fees of the orders, the trade records and the equity curve. It returns vectorbt's raw
    outputs: no polars frames, no exit-reason inference.
    """
    import pandas as pd

    year_freq = pd.Timedelta(year)

    def call() -> dict[str, Any]:
        pf = raw()
        acc = pf.get_returns_acc(year_freq=year_freq)
        closed = pf.trades.closed
        return {
            "final_value": pf.final_value(), "total_return": pf.total_return(),
            "annualized": acc.annualized(), "sharpe": acc.sharpe_ratio(), "sortino": acc.sortino_ratio(),
            "calmar": acc.calmar_ratio(), "max_drawdown": acc.max_drawdown(),
            "max_dd_duration": pf.drawdowns.max_duration(wrap_kwargs={"to_timedelta": False}),
            "win_rate": closed.win_rate(), "profit_factor": closed.profit_factor(),
            "expectancy": closed.expectancy(), "trades": pf.trades.count(), "position_mask": pf.position_mask(),
            "fees": pf.orders.fees.sum(), "trade_records": pf.trades.values, "value": pf.value(),
        }

    return call


def _plain_vectorbt_call(bars: Any, positions: np.ndarray, cfg: Any, timeframe: str):
    """The textbook one-column vectorbt call on the same next-open entries/exits (information)."""
    import pandas as pd
    import vectorbt as vbt

    from fuzzyvec.backtest.engine import bar_frequency, ohlc_arrays

    index, ohlc = ohlc_arrays({"asset": bars})
    target = np.zeros_like(positions)
    target[1:] = positions[:-1]  # decided on bar t, held from bar t+1's open
    prev = np.zeros_like(target)
    prev[1:] = target[:-1]
    close = pd.Series(ohlc["close"][:, 0], index=pd.DatetimeIndex(index))  # tz-naive UTC, as fuzzyvec
    kwargs = dict(
        entries=(target == 1) & (prev != 1), exits=(prev == 1) & (target != 1),
        short_entries=(target == -1) & (prev != -1), short_exits=(prev == -1) & (target != -1),
        price=ohlc["open"][:, 0], open=ohlc["open"][:, 0], high=ohlc["high"][:, 0], low=ohlc["low"][:, 0],
        fees=cfg.fees, slippage=cfg.slippage, sl_stop=cfg.sl_stop if cfg.sl_stop else np.nan,
        tp_stop=cfg.tp_stop if cfg.tp_stop else np.nan, stop_entry_price="fillprice",
        init_cash=cfg.init_cash, freq=pd.Timedelta(bar_frequency(index, None, timeframe)),
    )
    return lambda: vbt.Portfolio.from_signals(close, **kwargs)


def bench_decide_simulate(res: SectionResult, quick: bool) -> dict[str, Any]:
    import python_loop

    import fuzzyvec as fv
    from fuzzyvec.backtest.engine import resolve_backtest_config

    reps = repeats_for(quick)
    spec = fv.load_strategy(STRATEGY)
    bars = btc_5m_pl()
    if quick:
        bars = bars.head(10_000)
    n = bars.height
    probs = realistic_probs(n)
    probs[:50] = np.nan  # feature warm-up rows: HOLD
    dec, cfg = spec.decisions, resolve_backtest_config(spec.backtest)
    log(f"decide + backtest on {n:,} BTCUSDT 5m bars")

    positions = fv.decide(probs, dec)
    result = fv.backtest(bars, positions, config=cfg, timeframe="5m")
    fv_final = float(result.stats["final_equity"][0])

    def fv_both():
        return fv.backtest(bars, fv.decide(probs, dec), config=cfg, timeframe="5m")

    t_both = best_of(fv_both, reps)
    t_decide = best_of(lambda: fv.decide(probs, dec), reps)
    t_bt = best_of(lambda: fv.backtest(bars, positions, config=cfg, timeframe="5m"), reps)

    from fuzzyvec.backtest.engine import Columns, bar_frequency, ohlc_arrays, simulate

    index, ohlc = ohlc_arrays({"asset": bars})
    cols = Columns.from_configs([cfg], ["asset"], "symbol")
    freq = bar_frequency(index, None, "5m")
    t_sim = best_of(lambda: simulate(ohlc, index, positions.reshape(-1, 1), cols, freq), reps)

    def decide_simulate():
        return simulate(ohlc, index, fv.decide(probs, dec).reshape(-1, 1), cols, freq)

    t_dsim = best_of(decide_simulate, reps)

    raw = _raw_vectorbt_call(lambda: simulate(ohlc, index, positions.reshape(-1, 1), cols, freq))
    raw_final = float(np.asarray(raw().final_value()).reshape(-1)[0])
    assert _rel(raw_final, fv_final) < 1e-12, (raw_final, fv_final)
    t_raw = best_of(raw, reps)
    year = freq * cfg.bars_per_year if cfg.bars_per_year else timedelta(days=365)  # as fuzzyvec's stats_frame
    raw_tables = _raw_vectorbt_with_tables(raw, year)
    tables = raw_tables()
    stats0 = result.stats.row(0, named=True)
    for key, got in (("final_equity", tables["final_value"]), ("sharpe", tables["sharpe"]),
                     ("trades", tables["trades"]), ("win_rate", tables["win_rate"])):
        got = float(np.asarray(got).reshape(-1)[0])
        assert _rel(got, float(stats0[key])) < 1e-9, (key, got, stats0[key])
    t_raw_tables = best_of(raw_tables, reps)
    plain_final = t_plain = None
    if not quick:  # it compiles another vectorbt specialisation (~4 s), too much for the smoke run
        plain = _plain_vectorbt_call(bars, positions, cfg, "5m")
        plain_final = float(plain().final_value())
        t_plain = best_of(plain, reps)

    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))

    def loop():
        return python_loop.run_event_loop(
            o, h, lo, c, probs, threshold=dec.confidence_threshold,
            min_signal_separation=dec.filters.min_signal_separation, position_awareness=dec.position_awareness,
            allow_short_from_flat=dec.allow_short_from_flat, reverse_on_opposite=dec.reverse_on_opposite,
            init_cash=cfg.init_cash, fees=cfg.fees, slippage=cfg.slippage, size=cfg.size,
            sl_stop=cfg.sl_stop, tp_stop=cfg.tp_stop)

    ref = loop()
    assert np.array_equal(np.asarray(ref["positions"]), positions), "Python loop decided other positions"
    loop_diff = _rel(ref["final_equity"], fv_final)
    assert loop_diff < 1e-9, (ref["final_equity"], fv_final)
    t_loop = best_of(loop, reps, warmup=0)

    frame = bars.select("open", "high", "low", "close").to_pandas()  # built before timing: the user's frame
    frame["p_buy"], frame["p_hold"], frame["p_sell"] = probs[:, 0], probs[:, 1], probs[:, 2]

    def pandas_loop():
        return python_loop.run_pandas_event_loop(
            frame, threshold=dec.confidence_threshold,
            min_signal_separation=dec.filters.min_signal_separation, position_awareness=dec.position_awareness,
            allow_short_from_flat=dec.allow_short_from_flat, reverse_on_opposite=dec.reverse_on_opposite,
            init_cash=cfg.init_cash, fees=cfg.fees, slippage=cfg.slippage, size=cfg.size,
            sl_stop=cfg.sl_stop, tp_stop=cfg.tp_stop)

    pd_ref = pandas_loop()
    assert np.array_equal(np.asarray(pd_ref["positions"]), positions), "pandas loop decided other positions"
    pd_diff = _rel(pd_ref["final_equity"], fv_final)
    assert pd_diff < 1e-9, (pd_ref["final_equity"], fv_final)
    t_pdloop = best_of(pandas_loop, reps, warmup=0)

    def py_decisions():
        return python_loop.run_decisions(
            probs, threshold=dec.confidence_threshold, min_signal_separation=dec.filters.min_signal_separation,
            position_awareness=dec.position_awareness, allow_short_from_flat=dec.allow_short_from_flat,
            reverse_on_opposite=dec.reverse_on_opposite)

    assert np.array_equal(np.asarray(py_decisions()), positions)
    t_pydec = best_of(py_decisions, reps, warmup=0)

    trades = int(result.stats["trades"][0])
    t = Table(f"Decision kernel + simulation: BTCUSDT 5m, {n:,} bars, {trades:,} trades (best of {reps})",
              ["what", "time", "vs fuzzyvec decide + backtest", "final equity"])
    t.add("fuzzyvec: decide + backtest (stats, trades, equity)", fmt_time(t_both), "1.00×", fmt_num(fv_final, 2))
    t.add("  decide (numba kernel)", fmt_time(t_decide), fmt_ratio(t_decide / t_both), "")
    t.add("  backtest (given positions)", fmt_time(t_bt), fmt_ratio(t_bt / t_both), "")
    t.add("    of which the vectorbt simulation (fuzzyvec.backtest.engine.simulate)", fmt_time(t_sim),
          fmt_ratio(t_sim / t_both), "")
    t.add("fuzzyvec: decide + simulate only (no stats/trades/equity tables)", fmt_time(t_dsim),
          fmt_ratio(t_dsim / t_both), "")
    t.add("raw vectorbt Portfolio.from_signals, same precomputed signals", fmt_time(t_raw),
          fmt_ratio(t_raw / t_both), fmt_num(raw_final, 2))
    t.add("raw vectorbt from_signals + the same vectorbt stats/trades/value calls (like-for-like)",
          fmt_time(t_raw_tables), fmt_ratio(t_raw_tables / t_both), "")
    t.add("vectorbt one-column textbook call (information)" + (" — not run in --quick" if quick else ""),
          fmt_time(t_plain), fmt_ratio(t_plain / t_both) if t_plain else "—", fmt_num(plain_final, 2))
    t.add("plain Python event loop (decide + simulate)", fmt_time(t_loop), fmt_ratio(t_loop / t_both),
          fmt_num(ref["final_equity"], 2))
    t.add("  its decision part alone (vs the decide kernel: " + fmt_ratio(t_pydec / t_decide) + ")",
          fmt_time(t_pydec), fmt_ratio(t_pydec / t_both), "")
    t.add("per-bar pandas event loop, df.itertuples() (information)", fmt_time(t_pdloop),
          fmt_ratio(t_pdloop / t_both), fmt_num(pd_ref["final_equity"], 2))
    t.notes += [
        "probabilities: fixed pseudo-random AR(1) logits through a softmax (benchmarks/common.py), the "
        f"strategy's decisions (threshold {dec.confidence_threshold}, separation "
        f"{dec.filters.min_signal_separation}) and backtest settings (fees {cfg.fees}, slippage {cfg.slippage}, "
        f"sl {cfg.sl_stop}, tp {cfg.tp_stop}, next-open fills)",
        "raw vectorbt: the exact from_signals call fuzzyvec makes (two-leg cash-sharing group, stop "
        "callbacks), its arguments captured from one fuzzyvec run and passed again, so nothing but "
        "vectorbt is timed; same final equity (checked)",
        "like-for-like: that call plus the portfolio methods fuzzyvec's stats, trades and equity tables call "
        "(returns accessor with the same year_freq: annualised return, Sharpe, Sortino, Calmar, max drawdown; "
        "drawdown duration, final value, total return, closed-trade win rate/profit factor/expectancy, trade "
        "count, position mask, order fees, trade records, value()), without building polars frames; its final "
        "value, Sharpe, trade count and win rate equal fuzzyvec's stats (checked)",
        "overhead target (issue): decision kernel + simulation vs vectorbt's own from_signals on the same "
        "precomputed signals, i.e. 'decide + simulate only' / 'raw vectorbt from_signals'",
        "textbook call: one column with entries/exits/short_entries/short_exits at the next open; it "
        "checks stops on signal bars, hence a slightly different equity",
        f"plain Python loop: benchmarks/python_loop.py, lists of floats; same positions and final equity "
        f"(relative difference {fmt_sci(loop_diff)}, checked)",
        f"pandas loop: python_loop.run_pandas_event_loop, the same rules iterating df.itertuples() over a "
        f"DataFrame of OHLC and the three probabilities (built before timing); same positions and final "
        f"equity (relative difference {fmt_sci(pd_diff)}, checked)",
    ]
    res.tables.append(t)
    overhead = t_dsim / t_raw
    res.target("overhead: decide kernel + simulation / raw vectorbt from_signals (same signals)",
               fmt_ratio(overhead), "≤ 1.3×", overhead <= 1.3)
    res.target("full decide + backtest (tables) / raw from_signals + same vectorbt table calls",
               fmt_ratio(t_both / t_raw_tables), "info", None)
    speedup = t_loop / t_both
    res.target("plain Python event loop (lists) / fuzzyvec decide + backtest", fmt_ratio(speedup), "≥ 100×",
               speedup >= 100)
    res.target("per-bar pandas event loop (itertuples) / fuzzyvec decide + backtest",
               fmt_ratio(t_pdloop / t_both), "info", None)
    res.target("plain Python decisions / decide kernel", fmt_ratio(t_pydec / t_decide), "info", None)
    return {"spec": spec, "bars": bars, "probs": probs}


# ---------------------------------------------------------------------------------------------
# backtesting.py
# ---------------------------------------------------------------------------------------------


def bench_backtesting_py(res: SectionResult, quick: bool) -> None:
    import fuzzyvec as fv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import backtesting.backtesting as bt_module
        from backtesting import Strategy
        from backtesting.lib import FractionalBacktest

    bt_module._tqdm = lambda seq, **_: seq  # no progress bar (it would also cost time)

    reps = repeats_for(quick)
    spec = fv.load_strategy(STRATEGY)
    eur = fv.load_ohlcv(fv.sample_data_dir() / "EURUSD_1h.parquet", timeframe="1h")
    if quick:
        eur = eur.head(1_500)
    n = eur.height
    log(f"backtesting.py vs fuzzyvec on {n:,} EURUSD 1h bars")
    probs = realistic_probs(n, seed=11)
    probs[:50] = np.nan  # warm-up rows: HOLD (backtesting.py calls next() from the 2nd bar on)
    positions = fv.decide(probs, spec.decisions)
    settings = {"init_cash": 10_000.0, "fees": 0.0, "slippage": 0.0, "size": 1.0, "sl_stop": None,
                "tp_stop": None}

    def fv_run():
        return fv.backtest(eur, positions, timeframe="1h", **settings)

    result = fv_run()
    fv_final = float(result.stats["final_equity"][0])
    fv_trades = int(result.stats["trades"][0])
    t_fv = best_of(fv_run, reps)

    frac = 1.0 - 1e-10  # backtesting.py: a size < 1 is a fraction of equity ("all in" is not allowed)
    targets = positions.tolist()

    class FollowPositions(Strategy):
        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            want = targets[i]
            have = 0 if not self.position else (1 if self.position.is_long else -1)
            if want == have:
                return
            if have:
                self.position.close()
            if want == 1:
                self.buy(size=frac)
            elif want == -1:
                self.sell(size=frac)

    df = eur.to_pandas().set_index("timestamp")
    df.index = df.index.tz_localize(None)
    df.columns = [c.capitalize() for c in df.columns]

    def bt_run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = FractionalBacktest(df, FollowPositions, cash=10_000, commission=0.0, spread=0.0,
                                    trade_on_close=False, exclusive_orders=False, fractional_unit=1e-9)
            return bt.run()

    stats = bt_run()
    bt_final = float(stats["Equity Final [$]"])
    bt_trades = int(stats["# Trades"])
    t_bt = best_of(bt_run, reps, warmup=0)
    diff = _rel(fv_final, bt_final)

    t = Table(f"fuzzyvec vs backtesting.py: EURUSD 1h, {n:,} bars, same positions (best of {reps})",
              ["engine", "time", "trades", "final equity", "speed-up of fuzzyvec"])
    t.add("fuzzyvec.backtest (vectorbt; stats, trades, equity)", fmt_time(t_fv), f"{fv_trades:,}",
          fmt_num(fv_final, 4), "1.00×")
    t.add("backtesting.py Backtest.run (FractionalBacktest)", fmt_time(t_bt), f"{bt_trades:,}",
          fmt_num(bt_final, 4), fmt_ratio(t_bt / t_fv))
    t.add("relative difference of final equity", "", "", fmt_sci(diff), "")
    t.notes += [
        "same settings on both sides: no fees, no slippage/spread, no stops, fills at the next bar's open "
        "(backtesting.py trade_on_close=False), the whole equity per entry, longs and shorts",
        "backtesting.py trades whole units: FractionalBacktest(fractional_unit=1e-9) makes a unit 1e-9 EUR, "
        "and size=1-1e-10 (a fraction of equity; 1.0 would mean one unit), so its rounding is ~1e-10",
        "positions come from fuzzyvec.decide on fixed pseudo-random probabilities; backtesting.py's "
        "strategy follows them (next() closes/opens when the decided position changes)",
    ]
    res.tables.append(t)
    res.target("backtesting.py / fuzzyvec backtest time (EURUSD 1h)", fmt_ratio(t_bt / t_fv), "info", None)
    res.target("final equity vs backtesting.py, relative difference", fmt_sci(diff), "info", None)


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------


def bench_sweep(res: SectionResult, quick: bool, ctx: dict[str, Any]) -> None:
    import fuzzyvec as fv

    reps = repeats_for(quick)
    spec, bars, probs = ctx["spec"], ctx["bars"], ctx["probs"]
    if quick:
        lo, hi = 1_000, 4_000
    else:  # June 2023
        lo = int(bars["timestamp"].search_sorted(datetime(2023, 6, 1, tzinfo=UTC)))
        hi = lo + 30 * 288
    month = bars.slice(lo, hi - lo)
    p = probs[lo:hi]
    k = 2 if quick else 10
    grid = {
        "confidence_threshold": [round(0.40 + 0.03 * i, 2) for i in range(k)],
        "sl_stop": [round(0.005 * (i + 1), 3) for i in range(k)],
        "tp_stop": [round(0.01 * (i + 1), 3) for i in range(k)],
    }
    combos = list(itertools.product(*grid.values()))
    log(f"sweep of {len(combos):,} combinations on {month.height:,} bars")
    dec, cfg = spec.decisions, spec.backtest

    def do_sweep():
        return fv.sweep(month, p, dec, cfg, grid, timeframe="5m")

    table = do_sweep().table
    t_sweep = best_of(do_sweep, reps)

    sample = combos if quick else combos[::20]
    idx = list(range(len(combos))) if quick else list(range(0, len(combos), 20))

    def separate() -> list[float]:
        out = []
        for thr, sl, tp in sample:
            pos = fv.decide(p, dec, confidence_threshold=thr)
            r = fv.backtest(month, pos, config=cfg, timeframe="5m", sl_stop=sl, tp_stop=tp)
            out.append(float(r.stats["final_equity"][0]))
        return out

    separate()  # warm-up
    t0 = time.perf_counter()
    finals = separate()
    t_sep = (time.perf_counter() - t0) * len(combos) / len(sample)
    swept = table["final_equity"].to_numpy()[idx]
    worst = max(_rel(a, b) for a, b in zip(finals, swept, strict=True))
    assert worst < 1e-9, f"sweep rows differ from separate backtests by {worst:.3g}"

    t = Table(f"Sweep: {len(combos):,} combinations ({' × '.join(str(len(v)) for v in grid.values())} "
              f"threshold × sl_stop × tp_stop) on {month.height:,} BTCUSDT 5m bars",
              ["how", "time", "per combination", "speed-up of the sweep"])
    t.add(f"fuzzyvec.sweep (one vectorbt simulation; best of {reps})", fmt_time(t_sweep),
          fmt_time(t_sweep / len(combos)), "1.00×")
    label = (f"{len(combos)} separate decide + backtest calls" if quick else
             "1,000 separate decide + backtest calls (50 timed, ×20)")
    t.add(label, fmt_time(t_sep), fmt_time(t_sep / len(combos)), fmt_ratio(t_sep / t_sweep))
    t.notes += [
        f"grid: confidence_threshold {grid['confidence_threshold']}, sl_stop {grid['sl_stop']}, "
        f"tp_stop {grid['tp_stop']}",
        f"checked: the sweep's final equity equals the separate backtests' for the "
        f"{len(sample)} combinations run separately (max relative difference {fmt_sci(worst)})",
    ]
    if not quick:
        t.notes.append("separate calls: every 20th combination was run (50 calls, one pass after a warm-up) "
                       "and the time scaled by 20")
    res.tables.append(t)
    res.target(f"sweep of {len(combos):,} vs separate backtest calls", fmt_ratio(t_sep / t_sweep), "info", None)


# ---------------------------------------------------------------------------------------------
# the demo, cold and warm
# ---------------------------------------------------------------------------------------------


def bench_demo(res: SectionResult, quick: bool) -> None:
    t = Table("Demo wall time: python -m fuzzyvec.run (subprocess, temporary working directory)",
              ["run", "wall time", "goal"])
    with tempfile.TemporaryDirectory(prefix="fuzzyvec-bench-demo-") as tmp:
        cwd = Path(tmp) / "cwd"
        cwd.mkdir()
        if quick:
            args = ["-m", "fuzzyvec.run", "demo", "--start", "2023-02-01", "--end", "2023-02-15", "--quiet"]
            log("demo (quick: Jan 2023 training, default numba caches)")
            wall, _ = run_python("", args=args, cwd=cwd)
            t.add("quick: demo --start 2023-02-01 --end 2023-02-15, default caches", fmt_time(wall), "")
            t.notes.append("--quick: the cold run (about a minute of numba compilation) is skipped; this "
                           "run trains on January only and uses the default (usually warm) caches")
            res.target("demo cold (empty numba cache)", "not run", "< 90 s", None)
            res.target("demo warm (same cache)", "not run", "< 30 s", None)
        else:
            env = {"NUMBA_CACHE_DIR": str(Path(tmp) / "numba-cache")}
            log("demo cold (empty numba cache)")
            cold, _ = run_python("", args=["-m", "fuzzyvec.run"], cwd=cwd, env=env)
            log("demo warm (same numba cache)")
            warm, _ = run_python("", args=["-m", "fuzzyvec.run"], cwd=cwd, env=env)
            t.add("cold: empty NUMBA_CACHE_DIR", fmt_time(cold), "< 90 s")
            t.add("warm: same NUMBA_CACHE_DIR, second run", fmt_time(warm), "< 30 s")
            t.notes += [
                "the demo: bundled BTCUSDT 5m year + 1h resample → features → training (strategy's epochs and "
                "early stopping) → backtest of the test period → report.html, metrics.json, trades.csv",
                "cold: NUMBA_CACHE_DIR is a new empty folder, so numba compiles fuzzyvec's kernels and "
                "vectorbt's functions (vectorbt's cache goes there too); warm: the same folder again",
            ]
            res.target("demo cold (empty numba cache)", fmt_time(cold), "< 90 s", cold < 90)
            res.target("demo warm (same cache)", fmt_time(warm), "< 30 s", warm < 30)
    res.tables.append(t)


def run(quick: bool = False) -> SectionResult:
    res = SectionResult(NAME)
    t0 = time.perf_counter()
    ctx = bench_decide_simulate(res, quick)
    bench_backtesting_py(res, quick)
    bench_sweep(res, quick, ctx)
    bench_demo(res, quick)
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    from common import section_main

    sys.exit(section_main(NAME, run))
