"""Paper trading (SPEC §14): replay bars through the prediction client as if live, then backtest
what came back with the prediction-file engine.

For every bar of the replay window, in time order, the client asks the service for that bar
(one request per completed bar; ``timestamp`` = the bar's open time, see
:mod:`fuzzyvec.live.service`). The answers — degraded ones included, as the neutral rows a live
system would have acted on — become a SPEC §8 prediction frame, written as ``predictions.csv``
with :func:`~fuzzyvec.backtest.predictions.write_predictions_csv` and backtested with
:func:`~fuzzyvec.backtest.predictions.backtest_predictions` on the replayed bars. With a healthy
service whose bars are those of the file, ``predictions.csv`` is ``record``'s file for the
same window row for row (signals, stops and timestamps exactly; confidences to the ~1e-14 of
the windowed features), and the backtests agree.

The first bar of the file is never replayed: its row would come from the bar before it,
which the file does not have (``record`` writes no row for it either).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..backtest.predictions import PREDICTION_COLUMNS, backtest_predictions, write_predictions_csv
from ..data.bars import load_ohlcv, to_utc_datetime
from ..errors import DataError, UsageError

__all__ = ["PaperResult", "paper_trade", "replay", "write_paper"]


@dataclass(frozen=True)
class PaperResult:
    """What :func:`paper_trade` returns.

    Attributes
    ----------
    bars:
        The replayed bars.
    predictions:
        One row per replayed bar: :data:`~fuzzyvec.backtest.predictions.PREDICTION_COLUMNS`.
    answers:
        The client's answers, in order (``degraded`` / ``reason`` on failed ones).
    backtest:
        The :class:`~fuzzyvec.backtest.predictions.PredictionBacktest` of ``predictions``.
    summary:
        Requests, degraded answers and their reasons, model versions seen, the window.
    """

    bars: pl.DataFrame
    predictions: pl.DataFrame
    answers: Sequence[dict[str, Any]]
    backtest: Any
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """``metrics.json``: the backtest stats and exit reasons, plus ``paper`` (the summary)."""
        return {**self.backtest.to_json(), "paper": self.summary}


def _window(bars: pl.DataFrame, start: Any, end: Any) -> pl.DataFrame:
    rows = bars.slice(1)
    if start is not None:
        rows = rows.filter(pl.col("timestamp") >= to_utc_datetime(start, what="--start"))
    if end is not None:
        rows = rows.filter(pl.col("timestamp") <= to_utc_datetime(end, what="--end"))
    if rows.height == 0:
        raise DataError(f"no bars to replay between {start or 'the second bar'} and {end or 'the last bar'} "
                        f"(the bars run {bars['timestamp'][0]} .. {bars['timestamp'][-1]}; the first bar is "
                        "never replayed: its row would need the bar before it)")
    return rows


def replay(client: Any, bars: pl.DataFrame, *, symbol: str, quiet: bool = True) -> list[dict[str, Any]]:
    """Ask ``client`` for every bar of ``bars``, in order; one answer per bar."""
    from ..report.console import progress

    answers = []
    bar = progress(total=bars.height, desc=f"paper {symbol}", quiet=quiet, unit="bar")
    try:
        for ts in bars["timestamp"]:
            answers.append(client.predict(symbol, ts))
            bar.update(1)
    finally:
        bar.close()
    return answers


def _frame(bars: pl.DataFrame, answers: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame({
        "timestamp": bars["timestamp"],
        "signal": pl.Series([a["signal"] for a in answers], dtype=pl.String),
        "confidence": pl.Series([float(a["confidence"]) for a in answers], dtype=pl.Float64),
        "stop_loss": pl.Series([a.get("stop_loss") for a in answers], dtype=pl.Float64),
        "take_profit": pl.Series([a.get("take_profit") for a in answers], dtype=pl.Float64),
    })


def paper_trade(client: Any, bars: pl.DataFrame | str | Path, *, symbol: str, start: Any = None, end: Any = None,
                signal_threshold: float = 0.65, init_cash: float = 10_000.0, fees: float = 0.0,
                slippage: float = 0.0, share_class: str = "USDT", quiet: bool = True) -> PaperResult:
    """Replay bars through a :class:`~fuzzyvec.live.client.PredictionClient` and backtest the answers.

    Parameters
    ----------
    client:
        The client (anything with ``predict(symbol, timestamp) -> dict``).
    bars:
        The bars (or a file of them) to replay; the service must hold the same bars.
    symbol:
        The symbol to ask for.
    start, end:
        First and last bar to replay (open times, inclusive; default: the second bar of the
        file and its last bar).
    signal_threshold, init_cash, fees, slippage, share_class:
        Of :func:`~fuzzyvec.backtest.predictions.backtest_predictions`.
    quiet:
        No progress bar.

    Returns
    -------
    PaperResult
        The replayed bars, the prediction frame, the answers, the backtest and a summary.
    """
    frame = load_ohlcv(bars) if isinstance(bars, str | Path) else bars
    window = _window(frame, start, end)
    stats0 = dict(getattr(client, "stats", {}))
    answers = replay(client, window, symbol=symbol, quiet=quiet)
    preds = _frame(window, answers)
    try:
        bt = backtest_predictions(window, preds, signal_threshold=signal_threshold, init_cash=init_cash,
                                  fees=fees, slippage=slippage, share_class=share_class)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    degraded = [a for a in answers if a.get("degraded")]
    stats = getattr(client, "stats", {})
    venue = getattr(client, "venue", None)
    summary = {
        "symbol": symbol,
        "venue": getattr(venue, "venue_name", None),
        "endpoint": getattr(client, "endpoint", None),
        "bars": window.height,
        "start": str(window["timestamp"][0]),
        "end": str(window["timestamp"][-1]),
        "http_requests": stats.get("requests", 0) - stats0.get("requests", 0),
        "cache_hits": stats.get("cache_hits", 0) - stats0.get("cache_hits", 0),
        "degraded": len(degraded),
        "degraded_reasons": dict(Counter(a.get("reason") for a in degraded).most_common(5)),
        "model_versions": sorted({a["model_version"] for a in answers if a.get("model_version")}),
        "signals": dict(Counter(a["signal"] for a in answers)),
    }
    return PaperResult(window, preds, answers, bt, summary)


def write_paper(result: PaperResult, folder: str | Path) -> Path:
    """Write ``predictions.csv``, ``metrics.json``, ``trades.csv``, ``equity.csv`` and
    ``report.html`` to ``folder`` atomically (it must not exist, or be empty)."""
    from ..io_utils import atomic_dir
    from ..report.figures import equity_figure, price_figure
    from ..report.html import write_report

    folder = Path(folder)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if folder.exists():
        raise UsageError(f"--out {folder} already exists and is not empty; choose a new folder")
    bt, s = result.backtest, result.summary
    sym = s["symbol"]
    stats = bt.stats
    with atomic_dir(folder) as tmp:
        write_predictions_csv(result.predictions.select(PREDICTION_COLUMNS), tmp / "predictions.csv")
        (tmp / "metrics.json").write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        bt.trades.write_csv(tmp / "trades.csv")
        bt.equity.write_csv(tmp / "equity.csv")
        figures = {f"Price {sym}": price_figure(result.bars, bt.trades, symbol=sym),
                   "Equity": equity_figure(bt.equity.rename({"equity": sym}))}
        summary = {"Symbol": sym, "Venue": f"{s['venue']} ({s['endpoint']})",
                   "Replayed bars (UTC)": f"{s['start']} → {s['end']} ({s['bars']:,} bars)",
                   "Degraded answers": s["degraded"], "Model": ", ".join(s["model_versions"]) or "—",
                   "Total return": stats.get("total_return"), "Trades": stats.get("trades"),
                   "Sharpe": stats.get("sharpe"), "Max drawdown": stats.get("max_drawdown"),
                   "Final equity": stats.get("final_equity")}
        write_report(tmp / "report.html", title=f"paper {sym} - fuzzyvec", figures=figures, summary=summary,
                     subtitle="bars replayed through the prediction service, backtested by the SPEC §8 engine")
    return folder
