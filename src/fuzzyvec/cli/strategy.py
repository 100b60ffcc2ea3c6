"""``validate`` and ``features``: what a strategy computes, and its feature frame."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from .common import OK, add_common, emit_json, print_warnings

__all__ = ['cmd_features', 'cmd_validate', 'register']


def _print_summary(s: dict[str, Any], *, features: bool) -> None:
    from ..report.console import print_table

    print(f"strategy {s['name']} (version {s['version']}, scope {s['scope']})")
    if s["description"]:
        print(f"  {s['description']}")
    print(f"  symbols: {', '.join(s['symbols'])}   timeframes: {', '.join(s['timeframes'])} "
          f"(base {s['base_timeframe']})   history_required: {s['history_required']} bars")
    print("\nindicators")
    print_table(
        [[i["id"], i["type"], " ".join(f"{k}={v}" for k, v in i["params"].items()) or "-",
          ", ".join(i["outputs"]), i["lookback"]] for i in s["indicators"]],
        ["id", "type", "params", "outputs", "lookback"])
    print("\nfuzzy sets")
    print_table(
        [[f["id"], f["indicator"], ", ".join(f"{m['name']} {m['type']}{[float(x) for x in m['parameters']]}"
                                              for m in f["memberships"])] for f in s["fuzzy_sets"]],
        ["id", "reads", "memberships"])
    print("\nnn_inputs")
    print_table(
        [[n, i["kind"], i["source"], ", ".join(i["timeframes"]), i["normalization"] or "-"]
         for n, i in enumerate(s["nn_inputs"])],
        ["#", "kind", "source", "timeframes", "normalization"])
    warm = ", ".join(f"{tf}: {n} bars" for tf, n in s["warmup_bars"].items())
    print(f"\nwarm-up: {warm} (about {s['warmup_base_bars']} {s['base_timeframe']} bars)")
    if features:
        print(f"\nfeatures ({s['feature_count']}, schema sha256 {s['schema_sha256'][:16]}...)")
        print_table([[n, f] for n, f in enumerate(s["features"])], ["#", "feature"])
    else:
        print(f"features: {s['feature_count']} (schema sha256 {s['schema_sha256'][:16]}...)")
    print_warnings(s["warnings"])


def _load(path: str):
    from ..strategy.load import load_strategy

    return load_strategy(path, warn=False)


def _warmup(spec: Any, args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Recursive warm-up check on the strategy's data (skipped with a warning if unavailable)."""
    from ..data.files import load_strategy_data
    from ..features.warmup import warmup_check, warmup_warnings

    try:
        data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
    except DataError as exc:
        return [], [f"warm-up check skipped: {exc}"]
    rows = warmup_check(spec, data)
    return rows, warmup_warnings(rows)


def _print_warmup(rows: Sequence[dict[str, Any]]) -> None:
    from ..report.console import print_table

    if not rows:
        return
    print("\nwarm-up check (bars until values no longer depend on the start of the data, tolerance 1e-6)")
    print_table(
        [[r["indicator"], r["timeframe"], r["lookback"],
          r["warmup_bars"] if r["warmup_bars"] is not None else "not converged", r["history_required"],
          "ok" if r["ok"] else "raise history_required"] for r in rows],
        ["indicator", "timeframe", "NaN rows", "warm-up bars", "history_required", ""])


def cmd_validate(args: argparse.Namespace) -> int:
    from ..features.summary import strategy_summary

    spec = _load(args.strategy)
    s = strategy_summary(spec)
    if args.json:
        emit_json({"valid": True, **s})
    else:
        _print_summary(s, features=False)
        print(f"\n{args.strategy}: valid")
    return OK


def cmd_features(args: argparse.Namespace) -> int:
    from ..features.summary import strategy_summary

    spec = _load(args.strategy)
    s = strategy_summary(spec)
    if args.dry_run:
        s["warmup_check"], extra = _warmup(spec, args)
        s["warnings"] = [*s["warnings"], *extra]
        if args.json:
            emit_json(s)
        else:
            _print_summary(s, features=True)
            _print_warmup(s["warmup_check"])
        return OK
    from ..data.files import load_strategy_data
    from ..features.frame import build_features
    from ..io_utils import atomic_write_parquet

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
        emit_json(result)
    else:
        from ..report.console import print_table

        print(f"feature frame of {spec.name}: {frame.height} rows x {len(frame.columns)} columns "
              f"({len(names)} features), {result['first']} .. {result['last']}")
        warm = ", ".join(f"{tf}: {n} bars" for tf, n in s["warmup_bars"].items())
        print(f"warm-up: {warm}; rows with every feature: {rows_complete}")
        print_table([[n, c] for n, c in nan_counts.items()], ["feature", "NaN rows"])
        if args.out:
            print(f"wrote {args.out}")
        print_warnings(s["warnings"])
    return OK


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("validate", help="validate a strategy file and show what it computes")
    p.add_argument("strategy", metavar="FILE")
    add_common(p, data=False, dates=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("features", help="show (--dry-run) or compute the feature frame of a strategy")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="resolve features without loading data")
    add_common(p, out=True)
    p.set_defaults(func=cmd_features)
