"""Sub-commands that fan out over an executor: ``search`` and ``batch`` (SPEC §13).

``sweep`` and ``walk-forward`` take the same ``--executor/--workers`` options and live in
:mod:`fuzzyvec.commands`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .console import format_table, progress
from .errors import UsageError
from .executors import make_executor

__all__ = ["cmd_batch", "cmd_search"]

OK = 0


def cmd_search(args: argparse.Namespace) -> int:
    """Sample candidates, walk-forward each, print the ranking, write search.csv and best.yaml."""
    from .io_utils import atomic_dir, atomic_write_json
    from .search import search, search_summary

    if args.algo == "tune" and args.executor == "local":
        raise UsageError("--algo tune runs its trials on Ray: use --executor ray (or leave --executor out)")
    kind = "ray" if args.algo == "tune" else (args.executor or "local")
    executor = None if args.algo == "tune" else make_executor(kind, args.workers)
    bar = progress(total=args.trials, desc="search", quiet=args.quiet, unit="candidate")
    try:
        result = search(args.strategy, args.space, trials=args.trials, algo=args.algo, objective=args.objective,
                        seed=args.seed, data_dir=args.data, start=args.start, end=args.end,
                        train_bars=args.train_bars, test_bars=args.test_bars, step_bars=args.step_bars,
                        epochs=args.epochs, executor=executor, workers=args.workers,
                        on_trial=lambda row: bar.update(1))
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    table = result.table
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = next(iter(result.candidates.values()))["name"]
    folder = (Path(args.out) if args.out else Path("runs") / str(name)) / f"search-{stamp}"
    settings = {"strategy": str(args.strategy), "space": str(args.space), "algo": args.algo, "trials": args.trials,
                "seed": args.seed, "executor": kind, "epochs": args.epochs}
    best = result.best
    with atomic_dir(folder) as tmp:
        table.write_csv(tmp / "search.csv")
        atomic_write_json(tmp / "search.json", search_summary(result, settings))
        if best is not None:
            result.write_best(tmp / "best.yaml")
    if args.json:
        print(json.dumps({"run": str(folder), "best": best, "best_strategy": str(folder / "best.yaml") if best else None,
                          "rows": table.to_dicts()}, indent=2, default=str))
        return OK if best is not None else 1
    print(f"search of {args.strategy} over {args.space}: {table.height} candidates ({args.algo}, seed {args.seed}, "
          f"{kind} executor), ranked by {result.objective}")
    cols = ["rank", "trial", "status", "objective", "oos_total_return", "oos_max_drawdown", *result.space.keys]
    print(format_table(table.select(cols).head(20).rows(), cols))
    failed = table.filter(table["status"] != "ok")
    for r in failed.head(5).iter_rows(named=True):
        print(f"  trial {r['trial']} {r['status']}: {r['error']}")
    if failed.height > 5:
        print(f"  ... {failed.height - 5} more skipped candidates in {folder / 'search.csv'}")
    if best is None:
        print(f"no candidate could be scored; wrote {folder}/ (search.csv, search.json)")
        return 1
    print(f"best: trial {best['trial']}, {result.objective} = {best['objective']:.6g}")
    print(f"wrote {folder}/ (search.csv, search.json, best.yaml)")
    return OK


def cmd_batch(args: argparse.Namespace) -> int:
    """Train and backtest every strategy file in parallel; one table row per file and symbol."""
    from .batch import run_batch

    files = list(dict.fromkeys(args.strategies))
    bar = progress(total=len(files), desc="batch", quiet=args.quiet, unit="file")
    try:
        with make_executor(args.executor, args.workers) as executor:
            table = run_batch(files, out=args.out, data_dir=args.data, start=args.start, end=args.end,
                              executor=executor, on_file=lambda rows: bar.update(1))
    finally:
        bar.close()
    failed = table.filter(table["status"] != "ok")
    if args.json:
        print(json.dumps({"rows": table.to_dicts()}, indent=2, default=str))
        return OK if failed.height == 0 else 1
    cols = ["file", "symbol", "period_start", "period_end", "total_return", "sharpe", "max_drawdown", "trades",
            "win_rate", "test_accuracy"]
    print(f"batch of {len(files)} strategy files ({executor.name} executor, {executor.workers} workers)")
    print(format_table([[_short(r[0]), *r[1:]] for r in table.select(cols).rows()], cols))
    runs = [r for r in table["run"].to_list() if r]
    if runs:
        print("run folders (report.html, metrics.json, trades.csv, equity.csv, bundle/):")
        for r in dict.fromkeys(runs):
            print(f"  {r}")
    for r in failed.iter_rows(named=True):
        print(f"error: {r['file']}: {r['error']}")
    return OK if failed.height == 0 else 1


def _short(path: Any) -> str:
    p = Path(str(path))
    return p.name if len(str(path)) > 40 else str(path)
