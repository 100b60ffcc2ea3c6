"""Command line: ``python -m fuzzyvec.run [COMMAND] ...``.

With no command it runs the demo. Exit codes: 0 success; 2 a bad strategy, data file or
argument (one clear message, no traceback); 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import (
    BundleError,
    DataError,
    FuzzyvecError,
    SchemaMismatchError,
    StrategyError,
    UsageError,
)

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_INPUT_ERRORS = (StrategyError, DataError, SchemaMismatchError, BundleError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no traceback
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def _common(p: argparse.ArgumentParser, *, data: bool = True, dates: bool = True, out: bool = False,
            models: bool = False) -> None:
    if data:
        p.add_argument("--data", metavar="DIR", help="folder of {SYMBOL}_{timeframe}.parquet|csv bar files "
                       "(default: the strategy's data.dir, else the bundled sample data)")
    if dates:
        p.add_argument("--start", metavar="DATE", help="first bar (ISO date/time, UTC); warm-up history "
                       "before it is kept")
        p.add_argument("--end", metavar="DATE", help="last bar, inclusive (ISO date/time, UTC)")
    if models:
        p.add_argument("--models-dir", metavar="DIR", default="models", help="where bundles go (default: models)")
    if out:
        p.add_argument("--out", metavar="PATH", help="output path")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--quiet", action="store_true", help="no progress bars or chatter")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _memory(text: str) -> int:
    from .executors import parse_memory

    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _executor_opts(p: argparse.ArgumentParser, *, memory: bool = False, default: str | None = "local") -> None:
    p.add_argument("--executor", choices=("local", "ray"), default=default,
                   help="where tasks run: local (a process pool on this machine, the default) or ray "
                        "(RAY_ADDRESS, else a local Ray cluster; needs fuzzyvec[ray])")
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="tasks at once (default: all CPUs; 1 = in this process, in order); for ray the CPUs "
                        "of the local cluster it starts")
    if memory:
        p.add_argument("--max-memory", type=_memory, metavar="SIZE",
                       help="memory budget of the simulation, e.g. 4GB or 500MB (default: a quarter of RAM); "
                            "a larger grid runs in chunks of combinations with the same result")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m fuzzyvec.run``."""
    from . import __version__

    parser = _Parser(
        prog="python -m fuzzyvec.run",
        description="fuzzyvec: fuzzy-neural strategy research from one YAML file. "
        "Run with no command for the demo.",
    )
    parser.add_argument("--version", action="version", version=f"fuzzyvec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("validate", help="validate a strategy file and show what it computes")
    p.add_argument("strategy", metavar="FILE")
    _common(p, data=False, dates=False)

    p = sub.add_parser("features", help="show (--dry-run) or compute the feature frame of a strategy")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="resolve features without loading data")
    _common(p, out=True)

    p = sub.add_parser("train", help="train the strategy's model and write a bundle")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--epochs", type=int, metavar="N", help="override model.training.epochs")
    p.add_argument("--seed", type=int, metavar="N", help="override model.training.seed (default 42)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this strategy")
    p.add_argument("--dry-run", action="store_true", help="show features, labels and split sizes; do not train")
    _common(p, models=True)

    p = sub.add_parser("backtest", help="backtest a model (training one first when --model is not given)")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--model", metavar="DIR", help="a bundle folder from `train`")
    _common(p, out=True)

    p = sub.add_parser("sweep", help="grid of decision/backtest parameters as one vectorbt simulation")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="e.g. confidence_threshold=0.5,0.6 sl_stop=0.01,none (repeatable)")
    p.add_argument("--model", metavar="DIR", help="a bundle folder (trains one when absent)")
    p.add_argument("--symbol", help="symbol to sweep for multi-symbol strategies (default: the first)")
    _executor_opts(p, memory=True)
    _common(p, out=True)

    p = sub.add_parser("check-lookahead", help="recompute features on truncated data; exit 1 if the past changes")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--cuts", type=int, default=5, metavar="N", help="number of cut points (default 5)")
    _common(p)

    p = sub.add_parser("walk-forward", help="train per fold, backtest each fold's out-of-sample bars")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--train-bars", type=int, metavar="N", help="training window in base bars")
    p.add_argument("--test-bars", type=int, metavar="N", help="out-of-sample window in base bars")
    p.add_argument("--step-bars", type=int, metavar="N", help="step between folds (default: test bars)")
    _executor_opts(p)
    _common(p, out=True)

    p = sub.add_parser("search", help="search strategy variants, ranked by walk-forward out-of-sample metrics")
    p.add_argument("strategy", metavar="FILE", help="the base strategy")
    p.add_argument("--space", required=True, metavar="SPACE.yaml",
                   help="dotted strategy keys -> choices [a, b] or ranges {low, high, log, num}")
    p.add_argument("--trials", type=_positive_int, default=20, metavar="N",
                   help="candidates to try (grid: at most N grid points); default 20")
    p.add_argument("--algo", choices=("random", "grid", "tune"), default="random",
                   help="random (seeded), grid (every point) or tune (Ray Tune, needs fuzzyvec[ray])")
    p.add_argument("--objective", default="oos_sharpe",
                   choices=("oos_sharpe", "oos_total_return", "oos_calmar", "oos_cagr", "oos_max_drawdown"),
                   help="walk-forward out-of-sample metric to rank by (default oos_sharpe)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default 0)")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="override model.training.epochs of every candidate")
    p.add_argument("--train-bars", type=int, metavar="N", help="walk-forward training window in base bars")
    p.add_argument("--test-bars", type=int, metavar="N", help="walk-forward out-of-sample window in base bars")
    p.add_argument("--step-bars", type=int, metavar="N", help="step between folds (default: test bars)")
    _executor_opts(p, default=None)
    _common(p, out=True)

    p = sub.add_parser("batch", help="train and backtest several strategy files in parallel")
    p.add_argument("strategies", nargs="+", metavar="FILE")
    _executor_opts(p)
    _common(p, out=True)

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

    p = sub.add_parser("record", help="write a prediction file from a trained model (the record stage)")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--model", required=True, metavar="DIR", help="a bundle folder from `train`")
    p.add_argument("--out", required=True, metavar="PRED.csv", help="prediction file to write")
    p.add_argument("--symbol", help="symbol to record for multi-symbol strategies (default: the first)")
    p.add_argument("--stop-loss", type=float, default=0.02, metavar="X", help="stop distance, fraction (0.02)")
    p.add_argument("--take-profit", type=float, default=0.04, metavar="X", help="target distance, fraction (0.04)")
    _common(p)

    p = sub.add_parser("export-onnx", help="export a trained bundle's classifier to ONNX (+ metadata JSON)")
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder from `train`")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for {name}.onnx and {name}_metadata.json")
    p.add_argument("--name", help="file stem (default: the strategy name in the bundle's metadata)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("demo", help="run the demo on the bundled data (same as no command)")
    _common(p, dates=True, out=True)

    return parser


# ---------------------------------------------------------------------------------------------
# output helpers
# ---------------------------------------------------------------------------------------------


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _print_summary(s: dict[str, Any], *, features: bool) -> None:
    from .console import format_table

    print(f"strategy {s['name']} (version {s['version']}, scope {s['scope']})")
    if s["description"]:
        print(f"  {s['description']}")
    print(f"  symbols: {', '.join(s['symbols'])}   timeframes: {', '.join(s['timeframes'])} "
          f"(base {s['base_timeframe']})   history_required: {s['history_required']} bars")
    print("\nindicators")
    print(format_table(
        [[i["id"], i["type"], " ".join(f"{k}={v}" for k, v in i["params"].items()) or "-",
          ", ".join(i["outputs"]), i["lookback"]] for i in s["indicators"]],
        ["id", "type", "params", "outputs", "lookback"]))
    print("\nfuzzy sets")
    print(format_table(
        [[f["id"], f["indicator"], ", ".join(f"{m['name']} {m['type']}{[float(x) for x in m['parameters']]}"
                                              for m in f["memberships"])] for f in s["fuzzy_sets"]],
        ["id", "reads", "memberships"]))
    print("\nnn_inputs")
    print(format_table(
        [[n, i["kind"], i["source"], ", ".join(i["timeframes"]), i["normalization"] or "-"]
         for n, i in enumerate(s["nn_inputs"])],
        ["#", "kind", "source", "timeframes", "normalization"]))
    warm = ", ".join(f"{tf}: {n} bars" for tf, n in s["warmup_bars"].items())
    print(f"\nwarm-up: {warm} (about {s['warmup_base_bars']} {s['base_timeframe']} bars)")
    if features:
        print(f"\nfeatures ({s['feature_count']}, schema sha256 {s['schema_sha256'][:16]}...)")
        print(format_table([[n, f] for n, f in enumerate(s["features"])], ["#", "feature"]))
    else:
        print(f"features: {s['feature_count']} (schema sha256 {s['schema_sha256'][:16]}...)")
    _print_warnings(s["warnings"])


def _print_warnings(ws: Sequence[str]) -> None:
    for w in ws:
        print(f"warning: {w}", file=sys.stderr)


def _load(path: str):
    from .strategy_io import load_strategy

    return load_strategy(path, warn=False)


def _warmup(spec: Any, args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Recursive warm-up check on the strategy's data (skipped with a warning if unavailable)."""
    from .data import load_strategy_data
    from .warmup import warmup_check, warmup_warnings

    try:
        data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
    except DataError as exc:
        return [], [f"warm-up check skipped: {exc}"]
    rows = warmup_check(spec, data)
    return rows, warmup_warnings(rows)


def _print_warmup(rows: Sequence[dict[str, Any]]) -> None:
    from .console import format_table

    if not rows:
        return
    print("\nwarm-up check (bars until values no longer depend on the start of the data, tolerance 1e-6)")
    print(format_table(
        [[r["indicator"], r["timeframe"], r["lookback"],
          r["warmup_bars"] if r["warmup_bars"] is not None else "not converged", r["history_required"],
          "ok" if r["ok"] else "raise history_required"] for r in rows],
        ["indicator", "timeframe", "NaN rows", "warm-up bars", "history_required", ""]))


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from .summary import strategy_summary

    spec = _load(args.strategy)
    s = strategy_summary(spec)
    if args.json:
        _emit_json({"valid": True, **s})
    else:
        _print_summary(s, features=False)
        print(f"\n{args.strategy}: valid")
    return EXIT_OK


def cmd_features(args: argparse.Namespace) -> int:
    from .summary import strategy_summary

    spec = _load(args.strategy)
    s = strategy_summary(spec)
    if args.dry_run:
        s["warmup_check"], extra = _warmup(spec, args)
        s["warnings"] = [*s["warnings"], *extra]
        if args.json:
            _emit_json(s)
        else:
            _print_summary(s, features=True)
            _print_warmup(s["warmup_check"])
        return EXIT_OK
    from .data import load_strategy_data
    from .features import build_features
    from .io_utils import atomic_write_parquet

    data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
    frame = build_features(spec, data)
    names = s["features"]
    nan_counts = {n: int(frame[n].is_nan().sum()) for n in names}
    rows_complete = int(frame.select(names).fill_nan(None).drop_nulls().height) if names else frame.height
    result = {
        "strategy": spec.name, "rows": frame.height, "columns": len(frame.columns),
        "feature_count": len(names), "warmup_bars": s["warmup_bars"],
        "warmup_base_bars": s["warmup_base_bars"], "complete_rows": rows_complete,
        "first": str(frame["timestamp"][0]), "last": str(frame["timestamp"][-1]),
        "nan_counts": nan_counts, "out": None,
    }
    if args.out:
        atomic_write_parquet(frame, Path(args.out))
        result["out"] = str(args.out)
    if args.json:
        _emit_json(result)
    else:
        from .console import format_table

        print(f"feature frame of {spec.name}: {frame.height} rows x {len(frame.columns)} columns "
              f"({len(names)} features), {result['first']} .. {result['last']}")
        warm = ", ".join(f"{tf}: {n} bars" for tf, n in s["warmup_bars"].items())
        print(f"warm-up: {warm}; rows with every feature: {rows_complete}")
        print(format_table([[n, c] for n, c in nan_counts.items()], ["feature", "NaN rows"]))
        if args.out:
            print(f"wrote {args.out}")
        _print_warnings(s["warnings"])
    return EXIT_OK


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    from . import commands as c
    from . import commands_scale as s

    return {
        "validate": cmd_validate,
        "features": cmd_features,
        "train": c.cmd_train,
        "backtest": c.cmd_backtest,
        "sweep": c.cmd_sweep,
        "check-lookahead": c.cmd_check_lookahead,
        "walk-forward": c.cmd_walk_forward,
        "search": s.cmd_search,
        "batch": s.cmd_batch,
        "predictions": c.cmd_predictions,
        "record": c.cmd_record,
        "export-onnx": c.cmd_export_onnx,
        "demo": c.cmd_demo,
    }


def _demo_namespace() -> argparse.Namespace:
    return argparse.Namespace(command="demo", data=None, start=None, end=None, out=None, json=False,
                              quiet=False)


def load_plugins(names: str | None = None) -> list[str]:
    """Import the modules listed in ``FUZZYVEC_PLUGINS`` (comma-separated).

    A plugin module registers user indicators at import time
    (:func:`fuzzyvec.register_indicator`), so strategies run from the command line can use them.
    """
    import importlib

    raw = os.environ.get("FUZZYVEC_PLUGINS", "") if names is None else names
    loaded = []
    for name in (n.strip() for n in raw.split(",")):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"FUZZYVEC_PLUGINS: cannot import plugin module {name!r}: {exc}") from None
        loaded.append(name)
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        load_plugins()
        args = build_parser().parse_args(argv) if argv else _demo_namespace()
        if args.command is None:
            args = _demo_namespace()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            return _commands()[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except FuzzyvecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
