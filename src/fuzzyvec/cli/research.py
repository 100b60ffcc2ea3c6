"""``walk-forward``, ``check-lookahead``, ``search`` and ``batch``: research over folds, cuts,
candidates and files (the fan-outs run on an executor, SPEC section 13)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..report.console import format_stat, print_table, progress, stat_rows
from ..research.executors import make_executor
from .common import OK, add_common, executor_options, positive_int, print_warnings

__all__ = ['cmd_batch', 'cmd_check_lookahead', 'cmd_search', 'cmd_walk_forward', 'register']


def cmd_walk_forward(args: argparse.Namespace) -> int:
    from ..data.files import load_strategy_data
    from ..io_utils import atomic_dir, atomic_write_json
    from ..research.walkforward import make_folds, resolve_walk_forward, walk_forward
    from ..strategy.load import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    walk = resolve_walk_forward(spec, train_bars=args.train_bars, test_bars=args.test_bars,
                                step_bars=args.step_bars)
    with make_executor(args.executor, args.workers).start() as executor:  # workers boot while data loads
        # imports torch (~1 s): only once the pool has started booting
        from ..model.bundle import save_bundle

        data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
        n_folds = len(make_folds(data[spec.symbols[0]][spec.base_timeframe]["timestamp"], walk))
        bar = progress(total=n_folds, desc="walk-forward folds", quiet=args.quiet, unit="fold")
        try:
            result = walk_forward(spec, data, train_bars=walk.train_bars, test_bars=walk.test_bars,
                                  step_bars=walk.step_bars, on_fold=lambda r: bar.update(1), executor=executor)
        finally:
            bar.close()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = (Path(args.out) if args.out else Path("runs") / spec.name) / f"walkforward-{stamp}"
    with atomic_dir(folder) as tmp:
        result.table.write_csv(tmp / "folds.csv")
        result.equity.write_csv(tmp / "equity.csv")
        atomic_write_json(tmp / "metrics.json", {"strategy": spec.name, **result.metrics,
                                                 "folds_detail": result.table.to_dicts()})
        for r in result.folds:
            save_bundle(r.bundle, tmp / f"fold_{r.fold.index}" / "bundle")
        _walk_forward_report(tmp / "equity.html", spec, result)
    m_all = result.metrics
    if args.json:
        print(json.dumps({"run": str(folder), "fold_count": len(result.folds), "walk_forward": m_all["walk_forward"],
                          "out_of_sample": m_all["out_of_sample"], "bootstrap": m_all["bootstrap"],
                          "baselines": m_all["baselines"], "warnings": m_all["warnings"],
                          "folds": result.table.to_dicts()}, indent=2, default=str))
        return OK
    print(f"walk-forward of {spec.name}: {len(result.folds)} folds (train {walk.train_bars:,}, test "
          f"{walk.test_bars:,}, step {walk.step_bars or walk.test_bars:,} bars)")
    cols = ["fold", "symbol", "test_start", "test_end", "total_return", "sharpe", "max_drawdown", "trades"]
    print_table(stat_rows(result.table.select(cols).rows(), cols), cols)
    for sym, m in m_all["out_of_sample"].items():
        boot = m_all["bootstrap"].get(sym) or {}
        base = m_all["baselines"].get(sym)
        rows = []
        for label, key in (("total return", "total_return"), ("Sharpe", "sharpe"), ("max drawdown", "max_drawdown")):
            low, high = boot.get(key) or ("", "")
            row = [label, *(format_stat(key, v) if v != "" else "" for v in (m[key], low, high))]
            if base:
                rnd = base["random"].get(key)
                p = base["random"]["p_value"].get(key)
                row += [format_stat(key, base["buy_and_hold"].get(key)),
                        format_stat(key, rnd.get("median")) if isinstance(rnd, dict) else "",
                        format_stat("p_value", p) if p is not None else ""]
            rows.append(row)
        print(f"\nout of sample, {sym}: {m['bars']:,} bars stitched from the folds' test windows")
        headers = ["metric", "strategy", "95 % low", "95 % high"]
        if base:
            headers += ["buy & hold", "random (median)", "p-value vs random"]
        print_table(rows, headers)
        print("  95 %: stationary block bootstrap of the out-of-sample returns "
              f"({boot.get('n_boot', 0):,} resamples)")
    print_warnings(m_all["warnings"])
    print(f"wrote {folder}/ (folds.csv, equity.csv, equity.html, metrics.json, fold_*/bundle)")
    return OK


def _walk_forward_report(path: Path, spec: Any, result: Any) -> None:
    """equity.html: the stitched out-of-sample equity over buy-and-hold and the random band."""
    from ..report.html import equity_figure, write_report

    m = result.metrics
    summary: dict[str, Any] = {"Strategy": spec.name, "Folds": m["folds"]}
    for sym, oos in m["out_of_sample"].items():
        boot = m["bootstrap"].get(sym) or {}
        tr = boot.get("total_return") or [None, None]
        summary[f"{sym}: out-of-sample total return (95 % interval)"] = (
            f"{oos['total_return']:.2%} ({tr[0]:.2%} .. {tr[1]:.2%})" if tr[0] is not None else f"{oos['total_return']:.2%}")
        if sym in m["baselines"]:
            summary[f"{sym}: p-value vs random entries (return)"] = m["baselines"][sym]["random"]["p_value"]["total_return"]
    fig = equity_figure(result.equity.drop("fold"), baselines=result.baselines)
    write_report(path, title=f"{spec.name} - walk-forward out of sample", figures={"Equity": fig}, summary=summary)


def cmd_check_lookahead(args: argparse.Namespace) -> int:
    from ..research.lookahead import check_lookahead
    from ..strategy.load import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    report = check_lookahead(spec, cuts=args.cuts, data_dir=args.data, start=args.start, end=args.end)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.clean:
        print(f"{spec.name}: no look-ahead: {report.columns_checked} columns identical on "
              f"{report.rows_checked} past rows at {len(report.cuts)} cut points")
    else:
        print(f"{spec.name}: LOOK-AHEAD in {len(report.offending)} column(s): past values changed when "
              "future bars were removed", file=sys.stderr)
        t = report.table()
        print_table(t.rows(), t.columns, file=sys.stderr)
    return OK if report.clean else 1


def cmd_search(args: argparse.Namespace) -> int:
    """Sample candidates, walk-forward each, print the ranking, write search.csv and best.yaml."""
    from ..io_utils import atomic_dir, atomic_write_json
    from ..research.search import search, search_summary

    if args.algo == "tune" and args.executor == "local":
        raise UsageError("--algo tune runs its trials on Ray: use --executor ray (or leave --executor out)")
    kind = "ray" if args.algo == "tune" else (args.executor or "local")
    executor = None if args.algo == "tune" else make_executor(kind, args.workers).start()
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
    cols = ["rank", "trial", "status", "objective", "oos_total_return", "oos_max_drawdown", "dsr", *result.space.keys]
    print_table(stat_rows(table.select(cols).head(20).rows(), cols), cols)
    if result.pbo is not None:
        print(f"probability of backtest overfitting across the candidates (CSCV on their out-of-sample returns, "
              f"{result.pbo.blocks} blocks): {result.pbo.pbo:.3f}; dsr: each candidate's deflated Sharpe ratio")
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
    from ..research.batch import run_batch

    files = list(dict.fromkeys(args.strategies))
    bar = progress(total=len(files), desc="batch", quiet=args.quiet, unit="file")
    try:
        with make_executor(args.executor, args.workers).start() as executor:
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
    print_table([[_short(r[0]), *r[1:]] for r in stat_rows(table.select(cols).rows(), cols)], cols)
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


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("check-lookahead", help="recompute features on truncated data; exit 1 if the past changes")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--cuts", type=int, default=5, metavar="N", help="number of cut points (default 5)")
    add_common(p)
    p.set_defaults(func=cmd_check_lookahead)

    p = sub.add_parser("walk-forward", help="train per fold, backtest each fold's out-of-sample bars")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--train-bars", type=int, metavar="N", help="training window in base bars")
    p.add_argument("--test-bars", type=int, metavar="N", help="out-of-sample window in base bars")
    p.add_argument("--step-bars", type=int, metavar="N", help="step between folds (default: test bars)")
    executor_options(p)
    add_common(p, out=True)
    p.set_defaults(func=cmd_walk_forward)

    p = sub.add_parser("search", help="search strategy variants, ranked by walk-forward out-of-sample metrics")
    p.add_argument("strategy", metavar="FILE", help="the base strategy")
    p.add_argument("--space", required=True, metavar="SPACE.yaml",
                   help="dotted strategy keys -> choices [a, b] or ranges {low, high, log, num}")
    p.add_argument("--trials", type=positive_int, default=20, metavar="N",
                   help="candidates to try (grid: at most N grid points); default 20")
    p.add_argument("--algo", choices=("random", "grid", "tune"), default="random",
                   help="random (seeded), grid (every point) or tune (Ray Tune, needs fuzzyvec[ray])")
    p.add_argument("--objective", default="oos_sharpe",
                   choices=("oos_sharpe", "oos_total_return", "oos_calmar", "oos_cagr", "oos_max_drawdown"),
                   help="walk-forward out-of-sample metric to rank by (default oos_sharpe)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default 0)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="override model.training.epochs of every candidate")
    p.add_argument("--train-bars", type=int, metavar="N", help="walk-forward training window in base bars")
    p.add_argument("--test-bars", type=int, metavar="N", help="walk-forward out-of-sample window in base bars")
    p.add_argument("--step-bars", type=int, metavar="N", help="step between folds (default: test bars)")
    executor_options(p, default=None)
    add_common(p, out=True)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("batch", help="train and backtest several strategy files in parallel")
    p.add_argument("strategies", nargs="+", metavar="FILE")
    executor_options(p)
    add_common(p, out=True)
    p.set_defaults(func=cmd_batch)
