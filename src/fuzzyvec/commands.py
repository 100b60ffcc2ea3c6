"""Sub-commands of ``python -m fuzzyvec.run`` that train and backtest.

Each command parses nothing (``run.py`` does), calls :mod:`fuzzyvec.pipeline`, and writes files
atomically: a run folder appears complete or not at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .console import format_table, progress
from .errors import StrategyError, UsageError
from .executors import make_executor

__all__ = [
    "cmd_backtest",
    "cmd_check_lookahead",
    "cmd_demo",
    "cmd_export_onnx",
    "cmd_predictions",
    "cmd_record",
    "cmd_sweep",
    "cmd_train",
    "cmd_walk_forward",
    "parse_grid",
]

OK = 0


def _say(args: argparse.Namespace, *lines: str) -> None:
    if not getattr(args, "json", False):
        for line in lines:
            print(line)


def _epoch_bar(args: argparse.Namespace, total: int):
    bar = progress(total=total, desc="training", quiet=args.quiet, unit="epoch")

    def on_epoch(rec: dict[str, Any]) -> None:
        post = {"loss": f"{rec['train_loss']:.4f}", "acc": f"{rec['train_accuracy']:.3f}"}
        if rec.get("val_loss") is not None:
            post["val_loss"] = f"{rec['val_loss']:.4f}"
            post["val_acc"] = f"{rec['val_accuracy']:.3f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)

    return bar, on_epoch


def _metrics_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        m = metrics.get(split) or {}
        rows.append([split, m.get("n", 0), m.get("loss"), m.get("accuracy"), m.get("precision_macro"),
                     m.get("recall_macro"), m.get("f1_macro"), m.get("f1_weighted")])
    return rows


def _print_training(bundle: Any) -> None:
    m = bundle.metrics
    print(format_table(_metrics_rows(m), ["split", "rows", "loss", "accuracy", "precision (macro)",
                                          "recall (macro)", "F1 (macro)", "F1 (weighted)"]))
    cm = (m.get("test") or {}).get("confusion_matrix")
    if cm:
        print("\ntest confusion matrix (rows: true, columns: predicted)")
        print(format_table([[n, *row] for n, row in zip(("BUY", "HOLD", "SELL"), cm, strict=True)],
                           ["", "BUY", "HOLD", "SELL"]))
    print(f"\nepochs run: {m.get('epochs_run')}, best epoch: {m.get('best_epoch')}, "
          f"stopped early: {m.get('stopped_early')}")


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .data import load_strategy_data
    from .pipeline import fit_and_save, prepare_training
    from .strategy_io import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
    if args.dry_run:
        ts = prepare_training(spec, data)
        summary = ts.dataset.summary()
        out = {"strategy": spec.name, "features": list(ts.dataset.schema.names),
               "feature_count": len(ts.dataset.schema), "labels": spec.training.labels.model_dump(mode="json"),
               "split": summary, "epochs": args.epochs or spec.model.training.epochs,
               "seed": spec.model.training.seed if args.seed is None else args.seed}
        if args.json:
            print(json.dumps(out, indent=2, default=str))
            return OK
        print(f"would train {spec.name}: {len(ts.dataset.schema)} features, labels "
              f"{spec.training.labels.source} {out['labels']}, {out['epochs']} epochs, seed {out['seed']}")
        print(format_table([[s, summary[s]["rows"], summary[s]["start"], summary[s]["end"],
                             *summary[s]["class_counts"].values()] for s in ("train", "validation", "test")],
                           ["split", "rows", "start", "end", "BUY", "HOLD", "SELL"]))
        print(f"dropped rows: {summary['dropped']}; embargo {summary['embargo_bars']} bars between splits")
        print("features: " + ", ".join(ts.dataset.schema.names))
        return OK
    epochs = args.epochs or spec.model.training.epochs
    bar, on_epoch = _epoch_bar(args, epochs)
    try:
        bundle = fit_and_save(spec, data, models_dir=args.models_dir, resume=args.resume, epochs=args.epochs,
                              seed=args.seed, on_epoch=on_epoch)
    finally:
        bar.close()
    if args.json:
        print(json.dumps({"bundle": str(bundle.path), "metrics": {k: bundle.metrics[k] for k in
                                                                   ("test", "validation", "train", "best_epoch",
                                                                    "epochs_run", "stopped_early")}},
                         indent=2, default=str))
        return OK
    print(f"trained {spec.name}: bundle written to {bundle.path}")
    _print_training(bundle)
    return OK


# ---------------------------------------------------------------------------------------------
# backtest and demo
# ---------------------------------------------------------------------------------------------


STAT_ROWS = (
    ("total return", "total_return"), ("CAGR", "cagr"), ("Sharpe", "sharpe"), ("Sortino", "sortino"),
    ("Calmar", "calmar"), ("max drawdown", "max_drawdown"), ("max drawdown duration", "max_drawdown_duration"),
    ("win rate", "win_rate"), ("profit factor", "profit_factor"), ("expectancy", "expectancy"),
    ("trades", "trades"), ("exposure", "exposure"), ("fees paid", "fees_paid"),
    ("buy and hold return", "buy_and_hold_return"), ("final equity", "final_equity"),
)


def _print_stats(metrics: dict[str, dict[str, Any]]) -> None:
    syms = list(metrics)
    print(format_table([[label, *(metrics[s].get(key) for s in syms)] for label, key in STAT_ROWS],
                       ["metric", *syms]))


def _run_backtest(args: argparse.Namespace, spec: Any, *, title: str) -> int:
    from .batch import backtest_start, write_run
    from .bundle import load_bundle
    from .data import load_strategy_data
    from .pipeline import evaluate, fit

    data = load_strategy_data(spec, data_dir=args.data, end=args.end)
    trained_here = args.model is None
    if trained_here:
        _say(args, f"training {spec.name} (no --model given) ...")
        epochs = spec.model.training.epochs
        bar, on_epoch = _epoch_bar(args, epochs)
        try:
            train_data = data if args.start is None else load_strategy_data(
                spec, data_dir=args.data, end=args.start)
            bundle = fit(spec, train_data, on_epoch=on_epoch)
        finally:
            bar.close()
    else:
        bundle = load_bundle(args.model)
    start, period = backtest_start(bundle, args.start)
    _say(args, f"backtesting {spec.name} on {period} ...")
    ev = evaluate(spec, bundle, data, start=start, end=args.end)
    root = Path(args.out) if args.out else Path("runs") / spec.name
    folder, summary = write_run(spec, bundle, ev, root=root, trained=trained_here)
    metrics = summary["backtest"]
    if args.json:
        print(json.dumps({"run": str(folder), **summary}, indent=2, default=str))
        return OK
    print(f"\n{title}: {spec.name}, {summary['period_start']} .. {summary['period_end']}")
    _print_stats(metrics)
    test = bundle.metrics.get("test") or {}
    if test.get("accuracy") is not None:
        print(f"\nmodel test accuracy {test['accuracy']:.3f}, macro F1 {test.get('f1_macro', float('nan')):.3f}")
    print(f"\nwrote {folder}/ (report.html, metrics.json, trades.csv, equity.csv"
          f"{', bundle/' if trained_here else ''})")
    return OK


def cmd_backtest(args: argparse.Namespace) -> int:
    from .strategy_io import load_strategy

    return _run_backtest(args, load_strategy(args.strategy, warn=False), title="backtest")


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo: the bundled multi-timeframe strategy, features -> training -> backtest -> report."""
    from .paths import bundled_strategy
    from .strategy_io import load_strategy

    path = bundled_strategy()
    spec = load_strategy(path, warn=False)
    _say(args, f"fuzzyvec demo: {path.name} ({spec.description})",
         f"symbols {', '.join(spec.symbols)}, timeframes {', '.join(spec.timeframes)}, "
         f"{len(spec.nn_inputs)} inputs; bundled real data")
    ns = argparse.Namespace(**{**vars(args), "model": None})
    return _run_backtest(ns, spec, title="demo backtest")


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------


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
    from .strategy_io import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    grid = parse_grid(args.grid)
    with make_executor(args.executor, args.workers) as executor:
        return _sweep(args, spec, grid, executor)


def _sweep(args: argparse.Namespace, spec: Any, grid: dict[str, list[Any]], executor: Any) -> int:
    from .bundle import load_bundle
    from .data import load_strategy_data
    from .features import build_features
    from .io_utils import atomic_dir, atomic_write_json
    from .pipeline import check_bundle_features, fit
    from .predict import predict_proba
    from .sweep import sweep

    data = load_strategy_data(spec, data_dir=args.data, end=args.end)
    if args.model is None:
        _say(args, f"training {spec.name} (no --model given) ...")
        bar, on_epoch = _epoch_bar(args, spec.model.training.epochs)
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
        from .data import to_utc_datetime

        keep = (bars["timestamp"] >= to_utc_datetime(start, what="start")).to_numpy()
    import polars as pl

    n_combos = int(np.prod([len(v) for v in grid.values()]))
    bar = progress(total=n_combos, desc="sweep", quiet=args.quiet, unit="combination")
    try:
        result = sweep(bars.filter(pl.Series(keep)), probs[keep], spec.decisions, spec.backtest, grid,
                       timeframe=spec.base_timeframe, max_memory=args.max_memory, executor=executor,
                       on_chunk=bar.update)
    finally:
        bar.close()
    table = result.table.sort("sharpe", descending=True, nulls_last=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = (Path(args.out) if args.out else Path("runs") / spec.name) / f"sweep-{stamp}"
    keys = list(result.grid)
    with atomic_dir(folder) as tmp:
        table.write_csv(tmp / "sweep.csv")
        atomic_write_json(tmp / "sweep.json", {"strategy": spec.name, "symbol": symbol, "grid": result.grid,
                                               "chunks": result.chunks, "rows": table.to_dicts()})
        if len(keys) >= 2:
            result.heatmap(keys[0], keys[1], "sharpe").write_html(tmp / "heatmap.html", include_plotlyjs=True)
        elif len(keys) == 1:
            result.heatmap(keys[0], keys[0], "sharpe").write_html(tmp / "heatmap.html", include_plotlyjs=True)
    if args.json:
        print(json.dumps({"run": str(folder), "combinations": table.height, "chunks": result.chunks,
                          "rows": table.to_dicts()},
                         indent=2, default=str))
        return OK
    how = ("one simulation" if result.chunks == 1 else
           f"{result.chunks} simulations of up to {-(-table.height // result.chunks)} combinations "
           f"(memory budget; {executor.name} executor)")
    print(f"sweep of {spec.name} ({symbol}): {table.height} combinations in {how}")
    cols = [*keys, "total_return", "sharpe", "max_drawdown", "trades", "win_rate"]
    print(format_table(table.select(cols).head(20).rows(), cols))
    if table.height > 20:
        print(f"  ... {table.height - 20} more in {folder / 'sweep.csv'}")
    print(f"wrote {folder}/ (sweep.csv, sweep.json, heatmap.html)")
    return OK


# ---------------------------------------------------------------------------------------------
# walk-forward
# ---------------------------------------------------------------------------------------------


def cmd_walk_forward(args: argparse.Namespace) -> int:
    from .bundle import save_bundle
    from .data import load_strategy_data
    from .io_utils import atomic_dir, atomic_write_json
    from .strategy_io import load_strategy
    from .walkforward import make_folds, resolve_walk_forward, walk_forward

    spec = load_strategy(args.strategy, warn=False)
    walk = resolve_walk_forward(spec, train_bars=args.train_bars, test_bars=args.test_bars,
                                step_bars=args.step_bars)
    with make_executor(args.executor, args.workers) as executor:
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
        from .report import equity_figure

        equity_figure(result.equity.drop("fold")).write_html(tmp / "equity.html", include_plotlyjs=True)
    if args.json:
        print(json.dumps({"run": str(folder), "fold_count": len(result.folds),
                          "walk_forward": result.metrics["walk_forward"],
                          "out_of_sample": result.metrics["out_of_sample"], "folds": result.table.to_dicts()},
                         indent=2, default=str))
        return OK
    print(f"walk-forward of {spec.name}: {len(result.folds)} folds (train {walk.train_bars}, test "
          f"{walk.test_bars}, step {walk.step_bars or walk.test_bars} bars)")
    cols = ["fold", "symbol", "test_start", "test_end", "total_return", "sharpe", "max_drawdown", "trades"]
    print(format_table(result.table.select(cols).rows(), cols))
    for sym, m in result.metrics["out_of_sample"].items():
        print(f"\nout-of-sample {sym}: total return {m['total_return']:.4f}, sharpe {m['sharpe']}, "
              f"max drawdown {m['max_drawdown']:.4f} over {m['bars']} bars")
    print(f"wrote {folder}/ (folds.csv, equity.csv, equity.html, metrics.json, fold_*/bundle)")
    return OK


# ---------------------------------------------------------------------------------------------
# external predictions: backtest a file, or record one from a model
# ---------------------------------------------------------------------------------------------


def cmd_predictions(args: argparse.Namespace) -> int:
    from .data import load_ohlcv
    from .io_utils import atomic_dir, atomic_write_json
    from .predictions import backtest_predictions, load_predictions

    bars = load_ohlcv(args.bars)
    preds = load_predictions(args.predictions, bars=bars)
    result = backtest_predictions(bars, preds, signal_threshold=args.signal_threshold, init_cash=args.init_cash,
                                  fees=args.fees, slippage=args.slippage, share_class=args.share_class)
    out = result.to_json()
    if args.out:
        folder = Path(args.out)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = folder / f"predictions-{stamp}"
        with atomic_dir(folder) as tmp:
            atomic_write_json(tmp / "metrics.json", out)
            result.trades.write_csv(tmp / "trades.csv")
            result.equity.write_csv(tmp / "equity.csv")
        out = {**out, "out": str(folder)}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return OK
    print(f"prediction backtest of {args.predictions} on {args.bars} ({len(preds)} prediction rows, "
          f"threshold {args.signal_threshold}, equity in {args.share_class.upper()})")
    _print_stats({args.share_class.upper(): out})
    print(f"exit reasons: {out.get('exit_reasons')}")
    if args.out:
        print(f"wrote {out['out']}/ (metrics.json, trades.csv, equity.csv)")
    return OK


def cmd_record(args: argparse.Namespace) -> int:
    """Write a prediction file from a trained bundle (the record stage)."""
    from .bundle import load_bundle
    from .data import load_strategy_data, to_utc_datetime
    from .features import build_features
    from .pipeline import check_bundle_features
    from .predict import predict_proba
    from .predictions import predictions_from_probs, write_predictions_csv
    from .strategy_io import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    bundle = load_bundle(args.model)
    check_bundle_features(spec, bundle)
    symbol = args.symbol or spec.symbols[0]
    if symbol not in spec.symbols:
        raise StrategyError(f"--symbol {symbol!r} is not one of the strategy's symbols {list(spec.symbols)}")
    data = load_strategy_data(spec, data_dir=args.data, end=args.end)
    import polars as pl

    features = build_features(spec, data)
    if "symbol" in features.columns:
        features = features.filter(pl.col("symbol") == symbol)
    bars = data[symbol][spec.base_timeframe]
    probs = predict_proba(bundle, features)
    frame = predictions_from_probs(bars, probs, stop_loss=args.stop_loss, take_profit=args.take_profit)
    if args.start is not None:
        frame = frame.filter(pl.col("timestamp") >= to_utc_datetime(args.start, what="start"))
    path = write_predictions_csv(frame, args.out)
    counts = frame["signal"].value_counts().sort("signal").rows()
    if args.json:
        print(json.dumps({"out": str(path), "rows": frame.height, "signals": dict(counts)}, indent=2))
    else:
        print(f"wrote {frame.height} prediction rows for {symbol} to {path} "
              f"({', '.join(f'{k}: {v}' for k, v in counts)})")
        print(f"backtest it with: python -m fuzzyvec.run predictions {path} --bars <{symbol} bars file>")
    return OK


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """Export a bundle to ONNX and check onnxruntime against torch on sample rows."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"export-onnx needs {', '.join(missing)}: install the extra with "
                         "pip install -e \".[onnx]\" (or \".[dev]\")")
    from .bundle import load_bundle
    from .onnx import OnnxRunner, export_onnx, read_model_metadata

    bundle = load_bundle(args.bundle)
    path = export_onnx(bundle, args.out, name=args.name)
    meta = read_model_metadata(path)
    # parity check on rows spread around the training distribution (the bundle's transform)
    import polars as pl

    from .predict import predict_proba

    rng = np.random.default_rng(0)
    rows = (bundle.transform.offset + bundle.transform.scale
            * rng.standard_normal((256, bundle.feature_count))).astype(np.float32)
    got = OnnxRunner(path, meta).run(rows)
    ref = predict_proba(bundle, pl.DataFrame(rows.astype(np.float64), schema=list(bundle.feature_names)))
    diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
    out = {"onnx": str(path), "metadata": str(path.with_name(path.stem + "_metadata.json")),
           "feature_count": meta["feature_count"], "sequence_length": meta["sequence_length"],
           "bytes": path.stat().st_size, "max_abs_diff_vs_torch": diff}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"wrote {out['onnx']} ({out['bytes']:,} bytes) and {out['metadata']}")
        print(f"inputs: (batch, {meta['feature_count']}) raw features in metadata feature_names order; "
              f"outputs: (batch, 3) probabilities BUY, HOLD, SELL")
        print(f"onnxruntime vs torch on 256 sample rows: max |diff| {diff:.2e}")
    if not diff <= 1e-5:
        print(f"error: the exported graph disagrees with torch by {diff:.2e} (> 1e-5)", file=sys.stderr)
        return 1
    return OK


# ---------------------------------------------------------------------------------------------
# check-lookahead
# ---------------------------------------------------------------------------------------------


def cmd_check_lookahead(args: argparse.Namespace) -> int:
    from .lookahead import check_lookahead
    from .strategy_io import load_strategy

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
        print(format_table(t.rows(), t.columns), file=sys.stderr)
    return OK if report.clean else 1
