"""``train``, ``backtest`` and ``demo``: train a bundle, backtest it, write a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..report.console import format_stat, print_table
from .common import OK, add_common, epoch_bar, print_warnings, say

__all__ = ['STAT_ROWS', 'cmd_backtest', 'cmd_demo', 'cmd_train', 'print_stats', 'register']


def _metrics_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        m = metrics.get(split) or {}
        rows.append([split, m.get("n", 0), m.get("loss"), m.get("accuracy"), m.get("precision_macro"),
                     m.get("recall_macro"), m.get("f1_macro"), m.get("f1_weighted")])
    return rows


def _print_training(bundle: Any) -> None:
    m = bundle.metrics
    print_table(_metrics_rows(m), ["split", "rows", "loss", "accuracy", "precision (macro)",
                                          "recall (macro)", "F1 (macro)", "F1 (weighted)"])
    cm = (m.get("test") or {}).get("confusion_matrix")
    if cm:
        print("\ntest confusion matrix (rows: true, columns: predicted)")
        print_table([[n, *row] for n, row in zip(("BUY", "HOLD", "SELL"), cm, strict=True)],
                           ["", "BUY", "HOLD", "SELL"])
    print(f"\nepochs run: {m.get('epochs_run')}, best epoch: {m.get('best_epoch')}, "
          f"stopped early: {m.get('stopped_early')}")


def cmd_train(args: argparse.Namespace) -> int:
    from ..data.files import load_strategy_data
    from ..research.pipeline import fit_and_save
    from ..strategy.load import load_strategy

    spec = load_strategy(args.strategy, warn=False)
    data = load_strategy_data(spec, data_dir=args.data, start=args.start, end=args.end)
    if args.dry_run:
        return _dry_run(args, spec, data)
    if args.resume and args.restart:
        raise UsageError("train: --resume and --restart exclude each other (continue the checkpoint, or "
                         "discard it and start fresh)")
    epochs = args.epochs or spec.model.training.epochs
    bar, on_epoch = epoch_bar(args, epochs)
    try:
        bundle = fit_and_save(spec, data, models_dir=args.models_dir, resume=args.resume, epochs=args.epochs,
                              seed=args.seed, on_epoch=on_epoch)
    finally:
        bar.close()
    if args.json:
        print(json.dumps({"bundle": str(bundle.path), "metrics": {k: bundle.metrics.get(k) for k in
                                                                   ("test", "validation", "train", "best_epoch",
                                                                    "epochs_run", "stopped_early", "warnings")}},
                         indent=2, default=str))
        return OK
    print(f"trained {spec.name}: bundle written to {bundle.path}")
    _print_training(bundle)
    print_warnings(bundle.metrics.get("warnings") or [])
    return OK


def _dry_run(args: argparse.Namespace, spec: Any, data: Any) -> int:
    """``train --dry-run``: what would be computed and the label balance of each split; no training."""
    from ..features.summary import strategy_summary
    from ..research.pipeline import label_warnings, prepare_training

    s = strategy_summary(spec)
    ts = prepare_training(spec, data)
    split = ts.dataset.summary()
    used: dict[str, list[str]] = {}  # indicator -> timeframes it is computed on
    sets = {f["id"]: f["indicator"].split(".")[0] for f in s["fuzzy_sets"]}
    for item in s["nn_inputs"]:
        ind = sets.get(item["source"]) if item["kind"] == "fuzzy_set" else item["source"].split(".")[0]
        for tf in item["timeframes"]:
            used.setdefault(ind, [])
            if tf not in used[ind]:
                used[ind].append(tf)
    indicators = [{**{k: i[k] for k in ("id", "type", "params")}, "timeframes": used.get(i["id"], [])}
                  for i in s["indicators"]]
    balance = {}
    for name in ("train", "validation", "test"):
        counts = split[name]["class_counts"]
        rows = split[name]["rows"]
        balance[name] = {"rows": rows, "start": split[name]["start"], "end": split[name]["end"],
                         "class_counts": counts,
                         "class_shares": {c: (n / rows if rows else None) for c, n in counts.items()}}
    warnings = [*s["warnings"], *label_warnings(split)]
    out = {"strategy": spec.name, "indicators": indicators, "fuzzy_sets": s["fuzzy_sets"],
           "features": list(ts.dataset.schema.names), "feature_count": len(ts.dataset.schema),
           "labels": spec.training.labels.model_dump(mode="json"), "split": split, "label_balance": balance,
           "epochs": args.epochs or spec.model.training.epochs,
           "seed": spec.model.training.seed if args.seed is None else args.seed, "warnings": warnings}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return OK
    label_args = ", ".join(f"{k} {v}" for k, v in out["labels"].items() if k != "source" and v is not None)
    print(f"would train {spec.name}: {len(ts.dataset.schema)} features, labels {spec.training.labels.source}"
          f"{f' ({label_args})' if label_args else ''}, {out['epochs']} epochs, seed {out['seed']} "
          "(dry run: nothing is trained or written)")
    print("\nindicators")
    print_table([[i["id"], i["type"], " ".join(f"{k}={v}" for k, v in i["params"].items()) or "-",
                  ", ".join(i["timeframes"]) or "(unused)"] for i in indicators],
                ["id", "type", "parameters", "timeframes"])
    print("\nfuzzy sets")
    print_table([[f["id"], f["indicator"], ", ".join(f"{m['name']} ({m['type']})" for m in f["memberships"])]
                 for f in s["fuzzy_sets"]], ["id", "indicator", "memberships"])
    print(f"\nresolved features, in order ({len(ts.dataset.schema)})")
    print_table([[n, f] for n, f in enumerate(ts.dataset.schema.names)], ["#", "feature"])
    print("\nlabel balance")
    print_table([[name, b["rows"], b["start"], b["end"],
                  *(f"{b['class_counts'][c]:,} ({b['class_shares'][c]:.1%})" if b["rows"] else "0"
                    for c in ("BUY", "HOLD", "SELL"))] for name, b in balance.items()],
                ["split", "rows", "start", "end", "BUY", "HOLD", "SELL"])
    dropped = ", ".join(f"{n:,} {why.replace('warmup', 'warm-up')}" for why, n in split["dropped"].items())
    print(f"dropped rows: {dropped or 'none'}; embargo of {split['embargo_bars']} bars between splits")
    print_warnings(warnings)
    return OK


STAT_ROWS = (
    ("total return", "total_return"), ("CAGR", "cagr"), ("Sharpe", "sharpe"), ("Sortino", "sortino"),
    ("Calmar", "calmar"), ("max drawdown", "max_drawdown"), ("max drawdown duration", "max_drawdown_duration"),
    ("win rate", "win_rate"), ("profit factor", "profit_factor"), ("expectancy", "expectancy"),
    ("trades", "trades"), ("exposure", "exposure"), ("fees paid", "fees_paid"),
    ("buy and hold return, no costs", "buy_and_hold_return"), ("final equity", "final_equity"),
)


#: rows that the baselines have too (the others are blank in their columns)
_BASELINE_ROWS = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "exposure", "final_equity")
def show(key: str, value: Any) -> Any:
    """A stat as the console shows it (:func:`fuzzyvec.report.console.format_stat`); blank stays blank."""
    return "" if value == "" else format_stat(key, value)


def print_stats(metrics: dict[str, dict[str, Any]], baselines: dict[str, dict[str, Any]] | None = None) -> None:
    """The stats table; with ``baselines`` (metrics.json's), buy-and-hold and random-entry columns
    beside each symbol and the strategy's p-values against the random entries."""
    syms = list(metrics)
    headers = ["metric"]
    for s in syms:
        headers += [s, "buy & hold", "random (median)"] if baselines and s in baselines else [s]
    rows = []
    for label, key in STAT_ROWS:
        row: list[Any] = [label]
        for s in syms:
            row.append(show(key, metrics[s].get(key)))
            if baselines and s in baselines:
                b = baselines[s]
                rnd = b["random"].get(key)
                rows_have = key in _BASELINE_ROWS
                row += [show(key, b["buy_and_hold"].get(key)) if rows_have else "",
                        show(key, rnd.get("median")) if rows_have and isinstance(rnd, dict) else ""]
        rows.append(row)
    if baselines:
        for label, what in (("p-value vs random, return", "total_return"), ("p-value vs random, Sharpe", "sharpe"),
                            ("percentile among random", "total_return")):
            row = [label]
            for s in syms:
                if s in baselines:
                    r = baselines[s]["random"]
                    kind = "percentile" if label.startswith("percentile") else "p_value"
                    row += [show(kind, r[kind][what]), "", ""]
                else:
                    row.append("")
            rows.append(row)
    print_table(rows, headers)
    if baselines:
        n = next(iter(baselines.values()))["random"]["n_series"]
        print(f"  random: {n:,} position series with the strategy's trade count, exposure and long/short mix; "
              "p-value = share of them doing at least as well (one-sided)")


def _run_backtest(args: argparse.Namespace, spec: Any, *, title: str) -> int:
    from ..data.files import load_strategy_data
    from ..model.bundle import load_bundle
    from ..research.batch import backtest_start, write_run
    from ..research.pipeline import evaluate, fit

    data = load_strategy_data(spec, data_dir=args.data, end=args.end)
    trained_here = args.model is None
    if trained_here:
        say(args, f"training {spec.name} (no --model given) ...")
        epochs = spec.model.training.epochs
        bar, on_epoch = epoch_bar(args, epochs)
        try:
            train_data = data if args.start is None else load_strategy_data(
                spec, data_dir=args.data, end=args.start)
            bundle = fit(spec, train_data, on_epoch=on_epoch)
        finally:
            bar.close()
    else:
        bundle = load_bundle(args.model)
    start, period = backtest_start(bundle, args.start)
    say(args, f"backtesting {spec.name} on {period} ...")
    ev = evaluate(spec, bundle, data, start=start, end=args.end)
    root = Path(args.out) if args.out else Path("runs") / spec.name
    folder, summary = write_run(spec, bundle, ev, root=root, trained=trained_here)
    metrics = summary["backtest"]
    if args.json:
        print(json.dumps({"run": str(folder), **summary}, indent=2, default=str))
        return OK
    print(f"\n{title}: {spec.name}, {format_stat('start', summary['period_start'])} .. "
          f"{format_stat('end', summary['period_end'])} UTC")
    print_stats(metrics, summary.get("baselines"))
    print_warnings(summary.get("warnings") or [])
    test = bundle.metrics.get("test") or {}
    if test.get("accuracy") is not None:
        print(f"\nmodel test accuracy {test['accuracy']:.3f}, macro F1 {test.get('f1_macro', float('nan')):.3f}")
    print(f"\nwrote {folder}/ (report.html, metrics.json, trades.csv, equity.csv"
          f"{', bundle/' if trained_here else ''})")
    return OK


def cmd_backtest(args: argparse.Namespace) -> int:
    from ..strategy.load import load_strategy

    return _run_backtest(args, load_strategy(args.strategy, warn=False), title="backtest")


def cmd_demo(args: argparse.Namespace) -> int:
    """The demo: the bundled multi-timeframe strategy, features -> training -> backtest -> report."""
    from ..strategy.bundled import bundled_strategy
    from ..strategy.load import load_strategy

    path = bundled_strategy()
    spec = load_strategy(path, warn=False)
    say(args, f"fuzzyvec demo: {path.name} ({spec.description})",
         f"symbols {', '.join(spec.symbols)}, timeframes {', '.join(spec.timeframes)}, "
         f"{len(spec.nn_inputs)} inputs; bundled real data")
    ns = argparse.Namespace(**{**vars(args), "model": None})
    return _run_backtest(ns, spec, title="demo backtest")


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("train", help="train the strategy's model and write a bundle")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--epochs", type=int, metavar="N", help="override model.training.epochs")
    p.add_argument("--seed", type=int, metavar="N", help="override model.training.seed (default 42)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this strategy "
                   "(refused, naming each difference, when the strategy's settings changed since)")
    p.add_argument("--restart", action="store_true", help="discard any checkpoint and train from scratch")
    p.add_argument("--dry-run", action="store_true",
                   help="show the indicators, fuzzy sets, resolved features and label balance; do not train")
    add_common(p, models=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("backtest", help="backtest a model (training one first when --model is not given)")
    p.add_argument("strategy", metavar="FILE")
    p.add_argument("--model", metavar="DIR", help="a bundle folder from `train`")
    add_common(p, out=True)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("demo", help="run the demo on the bundled data (same as no command)")
    add_common(p, dates=True, out=True)
    p.set_defaults(func=cmd_demo)
