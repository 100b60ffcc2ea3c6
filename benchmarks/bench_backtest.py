"""Backtest benchmarks (issue 15): the engine against its anchors, measured side by side in one process.

- one full backtest of the BTCUSDT 5m year (stats, trades and equity frames) vs the plain-Python
  event loop doing the same decisions and simulation (and a per-bar pandas loop, information);
- backtesting.py on the same EURUSD positions (time and final equity);
- a 1,000-combination sweep (threshold × stop-loss × take-profit) over the year with all
  metrics vs a lean numba limit kernel doing the same work and nothing else
  (``benchmarks/lean_kernel.py``) vs vectorbt's native ``Portfolio.from_signals`` + stats on the
  same signals (a sample of columns, scaled) and vs separate backtest calls;
- a fresh process: import fuzzyvec and run a first small sweep with a warm numba cache;
- the demo, cold and warm.

Run: ``python benchmarks/bench_backtest.py [--quick] [--markdown PATH]``.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
import warnings
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
# one backtest of the BTC 5m year vs the plain-Python loop
# ---------------------------------------------------------------------------------------------


def bench_single(res: SectionResult, quick: bool) -> dict[str, Any]:
    import python_loop

    import fuzzyvec as fv
    from fuzzyvec.backtest.engine import resolve_backtest_config

    reps = repeats_for(quick) * (3 if not quick else 1)
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

    from fuzzyvec.backtest.engine import Columns, ann_factor, bar_frequency, ohlc_arrays, run_engine

    index, ohlc = ohlc_arrays({"asset": bars})
    cols = Columns.from_configs([cfg], ["asset"], "symbol")
    ann = ann_factor(bar_frequency(index, None, "5m"), None)
    t_kernel = best_of(lambda: run_engine(ohlc, positions.reshape(-1, 1), cols, ann, records=True), reps)
    t_metrics = best_of(lambda: run_engine(ohlc, positions.reshape(-1, 1), cols, ann), reps)

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
    t_loop = best_of(loop, repeats_for(quick), warmup=0)

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
    pd_diff = _rel(pd_ref["final_equity"], fv_final)
    assert pd_diff < 1e-9, (pd_ref["final_equity"], fv_final)
    t_pdloop = best_of(pandas_loop, repeats_for(quick), warmup=0)

    def py_decisions():
        return python_loop.run_decisions(
            probs, threshold=dec.confidence_threshold, min_signal_separation=dec.filters.min_signal_separation,
            position_awareness=dec.position_awareness, allow_short_from_flat=dec.allow_short_from_flat,
            reverse_on_opposite=dec.reverse_on_opposite)

    assert np.array_equal(np.asarray(py_decisions()), positions)
    t_pydec = best_of(py_decisions, repeats_for(quick), warmup=0)

    # vectorbt as the analytics layer: the portfolio from the kernel's records, and its stats()
    def portfolio_stats():
        return fv.backtest(bars, positions, config=cfg, timeframe="5m").portfolio.stats()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf_final = float(result.portfolio.final_value())
        assert _rel(pf_final, fv_final) < 1e-12
        t_pf = best_of(portfolio_stats, repeats_for(quick))

    trades = int(result.stats["trades"][0])
    t = Table(f"One backtest: BTCUSDT 5m, {n:,} bars, {trades:,} trades (best of {reps})",
              ["what", "time", "vs fuzzyvec decide + backtest", "final equity"])
    t.add("fuzzyvec: decide + backtest (stats, trades, equity frames)", fmt_time(t_both), "1.00×",
          fmt_num(fv_final, 2))
    t.add("  decide (numba kernel)", fmt_time(t_decide), fmt_ratio(t_decide / t_both), "")
    t.add("  backtest (given positions; stats, trades, equity frames)", fmt_time(t_bt), fmt_ratio(t_bt / t_both), "")
    t.add("    of which the engine kernel, two passes (count, then records + equity)", fmt_time(t_kernel),
          fmt_ratio(t_kernel / t_both), "")
    t.add("    the engine kernel, metrics only (one pass, as in a sweep)", fmt_time(t_metrics),
          fmt_ratio(t_metrics / t_both), "")
    t.add("plain Python event loop (decide + simulate, lists)", fmt_time(t_loop), fmt_ratio(t_loop / t_both),
          fmt_num(ref["final_equity"], 2))
    t.add("  its decision part alone (vs the decide kernel: " + fmt_ratio(t_pydec / t_decide) + ")",
          fmt_time(t_pydec), fmt_ratio(t_pydec / t_both), "")
    t.add("per-bar pandas event loop, df.itertuples() (information)", fmt_time(t_pdloop),
          fmt_ratio(t_pdloop / t_both), fmt_num(pd_ref["final_equity"], 2))
    t.add("backtest + result.portfolio.stats() (vectorbt analytics on the kernel's records; information)",
          fmt_time(t_pf), fmt_ratio(t_pf / t_both), fmt_num(pf_final, 2))
    t.notes += [
        "probabilities: fixed pseudo-random AR(1) logits through a softmax (benchmarks/common.py), the "
        f"strategy's decisions (threshold {dec.confidence_threshold}, separation "
        f"{dec.filters.min_signal_separation}) and backtest settings (fees {cfg.fees}, slippage {cfg.slippage}, "
        f"sl {cfg.sl_stop}, tp {cfg.tp_stop}, next-open fills, stops from the entry bar on)",
        f"plain Python loop: benchmarks/python_loop.py, lists of floats; same positions and final equity "
        f"(relative difference {fmt_sci(loop_diff)}, checked); pandas loop: the same rules over "
        f"df.itertuples() (relative difference {fmt_sci(pd_diff)}, checked)",
        "vectorbt: the Portfolio is built from the kernel's order records on first access and stats() is "
        "vectorbt's own; its final value equals the kernel's (checked)",
    ]
    res.tables.append(t)
    res.target("one full backtest of the BTC year (stats, trades, equity), hot", fmt_time(t_bt), "≤ 15 ms",
               t_bt <= 0.015 if not quick else None)
    speedup = t_loop / t_both
    res.target("plain Python event loop (lists) / fuzzyvec decide + backtest", fmt_ratio(speedup), "≥ 5×",
               speedup >= 5 if not quick else None)
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
    t.add("fuzzyvec.backtest (the engine kernel; stats, trades, equity)", fmt_time(t_fv), f"{fv_trades:,}",
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
# sweep: fuzzyvec vs the lean limit kernel vs vectorbt's native simulation
# ---------------------------------------------------------------------------------------------


def _vectorbt_native(bars: Any, positions: np.ndarray, sl: np.ndarray, tp: np.ndarray, fees: float,
                     slippage: float, ann: float):
    """vectorbt's own ``from_signals`` on the same next-open signals (long and short entries and exits,
    fill at the open, stops from the fill), one column per combination, plus the stats a sweep reports."""
    import pandas as pd
    import vectorbt as vbt

    m = positions.shape[1]
    target = np.zeros_like(positions)
    target[1:] = positions[:-1]
    prev = np.zeros_like(target)
    prev[1:] = target[:-1]
    idx = pd.DatetimeIndex(bars["timestamp"].dt.replace_time_zone(None).to_numpy())
    close = pd.DataFrame(np.repeat(bars["close"].to_numpy()[:, None], m, axis=1), index=idx)
    col = lambda k: bars[k].to_numpy()[:, None]  # noqa: E731
    kwargs = dict(
        entries=(target == 1) & (prev != 1), exits=(prev == 1) & (target != 1),
        short_entries=(target == -1) & (prev != -1), short_exits=(prev == -1) & (target != -1),
        price=col("open"), open=col("open"), high=col("high"), low=col("low"), fees=fees, slippage=slippage,
        sl_stop=sl[None, :], tp_stop=tp[None, :], stop_entry_price="fillprice", stop_exit_price="stopmarket",
        init_cash=10_000.0, freq="5min",
    )

    def call() -> dict[str, Any]:
        pf = vbt.Portfolio.from_signals(close, **kwargs)
        acc = pf.get_returns_acc(year_freq=pd.Timedelta(minutes=5) * ann)
        closed = pf.trades.closed
        return {"total_return": pf.total_return(), "sharpe": acc.sharpe_ratio(), "sortino": acc.sortino_ratio(),
                "cagr": acc.annualized(), "calmar": acc.calmar_ratio(), "max_drawdown": acc.max_drawdown(),
                "win_rate": closed.win_rate(), "profit_factor": closed.profit_factor(),
                "expectancy": closed.expectancy(), "trades": pf.trades.count(),
                "exposure": pf.position_coverage(), "fees": pf.orders.fees.sum(), "final": pf.final_value()}

    return call


def _overfitting_cost(do_sweep: Any) -> tuple[float, float]:
    """Seconds a sweep spends on its dsr column and its PBO (the functions timed inside one call)."""
    import importlib

    significance = importlib.import_module("fuzzyvec.backtest.significance")
    sweep_mod = importlib.import_module("fuzzyvec.backtest.sweep")

    spent = {"dsr": 0.0, "pbo": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t0
        return wrapper

    dsr_fn, pbo_fn = sweep_mod._deflated_sharpe, significance.pbo_from_block_stats
    sweep_mod._deflated_sharpe = timed("dsr", dsr_fn)
    significance.pbo_from_block_stats = timed("pbo", pbo_fn)
    try:
        best = (np.inf, np.inf)
        for _ in range(3):
            spent.update(dsr=0.0, pbo=0.0)
            do_sweep()
            best = min(best, (spent["dsr"], spent["pbo"]), key=sum)
    finally:
        sweep_mod._deflated_sharpe, significance.pbo_from_block_stats = dsr_fn, pbo_fn
    return best


def bench_sweep(res: SectionResult, quick: bool, ctx: dict[str, Any]) -> None:
    import lean_kernel

    import fuzzyvec as fv
    from fuzzyvec.strategy.config import BacktestConfig, DecisionConfig

    reps = repeats_for(quick)
    bars, probs = ctx["bars"], ctx["probs"]
    n = bars.height
    k = 4 if quick else 10
    thr = np.round(0.40 + 0.03 * np.arange(k), 2)
    sl = np.round(0.005 * (np.arange(k) + 1), 3)
    tp = np.round(0.01 * (np.arange(k) + 1), 3)
    grid = {"confidence_threshold": thr.tolist(), "sl_stop": sl.tolist(), "tp_stop": tp.tolist()}
    m = k ** 3
    # decisions the lean kernel implements too (no position awareness): the same work on both sides
    dec = DecisionConfig(position_awareness=False, filters={"min_signal_separation": 0})
    cfg = BacktestConfig(fees=0.001, slippage=0.0005)
    log(f"sweep of {m:,} combinations on {n:,} bars: fuzzyvec, lean kernel, vectorbt")

    def do_sweep():
        return fv.sweep(bars, probs, dec, cfg, grid, timeframe="5m")

    table = do_sweep().table
    t_sweep = best_of(do_sweep, reps)
    t_dsr, t_pbo = _overfitting_cost(do_sweep)
    o, h, lo, c = (bars[x].to_numpy() for x in ("open", "high", "low", "close"))
    p = np.ascontiguousarray(probs)

    def lean():
        return lean_kernel.lean_sweep_nb(o, h, lo, c, p, thr, sl, tp, 0.001, 0.0005, 10_000.0, 105_120.0)

    lean_out = lean()
    t_lean = best_of(lean, reps)
    lean_diff = float(np.max(np.abs(table["final_equity"].to_numpy() - lean_out[:, 0]) / lean_out[:, 0]))
    assert lean_diff < 1e-9, f"the lean kernel and fuzzyvec's sweep disagree by {lean_diff:.3g}"

    # the strategy's own decisions (position awareness, separation), information
    spec = ctx["spec"]
    t_strategy = best_of(lambda: fv.sweep(bars, probs, spec.decisions, cfg, grid, timeframe="5m"), reps)

    # vectorbt's native simulation on the same signals: a sample of columns, scaled to the grid
    n_vbt = 4 if quick else 20
    pos_thr = fv.decide(probs, dec, confidence_threshold=thr)
    pick = np.linspace(0, m - 1, n_vbt).astype(int)
    thr_col = pick // (k * k)
    vbt_call = _vectorbt_native(bars, pos_thr[:, thr_col], sl[(pick // k) % k], tp[pick % k], 0.001, 0.0005,
                                105_120.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vb = vbt_call()
        t_vbt = best_of(vbt_call, reps) * m / n_vbt
    vb_final = np.asarray(vb["final"], dtype=float)

    # separate backtest calls (information)
    sample = list(range(0, m, max(1, m // 25)))
    combos = list(itertools.product(*grid.values()))

    def separate() -> list[float]:
        out = []
        for j in sample:
            th, s_, t_ = combos[j]
            r = fv.backtest(bars, fv.decide(probs, dec, confidence_threshold=th), config=cfg, timeframe="5m",
                            sl_stop=s_, tp_stop=t_)
            out.append(float(r.stats["final_equity"][0]))
        return out

    finals = separate()
    t0 = time.perf_counter()
    separate()
    t_sep = (time.perf_counter() - t0) * m / len(sample)
    sep_diff = max(_rel(a, b) for a, b in zip(finals, table["final_equity"].to_numpy()[sample], strict=True))
    assert sep_diff < 1e-9, sep_diff

    bc = n * m
    t = Table(f"Sweep: {m:,} combinations ({k} thresholds × {k} stop-losses × {k} take-profits) × {n:,} "
              f"BTCUSDT 5m bars, all metrics (best of {reps})",
              ["how", "time", "bar-combinations / s", "vs fuzzyvec sweep"])
    t.add("fuzzyvec.sweep (one engine call, parallel over combinations; all SWEEP_METRICS)", fmt_time(t_sweep),
          fmt_num(bc / t_sweep, 0), "1.00×")
    t.add("lean numba limit kernel (benchmarks/lean_kernel.py: the same work, nothing else)", fmt_time(t_lean),
          fmt_num(bc / t_lean, 0), fmt_ratio(t_lean / t_sweep))
    t.add(f"vectorbt Portfolio.from_signals + stats, same signals ({n_vbt} columns timed, scaled)",
          fmt_time(t_vbt), fmt_num(bc / t_vbt, 0), fmt_ratio(t_vbt / t_sweep))
    t.add(f"{m:,} separate decide + backtest calls ({len(sample)} timed, scaled)", fmt_time(t_sep),
          fmt_num(bc / t_sep, 0), fmt_ratio(t_sep / t_sweep))
    t.add("fuzzyvec.sweep with the strategy's own decisions (position awareness; information)",
          fmt_time(t_strategy), fmt_num(bc / t_strategy, 0), fmt_ratio(t_strategy / t_sweep))
    t.add("  of which the dsr column (deflated Sharpe ratio of every combination)", fmt_time(t_dsr), "—",
          fmt_ratio(t_dsr / t_sweep))
    t.add("  of which SweepResult.pbo (CSCV, 16 blocks, 12,870 splits)", fmt_time(t_pbo), "—",
          fmt_ratio(t_pbo / t_sweep))
    t.notes += [
        f"grid: confidence_threshold {grid['confidence_threshold']}, sl_stop {grid['sl_stop']}, "
        f"tp_stop {grid['tp_stop']}; fees 0.001, slippage 0.0005, next-open fills, decisions without "
        "position awareness (BUY → long, SELL → short) so that the lean kernel does the same work",
        f"checked: the lean kernel's final equity equals the sweep's for every combination (max relative "
        f"difference {fmt_sci(lean_diff)}); separate backtests equal the sweep rows ({fmt_sci(sep_diff)})",
        "vectorbt: one column per combination with long/short entries and exits at the next open, stops from "
        "the fill; it cannot stop a position on its entry bar (one order per bar and column), so its equity "
        f"differs slightly (final equity of the sampled columns: mean {fmt_num(float(vb_final.mean()), 2)}); "
        "the stats are the returns accessor, drawdowns and closed-trade statistics the sweep reports",
    ]
    res.tables.append(t)
    res.target(f"sweep of {m:,} combinations × {n:,} bars, all metrics", fmt_time(t_sweep),
               "≤ 2 s", t_sweep <= 2.0 if not quick else None)
    ratio = t_sweep / t_lean
    res.target("sweep / lean limit kernel (same work)", fmt_ratio(ratio), "≤ 4× (goal 2×)",
               ratio <= 4.0 if not quick else None)
    share = (t_dsr + t_pbo) / t_sweep
    res.target(f"DSR + PBO of the {m:,}-combination sweep / the sweep", f"{100 * share:.1f}%", "≤ 10%",
               share <= 0.10 if not quick else None)
    res.target("vectorbt from_signals + stats / fuzzyvec sweep (same signals)", fmt_ratio(t_vbt / t_sweep),
               "info", None)
    res.target(f"sweep of {m:,} vs separate backtest calls", fmt_ratio(t_sep / t_sweep), "info", None)


# ---------------------------------------------------------------------------------------------
# honest evaluation: what the baselines and the bootstrap cost
# ---------------------------------------------------------------------------------------------


def bench_evaluation(res: SectionResult, quick: bool, ctx: dict[str, Any]) -> None:
    import fuzzyvec as fv
    from fuzzyvec.backtest.engine import resolve_backtest_config
    from fuzzyvec.backtest.significance import bootstrap_intervals

    reps = repeats_for(quick)
    bars, probs, spec = ctx["bars"], ctx["probs"], ctx["spec"]
    n = bars.height
    n_random = 100 if quick else 1000
    result = fv.backtest(bars, fv.decide(probs, spec.decisions), config=resolve_backtest_config(spec.backtest),
                         timeframe="5m")
    log(f"baselines: buy-and-hold, flat and {n_random:,} random-entry series on {n:,} bars")

    def base():
        return fv.baselines_from_result(result, bars, n_random=n_random, timeframe="5m")

    first = next(iter(base().values())).to_json()
    t_base = best_of(base, reps)
    t_bt = best_of(lambda: fv.backtest(bars, fv.decide(probs, spec.decisions),
                                       config=resolve_backtest_config(spec.backtest), timeframe="5m"), reps)
    rets = result.equity[result.equity.columns[1]].to_numpy()
    rets = rets[1:] / rets[:-1] - 1.0
    t_boot = best_of(lambda: bootstrap_intervals(rets, n_boot=1000), reps)
    t = Table(f"Honest evaluation on {n:,} BTCUSDT 5m bars (best of {reps})", ["what", "time", "vs the backtest"])
    t.add("decide + backtest (stats, trades, equity), the reference", fmt_time(t_bt), "1.00×")
    t.add(f"baselines: buy-and-hold + flat + {n_random:,} random-entry series (one engine call)", fmt_time(t_base),
          fmt_ratio(t_base / t_bt))
    t.add("stationary bootstrap, 1,000 resamples of the per-bar returns (walk-forward intervals)", fmt_time(t_boot),
          fmt_ratio(t_boot / t_bt))
    rnd = first["random"]
    t.notes.append(f"the strategy's {int(result.stats['trades'][0]):,} trades and exposure copied by every random "
                   f"series; its return percentile {rnd['percentile']['total_return']:.1f}, p-value "
                   f"{rnd['p_value']['total_return']:.3f} (fixed pseudo-random probabilities: no edge expected)")
    res.tables.append(t)
    res.target(f"random baseline, {n_random:,} series on {n:,} bars", fmt_time(t_base), "≤ 1 s",
               t_base <= 1.0 if not quick else None)


# ---------------------------------------------------------------------------------------------
# a fresh process: import + first small sweep (warm numba cache)
# ---------------------------------------------------------------------------------------------

COLD_SWEEP = """
import time
t0 = time.perf_counter()
import numpy as np
import fuzzyvec as fv
bars = fv.load_ohlcv(fv.sample_data_dir() / "EURUSD_1h.parquet", timeframe="1h").head(2000)
rng = np.random.default_rng(0)
p = rng.dirichlet([1, 1, 1], bars.height)
r = fv.sweep(bars, p, {"confidence_threshold": 0.4}, None, {"sl_stop": [0.002, 0.004], "tp_stop": [0.003, None]},
             timeframe="1h")
b = fv.backtest(bars, fv.decide(p, {"confidence_threshold": 0.4}), timeframe="1h")
assert r.table.height == 4 and b.trades.height > 0
print(time.perf_counter() - t0)
"""


def bench_cold_start(res: SectionResult, quick: bool) -> None:
    log("fresh process: import + first small sweep and backtest (warm numba cache)")
    run_python(COLD_SWEEP)  # fills the numba cache if it is not warm yet
    walls, inner = [], []
    for _ in range(1 if quick else 3):
        wall, out = run_python(COLD_SWEEP)
        walls.append(wall)
        inner.append(float(out.strip().splitlines()[-1]))
    wall, inside = min(walls), min(inner)
    t = Table("A fresh process: python -c 'import fuzzyvec; first sweep + backtest' (warm numba cache)",
              ["what", "time"])
    t.add("whole process (interpreter start, import, load 2,000 bars, 4-combination sweep, one backtest)",
          fmt_time(wall))
    t.add("  inside the process, from the first import to the results", fmt_time(inside))
    t.notes.append("nothing imports vectorbt (the portfolio is built only on request) and every kernel loads "
                   "from the numba cache")
    res.tables.append(t)
    res.target("fresh process: import + first small sweep (warm cache)", fmt_time(wall), "≤ 3 s",
               wall <= 3.0 if not quick else None)


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
                "cold: NUMBA_CACHE_DIR is a new empty folder, so numba compiles fuzzyvec's kernels; warm: the "
                "same folder again",
            ]
            res.target("demo cold (empty numba cache)", fmt_time(cold), "< 90 s", cold < 90)
            res.target("demo warm (same cache)", fmt_time(warm), "< 30 s", warm < 30)
    res.tables.append(t)


def run(quick: bool = False) -> SectionResult:
    res = SectionResult(NAME)
    t0 = time.perf_counter()
    ctx = bench_single(res, quick)
    bench_backtesting_py(res, quick)
    bench_sweep(res, quick, ctx)
    bench_evaluation(res, quick, ctx)
    bench_cold_start(res, quick)
    bench_demo(res, quick)
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    from common import section_main

    sys.exit(section_main(NAME, run))
