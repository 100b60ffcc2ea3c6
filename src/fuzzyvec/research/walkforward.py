"""Walk-forward evaluation: train on a window, trade the bars after it, roll forward, repeat.

Folds are laid out on the base-timeframe bars of the first symbol:

    fold k: train on bars [k*step, k*step + train_bars), trade [k*step + train_bars, ... + test_bars)

Each fold's model is trained (``pipeline.fit``) on data cut at the end of its training window
— the fold's test bars are not in the data it is given — and backtested on its out-of-sample
bars. The out-of-sample equity curves are stitched (each segment compounds on the previous
segment's final equity) into one curve with overall metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from ..errors import DataError, StrategyError
from ..strategy.config import DataSplit, WalkForward
from ..strategy.grammar import Strategy
from ..timeframes import parse_timeframe

__all__ = ["Fold", "FoldResult", "WalkForwardResult", "make_folds", "resolve_walk_forward", "run_fold", "walk_forward"]


@dataclass(frozen=True)
class Fold:
    """One fold: base-bar index ranges (end exclusive) and their open times."""

    index: int
    train_start: datetime
    train_end: datetime  # open time of the last training bar
    test_start: datetime
    test_end: datetime  # open time of the last test bar
    train_bars: int
    test_bars: int

    def to_dict(self) -> dict[str, Any]:
        return {"fold": self.index, "train_start": str(self.train_start), "train_end": str(self.train_end),
                "test_start": str(self.test_start), "test_end": str(self.test_end),
                "train_bars": self.train_bars, "test_bars": self.test_bars}


@dataclass(frozen=True)
class FoldResult:
    """What one fold produced (plain data: safe to send between processes)."""

    fold: Fold
    bundle: Any  # ModelBundle
    stats: dict[str, dict[str, Any]]
    equity: pl.DataFrame
    trades: pl.DataFrame


@dataclass(frozen=True)
class WalkForwardResult:
    """Per-fold results, the per-fold table, the stitched out-of-sample equity and its metrics."""

    folds: tuple[FoldResult, ...]
    table: pl.DataFrame
    equity: pl.DataFrame
    metrics: dict[str, Any]
    baselines: dict[str, Any] = field(default_factory=dict, compare=False)  # {symbol: Baselines}


def make_folds(base_ts: pl.Series, walk: WalkForward) -> list[Fold]:
    """Fold layout over base bar open times (see the module docstring)."""
    n = base_ts.len()
    step = walk.step_bars or walk.test_bars
    folds = []
    k = 0
    while True:
        a = k * step
        b = a + walk.train_bars
        c = min(b + walk.test_bars, n)
        if b >= n or c - b < 2:
            break
        folds.append(Fold(k, base_ts[a], base_ts[b - 1], base_ts[b], base_ts[c - 1], walk.train_bars, c - b))
        k += 1
    if not folds:
        raise DataError(
            f"walk-forward needs more than train_bars + 2 = {walk.train_bars + 2} base bars, got {n}; "
            "use smaller train_bars/test_bars or more data"
        )
    return folds


def _training_spec(spec: Strategy) -> Strategy:
    """The strategy with its test fraction folded into validation (the fold's test is out of sample)."""
    ds = spec.training.data_split
    if ds.test == 0:
        return spec
    split = DataSplit(train=ds.train, validation=1.0 - ds.train, test=0.0)
    training = spec.training.model_copy(update={"data_split": split})
    out = spec.model_copy(update={"training": training})
    out._source_path = spec.source_path
    return out


def _slice(data: Mapping[str, Mapping[str, pl.DataFrame]], base_tf: str, start: datetime | None,
           end: datetime, history: int) -> dict[str, dict[str, pl.DataFrame]]:
    """Bars complete by the close of the base bar opening at ``end``, from ``history`` bars before ``start``."""
    horizon = end + parse_timeframe(base_tf)
    out: dict[str, dict[str, pl.DataFrame]] = {}
    for sym, frames in data.items():
        out[sym] = {}
        for tf, df in frames.items():
            cut = df.filter(pl.col("timestamp") + parse_timeframe(tf) <= horizon)
            if start is not None:
                first = int(cut["timestamp"].search_sorted(start))
                cut = cut.slice(max(0, first - history))
            out[sym][tf] = cut
    return out


def run_fold(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]], fold: Fold,
             segment_end: datetime | None = None) -> FoldResult:
    """Train on the fold's window (data cut at its end) and backtest its out-of-sample bars."""
    from .pipeline import evaluate, fit

    base_tf = spec.base_timeframe
    hist = spec.training_data.history_required
    train_data = _slice(data, base_tf, fold.train_start, fold.train_end, hist)
    bundle = fit(_training_spec(spec), train_data)
    end = fold.test_end if segment_end is None else min(fold.test_end, segment_end)
    test_data = _slice(data, base_tf, None, end, hist)
    ev = evaluate(spec, bundle, test_data, start=fold.test_start, end=end)
    bt = ev.backtest
    return FoldResult(fold, bundle, bt.metrics(), bt.equity, bt.trades.with_columns(pl.lit(fold.index).alias("fold")))


def _fold_task(shared: tuple[Strategy, Mapping[str, Mapping[str, pl.DataFrame]]],
               item: tuple[Fold, datetime]) -> FoldResult:
    """One executor task: ``shared`` (strategy, bars) reaches each worker once; ``item`` is the fold."""
    spec, data = shared
    return run_fold(spec, data, *item)


def _stitch(results: list[FoldResult], init_cash: float) -> pl.DataFrame:
    parts = []
    level: dict[str, float] = {}
    for r in results:
        eq = r.equity
        cols = [c for c in eq.columns if c != "timestamp"]
        exprs = []
        for c in cols:
            factor = level.get(c, init_cash) / init_cash
            exprs.append((pl.col(c) * factor).alias(c))
            level[c] = float(eq[c][-1]) * factor
        parts.append(eq.select("timestamp", *exprs).with_columns(pl.lit(r.fold.index).alias("fold")))
    return pl.concat(parts, how="vertical")


def _curve_metrics(equity: pl.DataFrame, init_cash: float, bars_per_year: float) -> dict[str, Any]:
    """Metrics of each stitched out-of-sample curve.

    ``cagr`` compounds the total return over ``bars / bars_per_year`` years; ``calmar`` is
    ``cagr / max_drawdown`` (None without a drawdown); ``sharpe`` is per-bar mean over standard
    deviation of returns times ``sqrt(bars_per_year)`` (None for a flat curve).
    """
    out = {}
    for c in (c for c in equity.columns if c not in ("timestamp", "fold")):
        v = equity[c].to_numpy()
        r = np.diff(np.concatenate([[init_cash], v])) / np.concatenate([[init_cash], v[:-1]])
        sd = float(np.std(r, ddof=1)) if len(r) > 1 else float("nan")
        peak = np.maximum.accumulate(np.concatenate([[init_cash], v]))
        dd = 1.0 - np.concatenate([[init_cash], v]) / peak
        growth = float(v[-1] / init_cash)
        cagr = growth ** (bars_per_year / len(v)) - 1.0 if growth > 0 else -1.0
        mdd = float(dd.max())
        out[c] = {
            "total_return": growth - 1.0,
            "cagr": float(cagr),
            "sharpe": float(np.mean(r) / sd * np.sqrt(bars_per_year)) if sd and sd > 0 else None,
            "calmar": float(cagr / mdd) if mdd > 0 else None,
            "max_drawdown": mdd,
            "final_equity": float(v[-1]),
            "bars": len(v),
        }
    return out


def resolve_walk_forward(spec: Strategy, *, train_bars: int | None = None, test_bars: int | None = None,
                         step_bars: int | None = None) -> WalkForward:
    """``training.walk_forward`` with explicit overrides; a clear error when neither gives the windows."""
    cfg = spec.training.walk_forward
    given = {k: v for k, v in (("train_bars", train_bars), ("test_bars", test_bars),
                               ("step_bars", step_bars)) if v is not None}
    if cfg is None and not {"train_bars", "test_bars"} <= set(given):
        raise StrategyError(
            f"{spec.name}: walk-forward needs training.walk_forward {{train_bars, test_bars, step_bars}} "
            "in the strategy or --train-bars and --test-bars"
        )
    try:
        return WalkForward.model_validate({**(cfg.model_dump() if cfg else {}), **given})
    except ValueError as exc:
        raise StrategyError(f"walk-forward windows: {exc}") from None


def walk_forward(
    spec: Strategy | Any,
    data: Mapping[str, Mapping[str, pl.DataFrame]] | None = None,
    *,
    train_bars: int | None = None,
    test_bars: int | None = None,
    step_bars: int | None = None,
    data_dir: Any = None,
    start: Any = None,
    end: Any = None,
    on_fold: Callable[[FoldResult], None] | None = None,
    executor: Any = None,
    n_random: int = 1000,
    n_boot: int = 1000,
) -> WalkForwardResult:
    """Walk-forward out-of-sample evaluation of a strategy.

    Parameters
    ----------
    spec, data:
        The strategy and its bars (loaded when omitted).
    train_bars, test_bars, step_bars:
        Override ``training.walk_forward`` (base-timeframe bars; ``step_bars`` defaults to
        ``test_bars``).
    on_fold:
        Called with each finished :class:`FoldResult` (progress bars).
    executor:
        Runs the folds: a :class:`fuzzyvec.research.executors.Executor` (the strategy and bars reach each
        worker once), None (this process, in order), or anything with ``map(fn, items)``.
        Results do not depend on it: each fold trains with its own fixed seed.
    n_random:
        Random-entry series of the out-of-sample baseline (0: no baselines): buy-and-hold, flat
        and random entries with the stitched out-of-sample trade count, exposure and long/short
        mix, on the out-of-sample bars (:func:`fuzzyvec.backtest.baselines.baselines`), in
        ``metrics["baselines"]``.
    n_boot:
        Resamples of the stationary block bootstrap of the stitched out-of-sample returns (0:
        none): 95 % intervals of total return and Sharpe in ``metrics["bootstrap"]``.

    Returns
    -------
    WalkForwardResult
        ``metrics`` has ``folds``, ``walk_forward`` (the windows), ``out_of_sample`` (per symbol),
        ``bootstrap`` and ``baselines`` (per symbol) and ``warnings`` (e.g. folds with 0 trades).
    """
    from ..data.files import load_strategy_data
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    walk = resolve_walk_forward(spec, train_bars=train_bars, test_bars=test_bars, step_bars=step_bars)
    if data is None:
        data = load_strategy_data(spec, data_dir=data_dir, start=start, end=end)
    base_ts = data[spec.symbols[0]][spec.base_timeframe]["timestamp"]
    folds = make_folds(base_ts, walk)
    d = parse_timeframe(spec.base_timeframe)
    seg_ends = [f.test_end if i + 1 == len(folds) else min(f.test_end, folds[i + 1].test_start - d)
                for i, f in enumerate(folds)]
    from .executors import run_tasks

    items = list(zip(folds, seg_ends, strict=True))
    results: list[FoldResult] = []
    for res in run_tasks(executor, _fold_task, items, shared=(spec, data)):
        results.append(res)
        if on_fold is not None:
            on_fold(res)
    rows = []
    for r in results:
        for sym, st in r.stats.items():
            rows.append({**r.fold.to_dict(), "symbol": sym, "total_return": st.get("total_return"),
                         "sharpe": st.get("sharpe"), "max_drawdown": st.get("max_drawdown"),
                         "trades": st.get("trades"), "win_rate": st.get("win_rate"),
                         "validation_accuracy": (r.bundle.metrics.get("validation") or {}).get("accuracy")})
    init_cash = spec.backtest.init_cash
    equity = _stitch(results, init_cash)
    bpy = spec.backtest.bars_per_year or timedelta(days=365) / d
    oos = _curve_metrics(equity, init_cash, bpy)
    warnings = [f"fold {r['fold']} ({r['test_start']} .. {r['test_end']}) of {r['symbol']} made 0 trades out of "
                "sample" for r in rows if not r["trades"]]
    metrics = {"folds": len(results), "walk_forward": walk.model_dump(), "out_of_sample": oos,
               "bootstrap": _bootstrap(equity, init_cash, bpy, n_boot) if n_boot else {},
               "warnings": warnings}
    base = _baselines(spec, data, equity, results, oos, n_random) if n_random else {}
    metrics["baselines"] = {sym: b.to_json() for sym, b in base.items()}
    return WalkForwardResult(tuple(results), pl.DataFrame(rows), equity, metrics, base)


def _returns(equity: pl.DataFrame, col: str, init_cash: float) -> np.ndarray:
    v = equity[col].to_numpy()
    prev = np.concatenate([[init_cash], v[:-1]])
    return v / prev - 1.0


def _bootstrap(equity: pl.DataFrame, init_cash: float, bars_per_year: float, n_boot: int) -> dict[str, Any]:
    """95 % stationary-bootstrap intervals of each stitched curve's total return and Sharpe."""
    from ..backtest.significance import bootstrap_intervals

    out = {}
    for c in (c for c in equity.columns if c not in ("timestamp", "fold")):
        iv = bootstrap_intervals(_returns(equity, c, init_cash), n_boot=n_boot, ann_factor=bars_per_year)
        out[c] = {"total_return": [_num(x) for x in iv["total_return"]], "sharpe": [_num(x) for x in iv["sharpe"]],
                  "n_boot": n_boot, "level": 0.95}
    return out


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _baselines(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]], equity: pl.DataFrame,
               results: list[FoldResult], oos: Mapping[str, Any], n_random: int) -> dict[str, Any]:
    """Baselines on the out-of-sample bars, with the stitched out-of-sample activity."""
    from ..backtest.baselines import baselines

    out = {}
    stamps = equity["timestamp"]
    for sym in (c for c in equity.columns if c not in ("timestamp", "fold")):
        bars = data[sym][spec.base_timeframe].filter(pl.col("timestamp").is_in(stamps.implode()))
        trades = [r.trades.filter(pl.col("symbol") == sym) if "symbol" in r.trades.columns else r.trades
                  for r in results]
        n_trades = sum(t.height for t in trades)
        longs = sum(int((t["direction"] == "long").sum()) for t in trades)
        held = sum(float(r.stats[sym].get("exposure") or 0.0) * int(r.stats[sym].get("bars") or 0)
                   for r in results if sym in r.stats)
        m = oos[sym]
        if bars.height < 2:
            continue
        out[sym] = baselines(bars, config=spec.backtest, strategy_return=m["total_return"],
                             strategy_sharpe=m["sharpe"], trades=n_trades, exposure=min(1.0, held / bars.height),
                             long_share=longs / n_trades if n_trades else 0.5, n_random=n_random,
                             timeframe=spec.base_timeframe)
    return out
