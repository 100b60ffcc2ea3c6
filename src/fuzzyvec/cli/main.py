"""``python -m fuzzyvec.run [COMMAND] ...``: the parser and the entry point.

With no command it runs the demo. Exit codes: 0 success; 2 a bad strategy, data file or
argument (one clear message, no traceback); 1 anything else. Each command group is a module
of this package with a ``register(sub)`` function that adds its sub-commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from ..errors import (
    BundleError,
    DataError,
    FuzzyvecError,
    SchemaMismatchError,
    StrategyError,
    UsageError,
)
from ..report.console import set_quiet
from . import compare, live, predictions, research, strategy, sweep, train
from .common import EXIT_FAILURE, EXIT_USAGE, Parser

__all__ = ["build_parser", "load_plugins", "main"]

_INPUT_ERRORS = (StrategyError, DataError, SchemaMismatchError, BundleError)
#: command groups in the order their commands are listed by ``--help``
GROUPS = (strategy, train, sweep, research, predictions, compare, live)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m fuzzyvec.run``."""
    from .. import __version__

    parser = Parser(
        prog="python -m fuzzyvec.run",
        description="fuzzyvec: fuzzy-neural strategy research from one YAML file. "
        "Run with no command for the demo.",
    )
    parser.add_argument("--version", action="version", version=f"fuzzyvec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
    return parser


def _demo_namespace() -> argparse.Namespace:
    return argparse.Namespace(command="demo", data=None, start=None, end=None, out=None, json=False,
                              quiet=False, func=train.cmd_demo)


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
        set_quiet(getattr(args, "quiet", False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            return args.func(args)
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
