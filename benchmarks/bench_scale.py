"""Scale-out benchmarks (SPEC §13): executors, walk-forward in parallel, memory-bounded sweeps.

- walk-forward of the example strategy with 1 worker (in process) vs 2 (a new local pool, in
  fresh processes; the same pool kept warm; Ray) and the ``walk-forward`` command end to end
  with ``--workers 1`` and ``2``: wall times and speed-up, worker start-up included;
- per-task overhead of the executors on trivial tasks (in process, local pool, Ray);
- sweeps over the bundled BTCUSDT 5m year, each in a fresh child process with its peak memory
  sampled: 1,000 combinations, the issue's 100,000 combinations in one engine call, and the
  same 100,000 in chunks on a local pool of 2 under ``--max-memory``; ``--large`` adds
  1,000,000 combinations (a few minutes).

Run: ``python benchmarks/bench_scale.py [--quick] [--large] [--markdown PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    STRATEGY,
    SectionResult,
    Table,
    best_of,
    fmt_ratio,
    fmt_time,
    log,
    render,
    run_python,
)

NAME = "scale"

# A child process: load the BTC year, warm the simulation up, then run one sweep while a thread
# samples the resident memory of the process and its workers (psutil; getrusage without it).
_CHILD = r'''
import importlib, json, os, resource, sys, threading, time
import numpy as np, polars as pl
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["bench_dir"])
from common import realistic_probs
sw = importlib.import_module("fuzzyvec.backtest.sweep")
from fuzzyvec.strategy.config import BacktestConfig, DecisionConfig
from fuzzyvec.research.executors import make_executor

bars = pl.read_parquet(cfg["bars_file"]).head(cfg["bars"])
probs = realistic_probs(bars.height)
dec = DecisionConfig(reverse_on_opposite=True, allow_short_from_flat=True)
bt = BacktestConfig(fees=0.0005, slippage=0.0002)
sw.sweep(bars.head(600), probs[:600], dec, bt, {"sl_stop": [0.01, 0.02]}, timeframe="5m")
grid = cfg["grid"]
try:
    import psutil
    me = psutil.Process()
    def one(p):
        try:
            return p.memory_full_info().pss  # shared pages counted once across the forked workers
        except (psutil.Error, AttributeError):
            return p.memory_info().rss
    def rss():
        total = one(me)
        for c in me.children(recursive=True):
            total += one(c)
        return total
    how = "psutil PSS of the process tree (shared pages counted once), sampled every 20 ms"
except ImportError:
    psutil = None
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    how = "getrusage (this process; workers' peak added from RUSAGE_CHILDREN)"
base = rss()
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.02)
th = threading.Thread(target=sample, daemon=True)
th.start()
t0 = time.perf_counter()
with make_executor("local", cfg["workers"]) as ex:
    r = sw.sweep(bars, probs, dec, bt, grid, timeframe="5m", max_memory=cfg["budget"], executor=ex)
wall = time.perf_counter() - t0
done.set(); th.join()
peak[0] = max(peak[0], rss())
if psutil is None:
    peak[0] += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 * max(0, cfg["workers"] - 1)
print(json.dumps({"wall": wall, "base": base, "peak": peak[0], "chunks": r.chunks, "rows": r.table.height,
                  "bars": bars.height, "how": how, "best_sharpe": r.table["sharpe"].max()}))
'''


_GRIDS = {  # combinations -> (thresholds, stop-losses = take-profits, fee levels)
    20: (5, 2, 1), 40: (10, 2, 1), 1_000: (10, 10, 1), 10_000: (10, 10, 10), 100_000: (10, 50, 4),
    1_000_000: (10, 100, 10),
}


def _grid(combinations: int) -> dict[str, list[float]]:
    """A grid of exactly ``combinations`` points: thresholds × stop-losses × take-profits × fees."""
    n_thr, n_stop, n_fee = _GRIDS[combinations]
    return {"confidence_threshold": [round(0.35 + 0.03 * i, 4) for i in range(n_thr)],
            "sl_stop": [round(0.002 + 0.001 * i, 4) for i in range(n_stop)],
            "tp_stop": [round(0.004 + 0.002 * i, 4) for i in range(n_stop)],
            "fees": [round(0.0002 * i, 4) for i in range(n_fee)]}


def _sweep_child(bars: int, combinations: int, budget: int, workers: int, timeout: float = 900) -> dict[str, Any]:
    import fuzzyvec as fv

    cfg = {"bench_dir": str(Path(__file__).resolve().parent), "bars_file": str(fv.sample_data_dir() / "BTCUSDT_5m.parquet"),
           "bars": bars, "grid": _grid(combinations), "budget": budget, "workers": workers}
    _, out = run_python(_CHILD, args=[json.dumps(cfg)], cwd=ROOT, timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def _mib(x: float) -> str:
    return f"{x / 2**20:,.0f} MiB"


# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------


def _executor_overhead(res: SectionResult, quick: bool) -> None:
    from fuzzyvec.research.executors import LocalExecutor, RayExecutor

    n = 50 if quick else 400
    t = Table(f"Executor overhead: {n} trivial tasks (the builtin abs)",
              ["executor", "start-up (first 2 tasks)", f"{n} tasks", "overhead per task"])
    t.notes.append("local pool: best of 3 fresh pools each; per task = (wall of n tasks - wall of 2) / (n - 2)")
    t0 = time.perf_counter()
    list(LocalExecutor(1).map(abs, range(n)))
    t.add("local, workers=1 (in process)", "—", fmt_time(time.perf_counter() - t0),
          fmt_time((time.perf_counter() - t0) / n))
    log("executor overhead: local pool")
    list(LocalExecutor(2).map(abs, range(2)))  # the fork server starts once per process

    def fresh() -> None:
        with LocalExecutor(2) as ex:
            list(ex.map(abs, range(2)))

    start = best_of(fresh, 3, warmup=0)
    with LocalExecutor(2) as warm:
        list(warm.map(abs, range(2)))
        wall = best_of(lambda: list(warm.map(abs, range(n))), 3, warmup=0)
    per_local = wall / n
    t.add("local, workers=2 (warm pool: kept across maps)", fmt_time(start), fmt_time(wall), fmt_time(per_local))
    per_ray = None
    try:
        log("executor overhead: ray (starting a local cluster)")
        t0 = time.perf_counter()
        ray_ex = RayExecutor(2)
        boot = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            list(ray_ex.map(abs, range(2)))
            start = time.perf_counter() - t0
            t0 = time.perf_counter()
            list(ray_ex.map(abs, range(n)))
            wall = time.perf_counter() - t0
            per_ray = wall / n
            t.add("ray, 2 CPUs (local cluster, warm workers)", f"{fmt_time(start)} (+ cluster {fmt_time(boot)})",
                  fmt_time(wall), fmt_time(per_ray))
        finally:
            ray_ex.close()
    except Exception as exc:
        t.add("ray", "not run", "—", f"({type(exc).__name__}: {exc})"[:80])
    t.notes += ["start-up of the local pool: a forkserver process imports numpy, polars, torch and fuzzyvec's "
                "engine once, workers fork from it; the pool stays warm for the executor's lifetime, so later "
                "maps (folds, chunks, candidates) reuse its processes",
                "Ray keeps its worker processes for the cluster's lifetime; the cluster start is paid once"]
    res.tables.append(t)
    res.target("executor overhead per task: local pool / Ray", f"{fmt_time(per_local)} / {fmt_time(per_ray)}",
               "info", None)


# A child process: a warm driver (one in-process walk-forward first), then 1 worker in process
# and 2 workers on a NEW pool (its fork server and worker boot inside the timing), same windows.
_WF_CHILD = r'''
import json, sys, time
cfg = json.loads(sys.argv[1])
import fuzzyvec as fv
from fuzzyvec.research.executors import LocalExecutor
from fuzzyvec.research.walkforward import walk_forward
spec = fv.load_strategy(cfg["strategy"], warn=False)
data = fv.load_strategy_data(spec, start=cfg["start"], end=cfg["end"])
win = cfg["win"]
walk_forward(spec, data, **win)
t0 = time.perf_counter()
one = walk_forward(spec, data, **win)
t1 = time.perf_counter() - t0
t0 = time.perf_counter()
with LocalExecutor(2).start() as ex:
    two = walk_forward(spec, data, executor=ex, **win)
    t2 = time.perf_counter() - t0
print(json.dumps({"t1": t1, "t2": t2, "same": one.metrics == two.metrics}))
'''


def _walk_forward(res: SectionResult, quick: bool) -> None:
    import tempfile

    import fuzzyvec as fv
    from fuzzyvec.research.executors import LocalExecutor, RayExecutor
    from fuzzyvec.research.walkforward import walk_forward

    spec = fv.load_strategy(STRATEGY, warn=False)
    start, end = ("2023-01-01", "2023-01-31") if quick else (None, None)
    win = {"train_bars": 4000, "test_bars": 2000} if quick else {"train_bars": 20_000, "test_bars": 12_000}
    data = fv.load_strategy_data(spec, start=start, end=end)
    sym = spec.symbols[0]
    repeats = 1 if quick else 3
    log("walk-forward: in process (also warms this process up)")
    walk_forward(spec, data, train_bars=win["train_bars"], test_bars=data[sym][spec.base_timeframe].height)
    ref = walk_forward(spec, data, **win)
    t1 = best_of(lambda: walk_forward(spec, data, **win), repeats, warmup=0)
    folds = len(ref.folds)
    t = Table(f"Walk-forward: {STRATEGY.name}, {data[sym][spec.base_timeframe].height:,} {spec.base_timeframe} bars, "
              f"{folds} folds (train {win['train_bars']:,}, test {win['test_bars']:,})",
              ["executor", "wall", "speed-up vs 1 worker", "same result"])
    t.add(f"local, workers=1 (in process, best of {repeats})", fmt_time(t1), "1.00×", "reference")

    log(f"walk-forward: a new pool of 2 in {repeats} fresh processes (warm driver)")
    cfg = {"strategy": str(STRATEGY), "start": start, "end": end, "win": win}
    runs = [json.loads(run_python(_WF_CHILD, args=[json.dumps(cfg)])[1].strip().splitlines()[-1])
            for _ in range(repeats)]
    c1, c2 = min(r["t1"] for r in runs), min(r["t2"] for r in runs)
    t.add(f"the same in a fresh process: workers=1, then workers=2 on a new pool, start-up included "
          f"(best of {repeats} processes)", f"{fmt_time(c1)} / {fmt_time(c2)}", fmt_ratio(c1 / c2),
          str(all(r["same"] for r in runs)))

    log("walk-forward: local pool, 2 workers, kept warm")
    ex = LocalExecutor(2).start()
    first = walk_forward(spec, data, executor=ex, **win)  # boots the pool
    t0 = time.perf_counter()
    again = walk_forward(spec, data, executor=ex, **win)  # the same executor: its pool is still warm
    t2w = time.perf_counter() - t0
    ex.close()
    t.add("local, workers=2, second walk-forward on the same executor (warm pool)", fmt_time(t2w),
          fmt_ratio(t1 / t2w), str(again.metrics == ref.metrics and first.metrics == ref.metrics))

    log(f"walk-forward: the CLI end to end, --workers 1 and 2, best of {repeats} each")
    cli = {1: float("inf"), 2: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        base = ["-m", "fuzzyvec.run", "walk-forward", str(STRATEGY), "--quiet", "--out", tmp,
                "--train-bars", str(win["train_bars"]), "--test-bars", str(win["test_bars"])]
        base += ["--start", start, "--end", end] if quick else []
        for _ in range(repeats):
            for w in (1, 2):
                cli[w] = min(cli[w], run_python("", args=[*base, "--workers", str(w)])[0])
    t.add("CLI `walk-forward --workers 1` / `--workers 2`, whole command (fresh process and pool, data "
          f"loading, outputs; best of {repeats})", f"{fmt_time(cli[1])} / {fmt_time(cli[2])}",
          fmt_ratio(cli[1] / cli[2]), "—")

    ray_speedup = None
    try:
        ray_ex = RayExecutor(2)
        try:
            log("walk-forward: ray, 2 CPUs (cold workers, then warm)")
            t0 = time.perf_counter()
            cold = walk_forward(spec, data, executor=ray_ex, **win)
            tc = time.perf_counter() - t0
            t0 = time.perf_counter()
            walk_forward(spec, data, executor=ray_ex, **win)
            tw = time.perf_counter() - t0
            ray_speedup = t1 / tw
            t.add("ray, 2 CPUs, first run (workers import and compile)", fmt_time(tc), fmt_ratio(t1 / tc),
                  str(cold.metrics == ref.metrics))
            t.add("ray, 2 CPUs, second run (warm workers)", fmt_time(tw), fmt_ratio(ray_speedup), "True")
        finally:
            ray_ex.close()
    except Exception as exc:
        t.add("ray", "not run", "—", f"{type(exc).__name__}: {exc}"[:60])
    t.notes += [f"{folds} folds of training ({spec.model.training.epochs} epochs max, early stopping) and an "
                "out-of-sample backtest each; 2 CPUs, so 2× is the ceiling",
                "a new pool: its fork server imports numpy, polars, torch and the engine (~1 s), the worker forks "
                "from it and pays numba's and torch's first use in a warm-up task; the driver runs tasks "
                "meanwhile; the pool then stays warm for the executor's lifetime",
                "the fresh-pool row is measured in child processes because the fork server is started once per "
                "process: a second pool in the same process forks from the running one"]
    res.tables.append(t)
    res.target("walk-forward speed-up, 2 workers (new pool, start-up included)", fmt_ratio(c1 / c2), "> 1×",
               c1 / c2 > 1 if not quick else None)
    res.target("walk-forward speed-up, 2 workers, CLI end to end", fmt_ratio(cli[1] / cli[2]), "> 1×",
               cli[1] / cli[2] > 1 if not quick else None)
    res.target("walk-forward speed-up, 2 workers (warm pool)", fmt_ratio(t1 / t2w), "> 1×",
               t1 / t2w > 1 if not quick else None)
    if ray_speedup is not None:
        res.target("walk-forward speed-up, 2 Ray workers (warm)", fmt_ratio(ray_speedup), "info", None)


def _search(res: SectionResult, quick: bool) -> None:
    """A search of several candidates: 1 worker in process vs a cold 2-worker pool (start-up included)."""
    import tempfile

    import yaml

    import fuzzyvec as fv
    from fuzzyvec.research.executors import LocalExecutor
    from fuzzyvec.research.search import search

    raw = yaml.safe_load((ROOT / "strategies" / "v3_e2e_test.yaml").read_text())
    raw["training"]["labels"]["zigzag_threshold"] = 0.005  # a strategy that trades (the reference one does not)
    raw["decisions"]["confidence_threshold"] = 0.4
    raw["model"]["training"].update(learning_rate=0.01, epochs=2 if quick else 5)
    space = {"indicators.rsi_14.period": [7, 14, 21, 28], "decisions.confidence_threshold": {"low": 0.36, "high": 0.5}}
    trials = 2 if quick else 8
    with tempfile.TemporaryDirectory(prefix="fuzzyvec-bench-search-") as tmp:
        path = Path(tmp) / "trading.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        data = fv.load_strategy_data(fv.load_strategy(path, warn=False))
        kw = {"trials": trials, "seed": 3, "data": data, "train_bars": 3000, "test_bars": 1500}
        log(f"search: {trials} candidates, in process")
        search(path, space, **{**kw, "trials": 1})  # warm this process up
        t0 = time.perf_counter()
        one = search(path, space, **kw)
        t1 = time.perf_counter() - t0
        log(f"search: {trials} candidates, cold local pool of 2")
        t0 = time.perf_counter()
        with LocalExecutor(2).start() as ex:
            two = search(path, space, executor=ex, **kw)
        t2 = time.perf_counter() - t0
    same = one.table.equals(two.table)
    t = Table(f"Search: {trials} candidates of the EURUSD 1h strategy (each: look-ahead check, 3 walk-forward folds)",
              ["executor", "wall", "speed-up vs 1 worker", "same table"])
    t.add("local, workers=1 (in process, warm)", fmt_time(t1), "1.00×", "reference")
    t.add("local, workers=2 (a new pool: start-up included)", fmt_time(t2), fmt_ratio(t1 / t2), str(same))
    t.notes.append("the pool's two workers stay warm across the candidates; each candidate runs in one worker")
    res.tables.append(t)
    res.target("search speed-up, 2 workers (new pool, start-up included)", fmt_ratio(t1 / t2), "> 1×",
               t1 / t2 > 1 if not quick else None)


def _sweeps(res: SectionResult, quick: bool, large: bool) -> None:
    from fuzzyvec.backtest.sweep import WORKER_BYTES, default_memory_budget, sweep_memory

    def estimate(run: dict[str, Any], workers: int) -> int:  # what plan_chunks budgets: processes + chunks
        chunk = sweep_memory(run["bars"], -(-run["rows"] // run["chunks"]))
        return ((workers + 1) * WORKER_BYTES + workers * chunk) if workers > 1 else chunk

    bars = 20_000 if quick else 104_816
    small = 128 * bars + 15 * 2048  # FIXED_BYTES_PER_BAR × bars + 15 combinations: three chunks of 40
    runs = ([("one engine call", 20, 10**12, 1), ("chunked, --max-memory ~2.5 MiB, workers=1", 40, small, 1)]
            if quick else
            [("one engine call", 1_000, 10**12, 1), ("one engine call", 100_000, 10**12, 1),
             ("chunked, --max-memory 768 MiB, local pool of 2", 100_000, 768 * 2**20, 2)])
    if large and not quick:
        runs.append(("one engine call (--large)", 1_000_000, 10**12, 1))
    t = Table(f"Sweeps over BTCUSDT 5m ({bars:,} bars), each in a fresh process, all metrics",
              ["run", "combinations", "chunks", "wall", "bar-combinations / s", "peak above start", "estimate",
               "budget"])
    measured = {}
    for name, m, budget, workers in runs:
        log(f"sweep: {m:,} combinations, {name}")
        r = _sweep_child(bars, m, budget, workers, timeout=3600)
        measured[(m, workers)] = r
        t.add(name, f"{r['rows']:,}", r["chunks"], fmt_time(r["wall"]), f"{bars * m / r['wall']:,.0f}",
              _mib(r["peak"] - r["base"]), _mib(estimate(r, workers)), "—" if budget >= 10**12 else _mib(budget))
    t.notes += [f"memory: {next(iter(measured.values()))['how']}; 'peak above start' is over the child process after "
                "its imports, the bars and a warm-up sweep",
                "estimate: fuzzyvec.backtest.sweep.sweep_memory (FIXED_BYTES_PER_BAR × bars + "
                "BYTES_PER_COMBINATION × combinations per chunk); on a pool of w workers w chunks plus "
                "(w + 1) × WORKER_BYTES (the fork server and the workers)",
                f"default --max-memory on this machine: {_mib(default_memory_budget())} (a quarter of RAM)"]
    res.tables.append(t)
    if quick:
        c = measured[(40, 1)]
        res.target("chunked sweep: chunks under a small --max-memory", str(c["chunks"]), "> 1", c["chunks"] > 1)
        return
    big = measured[(100_000, 1)]
    res.target("100,000-combination sweep of the BTC year: wall / peak above start",
               f"{fmt_time(big['wall'])} / {_mib(big['peak'] - big['base'])}", "≤ 3 min, < 1 GiB",
               big["wall"] <= 180 and big["peak"] - big["base"] < 2**30)
    pool = measured[(100_000, 2)]
    res.target("100,000 combinations, chunked on a pool of 2 under --max-memory 768 MiB: wall / peak",
               f"{fmt_time(pool['wall'])} / {_mib(pool['peak'] - pool['base'])}", "≤ 768 MiB",
               pool["peak"] - pool["base"] <= 768 * 2**20)


def run(quick: bool = False, *, large: bool = False) -> SectionResult:
    """The scale-out section (``large``: also run the 100,000-combination sweep, ~1 h)."""
    res = SectionResult(NAME)
    t0 = time.perf_counter()
    _walk_forward(res, quick)
    _search(res, quick)
    _executor_overhead(res, quick)
    _sweeps(res, quick, large)
    res.seconds = time.perf_counter() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fuzzyvec benchmark section: scale-out (executors, chunked sweeps)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    p.add_argument("--large", action="store_true",
                   help="also run a 1,000,000-combination sweep over the BTC year (a few minutes)")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    args = p.parse_args(argv)
    res = run(args.quick, large=args.large)
    text, md = render([res], quick=args.quick)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(md, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
