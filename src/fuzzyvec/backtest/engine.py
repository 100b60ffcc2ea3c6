"""Backtests (SPEC §7): positions → one vectorbt simulation → stats, trades, equity.

``backtest(bars, positions)`` simulates the positions decided by :func:`fuzzyvec.decide`
with vectorbt's :meth:`Portfolio.from_signals`. Every symbol (and, in :func:`fuzzyvec.sweep`,
every parameter combination) is one *column* of the same simulation.

Execution rules (checked bar by bar against ``tests/reference_sim.py``)
----------------------------------------------------------------------
- A position decided on bar ``t`` (from bar ``t``'s completed features) is executed at bar
  ``t+1``'s **open** (``execution: next_open``, the default) or at bar ``t``'s **close**
  (``execution: close``). A position decided on the last bar is never executed under
  ``next_open``.
- Positions are edges: a trade happens only where the decided position *changes*.
  long → short is an exit and a short entry at the same price (a reversal). After a stop
  exit the column stays flat until the decided position changes again.
- ``direction: longonly`` / ``shortonly``: positions of the disallowed side are read as flat.
- Sizing: an entry spends ``size`` × equity (equity = cash, since the column is flat when it
  enters) *including* the entry fee: ``units = size·equity / (fill·(1 + fees))`` for longs
  and shorts alike (vectorbt ``size_type="percent"``).
- Fees: ``fees`` × traded value (fill price × units) on every fill, entry and exit.
- Slippage: every fill, signal or stop, is moved adversely by ``slippage``:
  ``fill = price·(1 + slippage)`` when buying, ``price·(1 − slippage)`` when selling
  (``stop_exit_price="stopmarket"``).
- Stops: ``sl_stop`` / ``tp_stop`` are fractions of the entry **fill** price
  (``stop_entry_price="fillprice"``); with ``sl_trail`` the stop-loss distance is measured
  from the highest high (long) / lowest low (short) seen since the entry, updated *after*
  each bar's check (the intrabar order of high and low is unknown). Inside a bar the
  stop-loss is checked first, so a bar that touches both exits at the stop-loss. A bar that
  opens beyond a stop (a gap) fills at its open.
- **Entry bar** (a vectorbt limit: one order per bar and column): stops are armed by the
  entry fill and checked from the *next* bar on. Under ``next_open`` the entry bar's own
  high/low after the open is therefore not checked; under ``close`` the first bar checked
  is the first bar held, so nothing is missed.
- Bar order under ``next_open``: the signal fills at the open first, so on a bar where a
  position is closed by a signal its stops are not checked (see
  :mod:`fuzzyvec.nb.backtest`). Under ``close`` the stops are checked first (they are hit
  during the bar); a position already stopped out is not closed again, and an entry or
  reversal decided on that bar still fills at the close.

Simulation layout
-----------------
Each column is a cash-sharing vectorbt *group* of two legs, ``long`` and ``short``, each of
one direction; a reversal is the exit of one leg and the entry of the other on the same
bar, ordered exit-first by a per-bar call sequence. This is what lets ``size < 1`` reverse
(vectorbt's ``percent`` sizing cannot reverse one column) and what lets a close-execution
entry follow a stop exit on the same bar. ``result.portfolio`` is that grouped portfolio:
its group columns are the symbols; ``portfolio.value()``, ``.trades`` and ``.stats()``
aggregate the legs.

Stats are annualised with ``bars_per_year`` = 365 days / bar frequency (vectorbt's
``year_freq / freq``; 8760 for 1h, 105120 for 5m) unless ``bars_per_year`` is set (e.g. 6240
for FX hours). vectorbt records no exit reason; ``trades.exit_reason`` is inferred from the
fill: an exit on a bar with an exit signal at that bar's execution price is ``signal``, a
stop fill at or beyond the take-profit level is ``tp``, any other stop fill is ``sl`` (or
``trail``), and a trade still open on the last bar is ``end``.

Multi-symbol bars must share their timestamps (one index for the whole simulation); each
symbol is an independent column with its own ``init_cash``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError

from ..errors import DataError, StrategyError
from ..strategy.config import BacktestConfig
from ..timeframes import timeframe_seconds

__all__ = ["STAT_KEYS", "BacktestResult", "backtest", "resolve_backtest_config"]

LEGS = ("long", "short")
DEFAULT_YEAR = timedelta(days=365)

#: Keys of a stats row, in order (besides the label column).
STAT_KEYS = (
    "start", "end", "bars", "init_cash", "final_equity", "total_return", "cagr", "sharpe",
    "sortino", "calmar", "max_drawdown", "max_drawdown_duration_bars", "max_drawdown_duration",
    "win_rate", "profit_factor", "expectancy", "trades", "exposure", "fees_paid",
    "buy_and_hold_return", "bars_per_year",
)


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`backtest` returns.

    Attributes
    ----------
    portfolio:
        The vectorbt ``Portfolio``: one cash-sharing group per symbol (legs ``long`` and
        ``short``); group columns are the symbols.
    stats:
        polars frame, one row per symbol: the label column (``symbol``) then
        :data:`STAT_KEYS`. Returns and drawdowns are fractions (0.05 = 5 %);
        ``max_drawdown`` is a positive fraction; ``cagr``, ``sharpe``, ``sortino`` and
        ``calmar`` are annualised with ``bars_per_year`` (the bar frequency's bars in 365
        days unless overridden; ``sharpe``/``sortino`` are NaN where undefined: zero
        volatility or zero downside); ``max_drawdown_duration_bars`` counts bars from the peak to
        the recovery (or the last bar); ``win_rate``, ``profit_factor`` and ``expectancy``
        are over closed trades; ``trades`` counts all trades, an open one included;
        ``exposure`` is the fraction of bars that end in a position; ``buy_and_hold_return``
        is the first bar's open to the last bar's close, without costs.
    trades:
        polars frame, one row per trade: ``symbol``, ``direction`` (long/short),
        ``entry_time``, ``exit_time``, ``entry_bar``, ``exit_bar``, ``size`` (units),
        ``entry_price`` / ``exit_price`` (fill prices, slippage included), ``entry_fees``,
        ``exit_fees``, ``pnl`` (both sides' fees deducted), ``return`` (pnl / entry
        notional), ``exit_reason`` (signal, sl, tp, trail, end) and ``status`` (closed/open;
        an open trade is valued at the last close).
    equity:
        polars frame: ``timestamp`` then one equity column per symbol (marked to market at
        each bar's close).
    config:
        The resolved :class:`~fuzzyvec.strategy.config.BacktestConfig`.
    """

    portfolio: Any
    stats: pl.DataFrame
    trades: pl.DataFrame
    equity: pl.DataFrame
    config: BacktestConfig

    def metrics(self) -> dict[str, dict[str, Any]]:
        """JSON-serialisable stats: ``{symbol: {key: value}}`` (NaN/inf → None, times → ISO)."""
        return stats_to_dicts(self.stats)


# ---------------------------------------------------------------------------------------------
# configuration and inputs
# ---------------------------------------------------------------------------------------------


def resolve_backtest_config(config: BacktestConfig | Mapping[str, Any] | Any | None = None,
                            overrides: Mapping[str, Any] | None = None) -> BacktestConfig:
    """A validated :class:`BacktestConfig` from a config (or strategy, or mapping) and overrides.

    Raises
    ------
    StrategyError
        If an override names an unknown key or has an invalid value.
    """
    if config is None:
        config = BacktestConfig()
    elif hasattr(config, "backtest") and not isinstance(config, BacktestConfig):  # a Strategy
        config = config.backtest or BacktestConfig()
    base = config.model_dump() if isinstance(config, BacktestConfig) else dict(config)
    try:
        return BacktestConfig.model_validate({**base, **dict(overrides or {})})
    except ValidationError as exc:
        msgs = "; ".join(f"backtest.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise StrategyError(msgs) from None


def bar_frequency(index: np.ndarray, freq: str | None, timeframe: str | None) -> timedelta:
    """The bar duration: ``freq`` (config) > ``timeframe`` > median spacing of ``index``."""
    tf = freq or timeframe
    if tf is not None:
        return timedelta(seconds=timeframe_seconds(tf))
    if len(index) < 2:
        raise ValueError("cannot infer the bar frequency from fewer than 2 bars; pass timeframe=")
    step = np.median(np.diff(index.astype("datetime64[us]").astype(np.int64)))
    return timedelta(microseconds=float(step))


def _as_frames(bars: pl.DataFrame | Mapping[str, pl.DataFrame], symbol: str | None) -> dict[str, pl.DataFrame]:
    if isinstance(bars, pl.DataFrame):
        return {symbol or "asset": bars}
    if isinstance(bars, Mapping) and bars:
        return {str(k): v for k, v in bars.items()}
    raise TypeError(f"bars must be a polars bar frame or a non-empty {{symbol: frame}} mapping, got {type(bars).__name__}")


def ohlc_arrays(frames: dict[str, pl.DataFrame]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Timestamps and (n, n_symbols) open/high/low/close arrays; timestamps must be identical."""
    names = list(frames)
    ts = frames[names[0]]["timestamp"].to_numpy()
    for name in names[1:]:
        other = frames[name]["timestamp"].to_numpy()
        if len(other) != len(ts) or not np.array_equal(other, ts):
            m = min(len(ts), len(other))
            bad = np.flatnonzero(ts[:m] != other[:m])
            where = f"first difference at row {bad[0]}" if len(bad) else f"{len(ts)} vs {len(other)} bars"
            raise DataError(f"bars of {name!r} do not share the timestamps of {names[0]!r} ({where}); "
                            "multi-symbol backtests need identical timestamps: slice the frames to a "
                            "common range first")
    if len(ts) < 2:
        raise DataError(f"a backtest needs at least 2 bars, got {len(ts)}")
    arrays = {c: np.column_stack([frames[s][c].to_numpy().astype(np.float64) for s in names])
              for c in ("open", "high", "low", "close")}
    return ts, arrays


def _as_positions(positions: Any, names: Sequence[str], n: int) -> np.ndarray:
    """(n, n_symbols) int8 positions from an array or a ``{symbol: array}`` mapping."""
    if isinstance(positions, Mapping):
        missing = [s for s in names if s not in positions]
        if missing:
            raise ValueError(f"positions has no entry for symbol(s) {missing}; got {list(positions)}")
        arr = np.column_stack([np.asarray(positions[s]).reshape(-1) for s in names])
    else:
        arr = np.asarray(positions)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    if arr.shape != (n, len(names)):
        raise ValueError(f"positions must have one value per bar and symbol: expected shape "
                         f"{(n, len(names)) if len(names) > 1 else (n,)}, got {arr.shape}")
    return check_positions(arr)


def check_positions(arr: np.ndarray) -> np.ndarray:
    """int8 copy of ``arr`` after checking every value is -1, 0 or +1."""
    values = np.asarray(arr, dtype=np.float64)
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        r = np.argwhere(bad)[0]
        raise ValueError(f"positions must be -1, 0 or +1; got {values[tuple(r)]!r} at row {r[0]}")
    return values.astype(np.int8)


def mask_direction(positions: np.ndarray, direction: str) -> np.ndarray:
    """Positions of the side ``direction`` forbids become flat."""
    if direction == "longonly":
        return np.clip(positions, 0, 1).astype(np.int8)
    if direction == "shortonly":
        return np.clip(positions, -1, 0).astype(np.int8)
    return positions


# ---------------------------------------------------------------------------------------------
# one simulation: columns of parameters -> vectorbt portfolio
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Per-column simulation parameters, one entry per logical column (symbol or combination)."""

    labels: list[Any]
    name: str
    init_cash: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    size: np.ndarray
    sl_stop: np.ndarray  # NaN = none
    tp_stop: np.ndarray  # NaN = none
    sl_trail: np.ndarray  # bool
    next_open: np.ndarray  # bool

    @classmethod
    def from_configs(cls, configs: Sequence[BacktestConfig], labels: Sequence[Any], name: str) -> Columns:
        """Stack the scalar fields of one config per column."""
        def arr(key: str) -> np.ndarray:
            vals = [getattr(c, key) for c in configs]
            return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)

        return cls(list(labels), name, arr("init_cash"), arr("fees"), arr("slippage"), arr("size"),
                   arr("sl_stop"), arr("tp_stop"), np.array([c.sl_trail for c in configs], dtype=bool),
                   np.array([c.execution == "next_open" for c in configs], dtype=bool))


def _shift(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    out[1:] = a[:-1]
    return out


def _legs(a: np.ndarray) -> np.ndarray:
    """Per-column values → per-leg values (each column twice: long leg, short leg)."""
    return np.repeat(a, 2, axis=-1)


def leg_signals(positions: np.ndarray, next_open: np.ndarray) -> dict[str, np.ndarray]:
    """Entry/exit edges per leg from decided positions (n, N) → arrays (n, 2N).

    ``target`` is the position to hold after each bar's execution: the decision of the
    previous bar under next-open execution, of the same bar under close execution.
    """
    target = np.where(next_open[None, :], _shift(positions), positions)
    prev = _shift(target)
    n, m = target.shape
    entries = np.empty((n, 2 * m), dtype=bool)
    exits = np.empty((n, 2 * m), dtype=bool)
    for k, side in enumerate((1, -1)):
        now, before = target == side, prev == side
        entries[:, k::2] = now & ~before
        exits[:, k::2] = before & ~now
    # cash sharing: inside a group the leg that may enter goes last (exits release cash first)
    call_seq = np.empty((n, 2 * m), dtype=np.int64)
    call_seq[:, 0::2] = target == 1
    call_seq[:, 1::2] = target != 1
    return {"target": target, "entries": entries, "exits": exits, "call_seq": call_seq}


def simulate(ohlc: Mapping[str, np.ndarray], index: np.ndarray, positions: np.ndarray, cols: Columns,
             freq: timedelta) -> tuple[Any, dict[str, np.ndarray]]:
    """One vectorbt ``from_signals`` run: each column of ``positions`` is a two-leg group.

    ``ohlc`` arrays are (n, N) (one price column per column) or (n, 1) (shared by all).
    Returns the portfolio and the leg signals (for exit reasons).
    """
    import pandas as pd
    import vectorbt as vbt

    from ..nb.backtest import skip_sl_on_signal_nb, skip_tp_on_signal_nb

    sig = leg_signals(positions, cols.next_open)
    n, m = positions.shape
    skip = sig["exits"] & _legs(cols.next_open)[None, :]
    leg_cols = pd.MultiIndex.from_product([cols.labels, LEGS], names=[cols.name, "leg"])
    close = ohlc["close"]
    close_legs = np.broadcast_to(close, (n, 2 * m)) if close.shape[1] == 1 else _legs(close)
    close_df = pd.DataFrame(np.ascontiguousarray(close_legs), index=pd.DatetimeIndex(index),  # tz-naive UTC: a tz-aware index makes pandas 3 box every wrap (25x slower)
                            columns=leg_cols, copy=False)  # pandas 3 copies an ndarray by default

    def px(key: str) -> np.ndarray:
        a = ohlc[key]
        return a if a.shape[1] == 1 else _legs(a)

    def row(a: np.ndarray) -> np.ndarray:
        return _legs(a)[None, :]

    pf = vbt.Portfolio.from_signals(
        close_df,
        entries=sig["entries"], exits=sig["exits"],
        direction=np.tile(np.array([0, 1]), m)[None, :],  # long leg LongOnly, short leg ShortOnly
        price=row(np.where(cols.next_open, -np.inf, np.inf)),  # -inf = this bar's open, inf = close
        open=px("open"), high=px("high"), low=px("low"),
        size=row(cols.size), size_type="percent",
        fees=row(cols.fees), slippage=row(cols.slippage),
        sl_stop=row(cols.sl_stop), sl_trail=row(cols.sl_trail), tp_stop=row(cols.tp_stop),
        stop_entry_price="fillprice", stop_exit_price="stopmarket", upon_stop_exit="close",
        accumulate=False,
        adjust_sl_func_nb=skip_sl_on_signal_nb, adjust_sl_args=(skip,),
        adjust_tp_func_nb=skip_tp_on_signal_nb, adjust_tp_args=(skip,),
        init_cash=cols.init_cash, cash_sharing=True, group_by=cols.name, call_seq=sig["call_seq"],
        freq=pd.Timedelta(freq),
        fillna_close=False,  # validated bars have no NaN close: skip vectorbt's ffill/bfill copy of it
    )
    return pf, sig


# ---------------------------------------------------------------------------------------------
# results: stats, trades, equity
# ---------------------------------------------------------------------------------------------


def _timestamps(index: np.ndarray) -> pl.Series:
    return pl.Series("timestamp", index.astype("datetime64[us]")).dt.replace_time_zone("UTC")


def _label_series(values: Sequence[Any], labels: Sequence[Any]) -> pl.Series:
    """Labels as Int64 when every label is an int (sweep combinations), else as strings."""
    if all(isinstance(x, int | np.integer) for x in labels):
        return pl.Series(list(values), dtype=pl.Int64)
    return pl.Series([str(x) for x in values], dtype=pl.String)


def _vec(x: Any) -> np.ndarray:
    """A vectorbt reduction (scalar for one group, Series for several) as a float array."""
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _finite(x: np.ndarray) -> np.ndarray:
    """vectorbt's ±inf for a ratio over zero volatility (or zero downside) → NaN (undefined)."""
    return np.where(np.isfinite(x), x, np.nan)


def _col(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    return c if a.shape[1] > 1 else np.zeros_like(c)


def trades_frame(pf: Any, sig: Mapping[str, np.ndarray], ohlc: Mapping[str, np.ndarray], index: np.ndarray,
                 cols: Columns) -> pl.DataFrame:
    """One row per trade, with the exit reason inferred from the fill (see module docs)."""
    rec = pf.trades.values  # numpy record array (trade_dt)
    rec = rec[np.lexsort((rec["entry_idx"], rec["col"] // 2))]  # by column (input order), then time
    leg = rec["col"].astype(np.int64)
    grp = leg // 2
    is_long = rec["direction"] == 0
    xi, ei = rec["exit_idx"].astype(np.int64), rec["entry_idx"].astype(np.int64)
    slip = cols.slippage[grp]
    sell_adj = np.where(is_long, 1.0 - slip, 1.0 + slip)  # exit fill / exit price
    sig_px = np.where(cols.next_open[grp], ohlc["open"][xi, _col(ohlc["open"], grp)],
                      ohlc["close"][xi, _col(ohlc["close"], grp)])
    exit_px = rec["exit_price"]
    is_signal = sig["exits"][xi, leg] & np.isclose(exit_px, sig_px * sell_adj, rtol=1e-12, atol=0.0)
    raw = exit_px / sell_adj
    tp = cols.tp_stop[grp]
    with np.errstate(invalid="ignore"):
        tp_level = rec["entry_price"] * np.where(is_long, 1.0 + tp, 1.0 - tp)
        is_tp = ~np.isnan(tp) & np.where(is_long, raw >= tp_level * (1 - 1e-9), raw <= tp_level * (1 + 1e-9))
    is_open = rec["status"] == 0
    reason = np.where(is_open, "end", np.where(is_signal, "signal", np.where(
        is_tp, "tp", np.where(cols.sl_trail[grp], "trail", "sl"))))
    return pl.DataFrame({
        cols.name: _label_series([cols.labels[g] for g in grp], cols.labels),
        "direction": pl.Series(np.where(is_long, "long", "short").tolist(), dtype=pl.String),
        "entry_time": _timestamps(index[ei]),
        "exit_time": _timestamps(index[xi]),
        "entry_bar": ei, "exit_bar": xi,
        "size": rec["size"], "entry_price": rec["entry_price"], "exit_price": exit_px,
        "entry_fees": rec["entry_fees"], "exit_fees": rec["exit_fees"],
        "pnl": rec["pnl"], "return": rec["return"],
        "exit_reason": pl.Series(reason.tolist(), dtype=pl.String),
        "status": pl.Series(np.where(is_open, "open", "closed").tolist(), dtype=pl.String),
    })


def stats_frame(pf: Any, ohlc: Mapping[str, np.ndarray], index: np.ndarray, cols: Columns, freq: timedelta,
                bars_per_year: float | None, value: np.ndarray | None = None) -> pl.DataFrame:
    """The stats table: one row per column, keys :data:`STAT_KEYS` (see :class:`BacktestResult`).

    The equity-curve statistics come from :func:`fuzzyvec.nb.backtest.portfolio_stats_nb`,
    which walks the order records with vectorbt's own arithmetic and return statistics, so
    they equal ``pf.get_returns_acc()``/``pf.drawdowns``/``pf.position_mask()`` bit for bit
    without materialising (bars × columns) frames; the trade and fee keys come from
    vectorbt's records.

    ``value`` (optional, (n, m)): the equity curve in another reporting currency, starting
    from ``cols.init_cash``. ``final_equity``, ``total_return``, ``cagr``, the ratios and the
    drawdowns then come from it instead of the portfolio's value; the trade, fee and
    exposure keys still come from ``pf``.
    """
    import pandas as pd

    from ..nb.backtest import portfolio_stats_nb, value_stats_nb

    year = freq * bars_per_year if bars_per_year else DEFAULT_YEAR
    ann_factor = pd.Timedelta(year) / pd.Timedelta(freq)  # vectorbt's ReturnsAccessor.ann_factor
    m = len(cols.labels)
    close = np.asarray(ohlc["close"], dtype=np.float64)
    group_lens = np.asarray(pf.wrapper.grouper.get_group_lens(), dtype=np.int64)
    leg_group = np.repeat(np.arange(len(group_lens)), group_lens)
    close_col = np.zeros(len(leg_group), dtype=np.int64) if close.shape[1] == 1 else leg_group
    col_idxs, col_lens = pf.orders.col_mapper.col_map
    init_cash = _vec(pf.init_cash)
    st = portfolio_stats_nb(pf.order_records, col_idxs, col_lens, group_lens, close, close_col, init_cash,
                            float(ann_factor))
    if value is None:
        final_equity, total_return = _vec(pf.final_value()), _vec(pf.total_return())
    else:
        value = np.ascontiguousarray(value, dtype=np.float64)
        exposure = st[:, 6].copy()
        st = value_stats_nb(value, np.asarray(cols.init_cash, dtype=np.float64), float(ann_factor))
        st[:, 6] = exposure
        final_equity = value[-1].copy()
        total_return = final_equity / cols.init_cash - 1.0
    dd_bars = np.nan_to_num(st[:, 5], nan=0.0)
    closed = pf.trades.closed
    op, cl = ohlc["open"], ohlc["close"]
    bh = np.broadcast_to(cl[-1] / op[0] - 1.0, (m,))
    n = len(index)
    v = _vec

    with np.errstate(invalid="ignore", divide="ignore"):
        data = {
            cols.name: _label_series(cols.labels, cols.labels),
            "start": _timestamps(index[[0] * m]),
            "end": _timestamps(index[[-1] * m]),
            "bars": np.full(m, n, dtype=np.int64),
            "init_cash": cols.init_cash,
            "final_equity": final_equity,
            "total_return": total_return,
            "cagr": st[:, 0],
            "sharpe": _finite(st[:, 1]),
            "sortino": _finite(st[:, 2]),
            "calmar": st[:, 3],
            "max_drawdown": np.abs(st[:, 4]),
            "max_drawdown_duration_bars": dd_bars.astype(np.int64),
            "max_drawdown_duration": [str(freq * int(b)) for b in dd_bars],
            "win_rate": v(closed.win_rate()),
            "profit_factor": v(closed.profit_factor()),
            "expectancy": v(closed.expectancy()),
            "trades": v(pf.trades.count()).astype(np.int64),
            # any leg in a position (vectorbt's grouped position_coverage averages the legs)
            "exposure": st[:, 6],
            "fees_paid": np.nan_to_num(v(pf.orders.fees.sum()), nan=0.0),
            "buy_and_hold_return": np.asarray(bh, dtype=np.float64),
            "bars_per_year": np.full(m, year / freq, dtype=np.float64),
        }
    return pl.DataFrame(data)


def equity_frame(pf: Any, index: np.ndarray, cols: Columns) -> pl.DataFrame:
    """``timestamp`` then one equity column per label (``str(label)``)."""
    value = np.asarray(pf.value(), dtype=np.float64).reshape(len(index), -1)
    out = {"timestamp": _timestamps(index)}
    out.update({str(lab): value[:, j] for j, lab in enumerate(cols.labels)})
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


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------


def backtest(bars: pl.DataFrame | Mapping[str, pl.DataFrame], positions: Any, *,
             config: BacktestConfig | Mapping[str, Any] | None = None, timeframe: str | None = None,
             symbol: str | None = None, **overrides: Any) -> BacktestResult:
    """Simulate decided positions with vectorbt (SPEC §7).

    Parameters
    ----------
    bars:
        A bar frame (``timestamp`` = bar open time, ``open``/``high``/``low``/``close``), or
        ``{symbol: frame}``: one column per symbol in one simulation. Symbols must share
        identical timestamps.
    positions:
        Decided position per bar in {-1, 0, +1} (decided on bar ``t`` from its completed
        features; see the module docs for when it executes): an array (n,), or for several
        symbols ``{symbol: array}`` or an (n, n_symbols) array in the mapping's order.
    config:
        The strategy's ``backtest:`` section (defaults when None); a strategy also works.
    timeframe:
        The bars' timeframe (``"5m"``, ``"1h"``): the bar frequency unless ``config.freq``
        is set; inferred from the median bar spacing when both are absent.
    symbol:
        Label of a single frame's column (default ``"asset"``).
    **overrides:
        Replace config fields, e.g. ``fees=0.0, sl_stop=0.02``.

    Returns
    -------
    BacktestResult
        portfolio, stats (one row per symbol), trades, equity and the resolved config.

    Raises
    ------
    StrategyError
        Unknown or invalid ``overrides``.
    DataError
        Multi-symbol frames whose timestamps differ, or fewer than 2 bars.
    ValueError
        Positions of the wrong shape or with values outside {-1, 0, +1}.
    """
    cfg = resolve_backtest_config(config, overrides)
    frames = _as_frames(bars, symbol)
    index, ohlc = ohlc_arrays(frames)
    names = list(frames)
    pos = mask_direction(_as_positions(positions, names, len(index)), cfg.direction)
    freq = bar_frequency(index, cfg.freq, timeframe)
    cols = Columns.from_configs([cfg] * len(names), names, "symbol")
    pf, sig = simulate(ohlc, index, pos, cols, freq)
    return BacktestResult(
        portfolio=pf,
        stats=stats_frame(pf, ohlc, index, cols, freq, cfg.bars_per_year),
        trades=trades_frame(pf, sig, ohlc, index, cols),
        equity=equity_frame(pf, index, cols),
        config=cfg,
    )
