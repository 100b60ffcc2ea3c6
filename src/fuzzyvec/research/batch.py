"""Backtest run folders, and batch runs of several strategy files in parallel (SPEC §13).

A run is what ``python -m fuzzyvec.run backtest FILE`` does without ``--model``: train on the
data before the backtest period, backtest the out-of-sample period (the model's test split, or
from ``start``), write ``{root}/{timestamp}/`` with ``metrics.json``, ``trades.csv``,
``equity.csv``, ``report.html`` and the bundle. :func:`run_batch` does it for many files on an
executor: bars are loaded once per distinct data set in this process and reach each worker
once; each worker trains, backtests and writes its own run folder, and sends back a small
table row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import FuzzyvecError

__all__ = ["BATCH_COLUMNS", "backtest_start", "run_batch", "run_warnings", "write_run"]

#: columns of the :func:`run_batch` table
BATCH_COLUMNS = ("file", "strategy", "symbol", "status", "period_start", "period_end", "total_return", "sharpe",
                 "max_drawdown", "trades", "win_rate", "test_accuracy", "run", "error")


def _when(t: Any) -> str:
    """A period boundary in console text: to the minute, UTC."""
    from ..report.console import format_stat

    return f"{format_stat('start', str(t))} UTC"


def backtest_start(bundle: Any, start: Any) -> tuple[Any, str]:
    """(backtest start, how to describe the period): ``start``, else the model's test split."""
    if start is not None:
        return start, f"the bars from {_when(start)}"
    start = (bundle.metadata.get("date_ranges") or {}).get("test", {}).get("start")
    return start, f"the model's out-of-sample test period (from {_when(start)})" if start else "all bars"


def _new_folder(root: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = root / stamp
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    return folder


def run_warnings(result: Any, *, what: str = "the backtest") -> list[str]:
    """Warnings about a backtest result that must not pass in silence: a symbol with 0 trades."""
    label = result.stats.columns[0]
    return [f"{what} of {row[label]} made 0 trades: its statistics say nothing about the model (a model that "
            "predicts one class, or a confidence threshold above every prediction, never trades)"
            for row in result.stats.iter_rows(named=True) if row["trades"] == 0]


def write_run(spec: Any, bundle: Any, ev: Any, *, root: Path, trained: bool,
              n_random: int = 1000) -> tuple[Path, dict[str, Any]]:
    """Write a run folder under ``root`` atomically; returns (folder, the metrics.json summary).

    The summary carries the backtest's stats, its baselines (buy-and-hold, flat, ``n_random``
    random-entry series: :func:`fuzzyvec.backtest.baselines.baselines`) and its warnings.
    """
    from ..backtest.baselines import baselines_from_result
    from ..io_utils import atomic_dir, atomic_write, atomic_write_json
    from ..model.bundle import save_bundle
    from ..report.html import build_report

    folder = _new_folder(root)
    base = baselines_from_result(ev.backtest, ev.bars, n_random=n_random, timeframe=spec.base_timeframe)
    summary = {
        "strategy": spec.name, "period_start": str(ev.backtest.stats["start"][0]),
        "period_end": str(ev.backtest.stats["end"][0]), "backtest": ev.backtest.metrics(),
        "baselines": {sym: b.to_json() for sym, b in base.items()},
        "training": {k: bundle.metrics.get(k) for k in ("test", "best_epoch", "epochs_run", "stopped_early")},
        "model": str(bundle.path) if bundle.path else "bundle/",
        "warnings": [*(bundle.metrics.get("warnings") or []), *run_warnings(ev.backtest)],
    }
    with atomic_dir(folder) as tmp:
        if trained:
            save_bundle(bundle, tmp / "bundle")
            bundle.path = folder / "bundle"
            summary["model"] = str(folder / "bundle")
        atomic_write_json(tmp / "metrics.json", summary)
        atomic_write(tmp / "trades.csv", lambda p: ev.backtest.trades.write_csv(p))
        ev.backtest.equity.write_csv(tmp / "equity.csv")
        build_report(tmp / "report.html", spec=spec, evaluation=ev, bundle=bundle, baselines=base)
    return folder, summary


@dataclass(frozen=True)
class _Job:
    """One file of a batch (small: the bars travel once, in the shared inputs)."""

    file: str
    spec: Any
    data_key: str
    root: str
    start: Any
    end: Any


def _rows(job: _Job, *, status: str = "ok", error: str | None = None, summary: Mapping[str, Any] | None = None,
          folder: Path | None = None) -> list[dict[str, Any]]:
    if summary is None:
        return [{**dict.fromkeys(BATCH_COLUMNS), "file": job.file, "strategy": job.spec.name, "status": status,
                 "error": error}]
    acc = ((summary.get("training") or {}).get("test") or {}).get("accuracy")
    return [{"file": job.file, "strategy": job.spec.name, "symbol": sym, "status": status,
             "period_start": summary["period_start"], "period_end": summary["period_end"],
             "total_return": m.get("total_return"), "sharpe": m.get("sharpe"), "max_drawdown": m.get("max_drawdown"),
             "trades": m.get("trades"), "win_rate": m.get("win_rate"), "test_accuracy": acc,
             "run": str(folder), "error": None} for sym, m in summary["backtest"].items()]


def _batch_task(shared: Mapping[str, tuple[Any, Any]], job: _Job) -> list[dict[str, Any]]:
    """Executor task: train, backtest and write one file's run folder; its table rows."""
    from .pipeline import evaluate, fit

    data, train_data = shared[job.data_key]
    try:
        bundle = fit(job.spec, train_data)
        start, _ = backtest_start(bundle, job.start)
        ev = evaluate(job.spec, bundle, data, start=start, end=job.end)
        folder, summary = write_run(job.spec, bundle, ev, root=Path(job.root), trained=True)
    except FuzzyvecError as exc:
        return _rows(job, status="error", error=str(exc))
    return _rows(job, summary=summary, folder=folder)


def run_batch(files: Sequence[str | Path], *, out: str | Path | None = None, data_dir: Any = None,
              start: Any = None, end: Any = None, executor: Any = None,
              on_file: Callable[[list[dict[str, Any]]], None] | None = None) -> pl.DataFrame:
    """Train and backtest each strategy file (like ``backtest FILE`` without ``--model``).

    Parameters
    ----------
    files:
        Strategy YAML files; every one is validated and its bars loaded before any training.
    out:
        Run folders go to ``{out}/{strategy name}/{timestamp}/`` (default ``runs/``); files
        with the same strategy name get ``name-2``, ``name-3`` ...
    data_dir, start, end:
        As for ``backtest``: ``start`` is where the backtest begins and training data ends
        (default: each model's own test split).
    executor:
        Runs the files (:mod:`fuzzyvec.research.executors`; default this process, in order).
    on_file:
        Called with each finished file's rows (progress bars).

    Returns
    -------
    polars.DataFrame
        One row per file and symbol (:data:`BATCH_COLUMNS`); ``status`` is ``ok`` or
        ``error`` (training or backtesting failed; ``error`` says why).

    Raises
    ------
    StrategyError, DataError
        An invalid strategy file or missing bars (before anything runs).
    """
    from ..data.files import load_strategy_data
    from ..strategy.load import load_strategy
    from .executors import run_tasks

    root = Path(out) if out is not None else Path("runs")
    shared: dict[str, tuple[Any, Any]] = {}
    jobs: list[_Job] = []
    used: dict[str, int] = {}
    for f in files:
        spec = load_strategy(f, warn=False)
        d = spec.data
        key = repr((spec.symbols, spec.timeframes, spec.base_timeframe, d.dir, d.format, d.resample_from,
                    spec.source_path if d.dir else None))
        if key not in shared:
            data = load_strategy_data(spec, data_dir=data_dir, end=end)
            train = data if start is None else load_strategy_data(spec, data_dir=data_dir, end=start)
            shared[key] = (data, train)
        used[spec.name] = used.get(spec.name, 0) + 1
        name = spec.name if used[spec.name] == 1 else f"{spec.name}-{used[spec.name]}"
        jobs.append(_Job(str(f), spec, key, str(root / name), start, end))
    rows: list[dict[str, Any]] = []
    for part in run_tasks(executor, _batch_task, jobs, shared=shared):
        rows += part
        if on_file is not None:
            on_file(part)
    schema = {"total_return": pl.Float64, "sharpe": pl.Float64, "max_drawdown": pl.Float64, "trades": pl.Int64,
              "win_rate": pl.Float64, "test_accuracy": pl.Float64}
    return pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None).select(BATCH_COLUMNS)
