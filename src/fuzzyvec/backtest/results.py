"""Result frames of the engine: stats, trades and equity as polars frames (SPEC §7).

The engine kernel (:func:`fuzzyvec.nb.engine.simulate_nb`) accumulates every statistic in its
loop; these functions only name and convert its arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

__all__ = ["STAT_KEYS", "equity_frame", "stats_frame", "stats_to_dicts", "trades_frame"]

#: Keys of a stats row, in order (besides the label column).
STAT_KEYS = (
    "start", "end", "bars", "init_cash", "final_equity", "total_return", "cagr", "sharpe",
    "sortino", "calmar", "max_drawdown", "max_drawdown_duration_bars", "max_drawdown_duration",
    "win_rate", "profit_factor", "expectancy", "trades", "exposure", "fees_paid",
    "buy_and_hold_return", "bars_per_year",
)


def _timestamps(index: np.ndarray) -> pl.Series:
    return pl.Series("timestamp", index.astype("datetime64[us]")).dt.replace_time_zone("UTC")


def _label_series(values: Sequence[Any], labels: Sequence[Any]) -> pl.Series:
    """Labels as Int64 when every label is an int (sweep combinations), else as strings."""
    if all(isinstance(x, int | np.integer) for x in labels):
        return pl.Series(list(values), dtype=pl.Int64)
    return pl.Series([str(x) for x in values], dtype=pl.String)


def _finite(x: np.ndarray) -> np.ndarray:
    """vectorbt's ±inf for a ratio over zero volatility (or zero downside) → NaN (undefined)."""
    return np.where(np.isfinite(x), x, np.nan)


def stats_frame(metrics: np.ndarray, ohlc: Mapping[str, np.ndarray], index: np.ndarray, cols: Any,
                freq: timedelta, ann: float, *, exposure: str = "exposure") -> pl.DataFrame:
    """The stats table: one row per column, keys :data:`STAT_KEYS`.

    ``metrics`` is the kernel's array (:data:`fuzzyvec.nb.engine.METRICS`); ``exposure``
    names the metric reported as ``exposure`` (``exposure``: bars that end in a position;
    ``exposure_held``: bars with a position at some time in the bar, for prediction files).
    """
    from ..nb.engine import METRICS

    def col(name: str) -> np.ndarray:
        return metrics[:, METRICS.index(name)]

    m = len(cols.labels)
    op, cl = ohlc["open"], ohlc["close"]
    bh = (cl[-1] / op[0] - 1.0)[cols.price_col]
    dd_bars = np.nan_to_num(col("max_drawdown_duration_bars"), nan=0.0)
    init = cols.init_cash if cols.init_report is None else cols.init_report
    data = {
        cols.name: _label_series(cols.labels, cols.labels),
        "start": _timestamps(index[[0] * m]),
        "end": _timestamps(index[[-1] * m]),
        "bars": np.full(m, len(index), dtype=np.int64),
        "init_cash": np.asarray(init, dtype=np.float64),
        "final_equity": col("final_equity"),
        "total_return": col("total_return"),
        "cagr": col("cagr"),
        "sharpe": _finite(col("sharpe")),
        "sortino": _finite(col("sortino")),
        "calmar": col("calmar"),
        "max_drawdown": col("max_drawdown"),
        "max_drawdown_duration_bars": dd_bars.astype(np.int64),
        "max_drawdown_duration": [str(freq * int(b)) for b in dd_bars],
        "win_rate": col("win_rate"),
        "profit_factor": col("profit_factor"),
        "expectancy": col("expectancy"),
        "trades": col("trades").astype(np.int64),
        "exposure": col(exposure),
        "fees_paid": col("fees_paid"),
        "buy_and_hold_return": np.asarray(bh, dtype=np.float64),
        "bars_per_year": np.full(m, ann, dtype=np.float64),
    }
    return pl.DataFrame(data)


def trades_frame(trades: np.ndarray, index: np.ndarray, cols: Any, *, stops: bool = False,
                 label: bool = True) -> pl.DataFrame:
    """One row per trade (by column in input order, then time), from the kernel's trade records.

    ``stops`` adds the entry's ``stop_loss`` / ``take_profit`` levels (prediction files);
    ``label`` puts the column label first (``symbol`` / ``combination``).
    """
    from ..nb.engine import REASONS

    ei, xi = trades["entry_idx"], trades["exit_idx"]
    out: dict[str, Any] = {}
    if label:
        out[cols.name] = _label_series([cols.labels[g] for g in trades["col"]], cols.labels)
    out.update({
        "direction": pl.Series(np.where(trades["direction"] > 0, "long", "short").tolist(), dtype=pl.String),
        "entry_time": _timestamps(index[ei]),
        "exit_time": _timestamps(index[xi]),
        "entry_bar": ei.astype(np.int64), "exit_bar": xi.astype(np.int64),
        "size": trades["size"], "entry_price": trades["entry_price"], "exit_price": trades["exit_price"],
    })
    if stops:
        out["stop_loss"] = trades["stop_loss"]
        out["take_profit"] = trades["take_profit"]
    out.update({
        "entry_fees": trades["entry_fees"], "exit_fees": trades["exit_fees"],
        "pnl": trades["pnl"], "return": trades["ret"],
        "exit_reason": pl.Series([REASONS[r] for r in trades["reason"]], dtype=pl.String),
    })
    if not stops:
        out["status"] = pl.Series(np.where(trades["status"] == 0, "open", "closed").tolist(), dtype=pl.String)
    return pl.DataFrame(out)


def equity_frame(equity: np.ndarray, index: np.ndarray, cols: Any) -> pl.DataFrame:
    """``timestamp`` then one equity column per label (``str(label)``)."""
    out = {"timestamp": _timestamps(index)}
    out.update({str(lab): equity[:, j] for j, lab in enumerate(cols.labels)})
    return pl.DataFrame(out)


def stats_to_dicts(stats: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """``{label: {key: value}}`` with NaN/inf → None and datetimes → ISO strings."""
    label = stats.columns[0]
    out: dict[str, dict[str, Any]] = {}
    for row in stats.iter_rows(named=True):
        clean: dict[str, Any] = {}
        for k, val in row.items():
            if k == label:
                continue
            if isinstance(val, float) and not math.isfinite(val):
                val = None
            elif hasattr(val, "isoformat"):
                val = val.isoformat()
            clean[k] = val
        out[str(row[label])] = clean
    return out
