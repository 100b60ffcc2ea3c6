"""``sweep``: a grid of decision and backtest parameters in one engine call."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StrategyError
from ..report.console import format_stat, print_table, progress, stat_rows
from ..research.executors import make_executor
from .common import OK, add_common, epoch_bar, executor_options, print_warnings, say

__all__ = ['cmd_sweep', 'parse_grid', 'register']


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null", "off"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text) if low.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text.strip()


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["confidence_threshold=0.5,0.6", "sl_stop=0.01,none"]`` -> ``{key: [values]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        if not eq or not key or not values:
            raise StrategyError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. sl_stop=0.01,0.02)")
        grid[key.strip()] = [_value(v) for v in values.split(",")]
    if not grid:
        raise StrategyError("sweep needs at least one --grid KEY=V1,V2,...")
    return grid


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..strategy.load import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    grid = parse_grid(args.grid)
    with make_executor(args.executor, args.workers) as executor:
        return _sweep(args, spec, grid, executor)


def _sweep(args: argparse.Namespace, spec: Any, grid: dict[str, list[Any]], executor: Any) -> int:
    from ..backtest.sweep import sweep
    from ..data.files import load_strategy_data
    from ..features.frame import build_features
    from ..io_utils import atomic_dir, atomic_write_json
    from ..model.bundle import load_bundle
    from ..model.predict import predict_proba
    from ..research.pipeline import check_bundle_features, fit

    data = load_strategy_data(spec, data_dir=args.data, end=args.end)
    if args.model is None:
        say(args, f"training {spec.name} (no --model given) ...")
        bar, on_epoch = epoch_bar(args, spec.model.training.epochs)
        try:
            bundle = fit(spec, data, on_epoch=on_epoch)
        finally:
            bar.close()
    else:
        bundle = load_bundle(args.model)
    check_bundle_features(spec, bundle)
    symbol = args.symbol or spec.symbols[0]
    if symbol not in spec.symbols:
        raise StrategyError(f"--symbol {symbol!r} is not one of the strategy's symbols {list(spec.symbols)}")
    features = build_features(spec, data)
    if "symbol" in features.columns:
        import polars as pl

        features = features.filter(pl.col("symbol") == symbol)
    probs = predict_proba(bundle, features)
    start = args.start or (bundle.metadata.get("date_ranges") or {}).get("test", {}).get("start")
    bars = data[symbol][spec.base_timeframe]
    keep = np.ones(bars.height, bool)
    if start is not None:
        from ..data.bars import to_utc_datetime

        keep = (bars["timestamp"] >= to_utc_datetime(start, what="start")).to_numpy()
    import polars as pl

    n_combos = int(np.prod([len(v) for v in grid.values()]))
    bar = progress(total=n_combos, desc="sweep", quiet=args.quiet, unit="combination")
    try:
        swept = bars.filter(pl.Series(keep))
        result = sweep(swept, probs[keep], spec.decisions, spec.backtest, grid,
                       timeframe=spec.base_timeframe, max_memory=args.max_memory, executor=executor,
                       on_chunk=bar.update)
    finally:
        bar.close()
    table = result.table.sort("sharpe", descending=True, nulls_last=True)
    best_row = table.row(0, named=True)
    best = result.backtest(int(best_row["combination"]))  # the best row with full records
    from ..backtest.baselines import baselines_from_result

    base = next(iter(baselines_from_result(best, swept, timeframe=spec.base_timeframe).values()))
    pbo = result.pbo.to_json() if result.pbo is not None else None
    warnings = [] if table["trades"].max() else ["no combination of the grid made a trade"]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = (Path(args.out) if args.out else Path("runs") / spec.name) / f"sweep-{stamp}"
    keys = list(result.grid)
    with atomic_dir(folder) as tmp:
        table.write_csv(tmp / "sweep.csv")
        atomic_write_json(tmp / "sweep.json", {"strategy": spec.name, "symbol": symbol, "grid": result.grid,
                                               "chunks": result.chunks, "pbo": pbo,
                                               "best": {"combination": best_row["combination"],
                                                        "baselines": base.to_json()},
                                               "warnings": warnings, "rows": table.to_dicts()})
        if len(keys) >= 2:
            result.heatmap(keys[0], keys[1], "sharpe").write_html(tmp / "heatmap.html", include_plotlyjs=True)
        elif len(keys) == 1:
            result.heatmap(keys[0], keys[0], "sharpe").write_html(tmp / "heatmap.html", include_plotlyjs=True)
    if args.json:
        print(json.dumps({"run": str(folder), "combinations": table.height, "chunks": result.chunks, "pbo": pbo,
                          "best": {"combination": best_row["combination"], "baselines": base.to_json()},
                          "warnings": warnings, "rows": table.to_dicts()}, indent=2, default=str))
        return OK
    how = ("one engine call" if result.chunks == 1 else
           f"{result.chunks} engine calls of up to {-(-table.height // result.chunks)} combinations "
           f"(memory budget; {executor.name} executor)")
    print(f"sweep of {spec.name} ({symbol}): {table.height} combinations in {how}")
    cols = [*keys, "total_return", "sharpe", "dsr", "max_drawdown", "trades", "win_rate"]
    print_table(stat_rows(table.select(cols).head(20).rows(), cols), cols)
    if table.height > 20:
        print(f"  ... {table.height - 20} more in {folder / 'sweep.csv'}")
    r, f = base.random, format_stat
    print(f"best row (combination {best_row['combination']}): total return {f('total_return', best_row['total_return'])}, "
          f"Sharpe {f('sharpe', best_row['sharpe'])}, deflated Sharpe {f('dsr', best_row['dsr'])} (the probability "
          f"that its Sharpe is real after {table.height} trials); buy and hold "
          f"{f('total_return', base.buy_and_hold['total_return'])}; random entries: median "
          f"{f('total_return', r['total_return']['median'])}, p-value {f('p_value', r['p_value']['total_return'])}")
    if pbo is not None:
        print(f"probability of backtest overfitting (CSCV, {pbo['blocks']} blocks, {pbo['n_combinations']:,} splits): "
              f"{pbo['pbo']:.3f} — the chance that the in-sample best is below the median out of sample")
    print_warnings(warnings)
    print(f"wrote {folder}/ (sweep.csv, sweep.json, heatmap.html)")
    return OK


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("sweep", help="grid of decision/backtest parameters as one engine call")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="e.g. confidence_threshold=0.5,0.6 sl_stop=0.01,none (repeatable)")
    p.add_argument("--model", metavar="DIR", help="a bundle folder (trains one when absent)")
    p.add_argument("--symbol", help="symbol to sweep for multi-symbol strategies (default: the first)")
    executor_options(p, memory=True)
    add_common(p, out=True)
    p.set_defaults(func=cmd_sweep)
