"""``compare NEW --baseline OLD``: the model-swap gate (SPEC §15).

Exit 0 when NEW's out-of-sample total return is at least OLD's minus ``--tolerance``, 1 when
it is worse, 2 for unusable input (a missing or broken bundle, no common window).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..report.console import print_table
from .common import add_common, positive_int, print_warnings

__all__ = ["cmd_compare", "register"]

_ROWS = (("total return", "total_return"), ("Sharpe", "sharpe"), ("max drawdown", "max_drawdown"),
         ("trades", "trades"), ("exposure", "exposure"), ("p-value vs random entries", "p_value"),
         ("percentile among random entries", "percentile"))


def _rows(result: Any) -> list[list[Any]]:
    rows = []
    for sym in result.new.symbols:
        new, old = result.new.symbols[sym], result.old.symbols[sym]
        for label, key in _ROWS:
            rows.append([sym, label, new.get(key), old.get(key)])
    if len(result.new.symbols) > 1:
        rows.append(["all", "total return", result.new.total_return, result.old.total_return])
    return rows


def cmd_compare(args: argparse.Namespace) -> int:
    from ..research.compare import compare_bundles

    result = compare_bundles(args.new, args.baseline, start=args.start, end=args.end, data_dir=args.data,
                             tolerance=args.tolerance, n_random=args.random, seed=args.seed)
    print_warnings(result.warnings)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
        return result.exit_code
    print(f"compare on {result.start} .. {result.end} ({result.window}); random entries: "
          f"{result.n_random or 'off'} per side")
    print(f"NEW: {result.new.bundle} ({result.new.strategy})\nOLD: {result.old.bundle} ({result.old.strategy})")
    print_table(_rows(result), ["symbol", "metric", "NEW", "OLD"])
    verdict = "passes" if result.passed else "FAILS"
    print(f"\nNEW {verdict}: total return {result.new.total_return:+.4%} vs OLD {result.old.total_return:+.4%} "
          f"(difference {result.difference:+.4%}, tolerance {result.tolerance:.4%})")
    return result.exit_code


def _random_count(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("compare", help="model-swap gate: exit 0 when NEW's out-of-sample return is at least "
                                       "the baseline's, 1 when worse")
    p.add_argument("new", metavar="NEW", help="the candidate bundle folder (from `train`)")
    p.add_argument("--baseline", required=True, metavar="OLD", help="the bundle folder it must not be worse than")
    p.add_argument("--tolerance", type=float, default=0.0, metavar="X",
                   help="NEW passes when its total return >= OLD's - X (fractions; default 0)")
    p.add_argument("--random", type=_random_count, default=1000, metavar="N",
                   help="random-entry series per side for the p-values (default 1000; 0 = off)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random entries (default 0)")
    add_common(p)
    p.set_defaults(func=cmd_compare)
