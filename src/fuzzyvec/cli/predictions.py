"""``predictions``, ``record`` and ``export-onnx``: external prediction files and exported models."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StrategyError, UsageError
from .common import OK, add_common, print_warnings
from .train import print_stats

__all__ = ['cmd_export_onnx', 'cmd_predictions', 'cmd_record', 'register']


def cmd_predictions(args: argparse.Namespace) -> int:
    from ..backtest.predictions import backtest_predictions, load_predictions
    from ..data.bars import load_ohlcv
    from ..io_utils import atomic_dir, atomic_write_json

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
    sc = args.share_class.upper()
    print_stats({sc: out}, {sc: out["baselines"]} if out.get("baselines") else None)
    if not out.get("trades"):
        print_warnings([f"the prediction file made 0 trades at --signal-threshold {args.signal_threshold}: no "
                        "long/short row reaches it"])
    print(f"exit reasons: {out.get('exit_reasons')}")
    if args.out:
        print(f"wrote {out['out']}/ (metrics.json, trades.csv, equity.csv)")
    return OK


def cmd_record(args: argparse.Namespace) -> int:
    """Write a prediction file from a trained bundle (the record stage)."""
    from ..backtest.predictions import predictions_from_probs, write_predictions_csv
    from ..data.bars import to_utc_datetime
    from ..data.files import load_strategy_data
    from ..features.frame import build_features
    from ..model.bundle import load_bundle
    from ..model.predict import predict_proba
    from ..research.pipeline import check_bundle_features
    from ..strategy.load import load_strategy

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
    warnings = [] if (frame["signal"] != "neutral").any() else [
        f"every recorded row of {symbol} is neutral (the model predicts HOLD on every bar, or its probabilities "
        "are NaN): a backtest of this file makes 0 trades"]
    if args.json:
        print(json.dumps({"out": str(path), "rows": frame.height, "signals": dict(counts), "warnings": warnings},
                         indent=2))
    else:
        print_warnings(warnings)
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
    from ..model.bundle import load_bundle
    from ..model.onnx import OnnxRunner, export_onnx, read_model_metadata

    bundle = load_bundle(args.bundle)
    path = export_onnx(bundle, args.out, name=args.name)
    meta = read_model_metadata(path)
    # parity check on rows spread around the training distribution (the bundle's transform)
    import polars as pl

    from ..model.predict import predict_proba

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


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("predictions", help="backtest an external prediction file (SPEC section 8)")
    p.add_argument("predictions", metavar="PRED.csv",
                   help="timestamp,signal,confidence,stop_loss,take_profit (one row per bar it applies to)")
    p.add_argument("--bars", required=True, metavar="BARS", help="OHLCV bars (.csv or .parquet)")
    p.add_argument("--signal-threshold", type=float, default=0.65, metavar="X",
                   help="minimum confidence for a signal to act (default 0.65)")
    p.add_argument("--init-cash", type=float, default=10_000.0, metavar="X", help="starting equity (default 10000)")
    p.add_argument("--fees", type=float, default=0.0, metavar="F", help="fee per side, fraction (default 0)")
    p.add_argument("--slippage", type=float, default=0.0, metavar="S", help="adverse fill fraction (default 0)")
    p.add_argument("--share-class", default="USDT", type=str.upper, choices=("USDT", "BTC"),
                   help="report equity in quote (USDT) or base-asset (BTC) units")
    p.add_argument("--out", metavar="DIR", help="write metrics.json, trades.csv, equity.csv under DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_predictions)

    p = sub.add_parser("record", help="write a prediction file from a trained model (the record stage)")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--model", required=True, metavar="DIR", help="a bundle folder from `train`")
    p.add_argument("--out", required=True, metavar="PRED.csv", help="prediction file to write")
    p.add_argument("--symbol", help="symbol to record for multi-symbol strategies (default: the first)")
    p.add_argument("--stop-loss", type=float, default=0.02, metavar="X", help="stop distance, fraction (0.02)")
    p.add_argument("--take-profit", type=float, default=0.04, metavar="X", help="target distance, fraction (0.04)")
    add_common(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("export-onnx", help="export a trained bundle's classifier to ONNX (+ metadata JSON)")
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder from `train`")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for {name}.onnx and {name}_metadata.json")
    p.add_argument("--name", help="file stem (default: the strategy name in the bundle's metadata)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_export_onnx)
