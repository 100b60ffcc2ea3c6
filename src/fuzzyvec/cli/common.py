"""What every command group shares: common options, exit codes, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..report.console import progress

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "OK", "Parser", "add_common", "emit_json", "epoch_bar",
           "executor_options", "memory_size", "positive_int", "print_warnings", "say"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
OK = EXIT_OK


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no traceback
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def add_common(p: argparse.ArgumentParser, *, data: bool = True, dates: bool = True, out: bool = False,
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def memory_size(text: str) -> int:
    from ..backtest.sweep import parse_memory

    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def executor_options(p: argparse.ArgumentParser, *, memory: bool = False, default: str | None = "local") -> None:
    p.add_argument("--executor", choices=("local", "ray"), default=default,
                   help="where tasks run: local (a process pool on this machine, the default) or ray "
                        "(RAY_ADDRESS, else a local Ray cluster; needs fuzzyvec[ray])")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="tasks at once (default: all CPUs; 1 = in this process, in order); for ray the CPUs "
                        "of the local cluster it starts")
    if memory:
        p.add_argument("--max-memory", type=memory_size, metavar="SIZE",
                       help="memory budget of the simulation, e.g. 4GB or 500MB (default: a quarter of RAM); "
                            "a larger grid runs in chunks of combinations with the same result")


def emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def print_warnings(ws: Sequence[str]) -> None:
    for w in ws:
        print(f"warning: {w}", file=sys.stderr)


def say(args: argparse.Namespace, *lines: str) -> None:
    if not getattr(args, "json", False):
        for line in lines:
            print(line)


def epoch_bar(args: argparse.Namespace, total: int):
    bar = progress(total=total, desc="training", quiet=args.quiet, unit="epoch")

    def on_epoch(rec: dict[str, Any]) -> None:
        post = {"loss": f"{rec['train_loss']:.4f}", "acc": f"{rec['train_accuracy']:.3f}"}
        if rec.get("val_loss") is not None:
            post["val_loss"] = f"{rec['val_loss']:.4f}"
            post["val_acc"] = f"{rec['val_accuracy']:.3f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)

    return bar, on_epoch
