"""Backtests (SPEC §7): positions → the one engine kernel → stats, trades, equity.

``backtest(bars, positions)`` simulates the positions decided by :func:`fuzzyvec.decide` with
:func:`fuzzyvec.nb.engine.simulate_nb`, the one simulation kernel of fuzzyvec (it also runs
sweeps, prediction files, walk-forward folds, search candidates and the random baselines).
Every symbol is one *column* of the same kernel call; a column reverses inside itself.
vectorbt is the analytics layer: the kernel emits vectorbt order records and
``result.portfolio`` is a vectorbt ``Portfolio`` built from them on first access (nothing
imports vectorbt before that).

Execution rules (checked bar by bar against ``tests/reference_sim.py``, trade for trade
against backtesting.py)
----------------------------------------------------------------------------------------
- A position decided on bar ``t`` (from bar ``t``'s completed features) is executed at bar
  ``t+1``'s **open** (``execution: next_open``, the default) or at bar ``t``'s **close**
  (``execution: close``). A position decided on the last bar is never executed under
  ``next_open``.
- Positions are edges: a trade happens only where the decided position *changes*.
  long → short is an exit and a short entry at the same price (a reversal, inside one
  column). After a stop exit the column stays flat until the decided position changes.
- ``direction: longonly`` / ``shortonly``: positions of the disallowed side are read as flat.
- Sizing: an entry spends ``size`` × equity (equity = cash, since the column is flat when it
  enters) *including* the entry fee: ``units = size·equity / (fill·(1 + fees))``.
- Fees: ``fees`` × traded value (fill price × units) on every fill, entry and exit.
- Slippage: every fill, signal or stop, is moved adversely by ``slippage``:
  ``fill = price·(1 + slippage)`` when buying, ``price·(1 − slippage)`` when selling.
- Stops: ``sl_stop`` / ``tp_stop`` are fractions of the entry **fill** price; with
  ``sl_trail`` the stop-loss distance is measured from the highest high (long) / lowest low
  (short) seen since the entry, updated *after* each bar's check (the intrabar order of high
  and low is unknown). Inside a bar the stop-loss is checked first, so a bar that touches
  both exits at the stop-loss. A bar that opens beyond a stop (a gap) fills at its open.
- **Stops are live from the entry fill on.** Under ``next_open`` the entry fills at the open
  and the same bar's low/high are then checked (as backtesting.py does): no stop touch is
  skipped. Under ``close`` the entry fills at the close and the first bar checked is the
  next one. On a bar where a signal closes the position at the open, the closed position's
  stops are not checked (it no longer exists); under ``close`` the stops are checked first
  (they are hit during the bar), and an entry or reversal decided on that bar still fills at
  the close.

Stats are annualised with ``bars_per_year`` = 365 days / bar frequency (vectorbt's
``year_freq / freq``; 8760 for 1h, 105120 for 5m) unless ``bars_per_year`` is set (e.g. 6240
for FX hours). The exit reason of a trade is known to the kernel: ``signal``, ``sl``, ``tp``,
``trail``, or ``end`` for a trade still open on the last bar.

Multi-symbol bars must share their timestamps (one index for the whole simulation); each
symbol is an independent column with its own ``init_cash``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError

from ..errors import DataError, StrategyError
from ..strategy.config import BacktestConfig
from ..timeframes import timeframe_seconds
from .results import STAT_KEYS, equity_frame, stats_frame, stats_to_dicts, trades_frame

__all__ = ["STAT_KEYS", "BacktestResult", "Columns", "EngineOutput", "backtest", "bar_frequency",
           "build_portfolio", "ohlc_arrays", "resolve_backtest_config", "run_engine"]

DEFAULT_YEAR = timedelta(days=365)


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


def ann_factor(freq: timedelta, bars_per_year: float | None) -> float:
    """Bars per year: ``bars_per_year`` when set, else 365 days / ``freq`` (vectorbt's convention)."""
    year = freq * bars_per_year if bars_per_year else DEFAULT_YEAR
    return year / freq


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
    arrays = {c: np.ascontiguousarray(np.column_stack([frames[s][c].to_numpy() for s in names]), dtype=np.float64)
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
# one kernel call: columns of parameters -> metrics (and records)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Per-column simulation parameters, one entry per column (symbol, combination, series).

    ``sig_col`` / ``price_col`` pick each column's signal and price column; ``mode`` is one of
    :data:`fuzzyvec.nb.engine.MODE_NEXT_OPEN`, ``MODE_CLOSE``, ``MODE_SIGNAL``;
    ``init_report`` / ``report_base`` give the reporting currency (quote by default).
    """

    labels: list[Any]
    name: str
    init_cash: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    size: np.ndarray
    sl_stop: np.ndarray  # NaN = none
    tp_stop: np.ndarray  # NaN = none
    sl_trail: np.ndarray  # bool
    mode: np.ndarray  # int64
    sig_col: np.ndarray  # int64
    price_col: np.ndarray  # int64
    init_report: np.ndarray | None = None
    report_base: np.ndarray | None = None

    @classmethod
    def from_configs(cls, configs: Sequence[BacktestConfig], labels: Sequence[Any], name: str, *,
                     sig_col: Sequence[int] | np.ndarray | None = None,
                     price_col: Sequence[int] | np.ndarray | None = None) -> Columns:
        """Stack the scalar fields of one config per column."""
        from ..nb.engine import MODE_CLOSE, MODE_NEXT_OPEN

        m = len(configs)

        def arr(key: str) -> np.ndarray:
            vals = [getattr(c, key) for c in configs]
            return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)

        mode = np.array([MODE_NEXT_OPEN if c.execution == "next_open" else MODE_CLOSE for c in configs], np.int64)
        return cls(list(labels), name, arr("init_cash"), arr("fees"), arr("slippage"), arr("size"),
                   arr("sl_stop"), arr("tp_stop"), np.array([c.sl_trail for c in configs], dtype=bool), mode,
                   np.asarray(np.arange(m) if sig_col is None else sig_col, dtype=np.int64),
                   np.asarray(np.arange(m) if price_col is None else price_col, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class EngineOutput:
    """What one kernel call returns (see :func:`fuzzyvec.nb.engine.simulate_nb`)."""

    metrics: np.ndarray  # (m, len(METRICS))
    blocks: np.ndarray  # (m, b, 2)
    orders: np.ndarray | None = None  # ORDER_DT records
    trades: np.ndarray | None = None  # TRADE_DT records
    equity: np.ndarray | None = None  # (n, m), reporting currency

    def metric(self, name: str) -> np.ndarray:
        """One column of :attr:`metrics` by its name in :data:`fuzzyvec.nb.engine.METRICS`."""
        from ..nb.engine import METRICS

        return self.metrics[:, METRICS.index(name)]


_EMPTY_F2 = np.empty((0, 0), dtype=np.float64)


def _signal_layout(signals: np.ndarray) -> np.ndarray:
    """int8 signals with each column contiguous (Fortran order): every engine column walks its own
    signal column bar by bar, so a wide (bars × series) matrix is read sequentially, not with a
    stride of one row per bar."""
    sig = np.asarray(signals, dtype=np.int8)
    if sig.ndim == 2 and sig.shape[1] == 1:
        return np.ascontiguousarray(sig)
    return np.asfortranarray(sig)
_EMPTY_I1 = np.empty(0, dtype=np.int64)


def run_engine(ohlc: Mapping[str, np.ndarray], signals: np.ndarray, cols: Columns, ann: float, *,
               sl_level: np.ndarray | None = None, tp_level: np.ndarray | None = None, records: bool = False,
               block_edges: np.ndarray | None = None, equity_bars: np.ndarray | None = None) -> EngineOutput:
    """One call of the engine kernel over all columns of ``cols``.

    ``ohlc`` arrays are (n, k) float64; ``signals`` (n, s) int8. With ``records`` a first pass
    counts each column's orders and trades, and a second writes exactly that many records
    and the equity curves (so no bound is guessed and nothing is over-allocated). Without
    records, ``equity_bars`` samples every column's equity at those bars (``EngineOutput.equity``
    is then (len(equity_bars), m)).
    """
    from ..nb.engine import METRICS, simulate_nb

    m = len(cols)
    init_report = cols.init_cash if cols.init_report is None else cols.init_report
    report_base = np.zeros(m, dtype=bool) if cols.report_base is None else cols.report_base
    args = (ohlc["open"], ohlc["high"], ohlc["low"], ohlc["close"], _signal_layout(signals),
            _EMPTY_F2 if sl_level is None else np.ascontiguousarray(sl_level, dtype=np.float64),
            _EMPTY_F2 if tp_level is None else np.ascontiguousarray(tp_level, dtype=np.float64),
            cols.price_col, cols.sig_col, cols.mode, cols.init_cash, np.asarray(init_report, dtype=np.float64),
            np.asarray(report_base, dtype=bool), cols.fees, cols.slippage, cols.size, cols.sl_stop, cols.tp_stop,
            cols.sl_trail, float(ann), _EMPTY_I1 if block_edges is None else np.asarray(block_edges, dtype=np.int64))
    zeros = np.zeros(m + 1, dtype=np.int64)
    sample = _EMPTY_I1 if equity_bars is None or records else np.asarray(equity_bars, dtype=np.int64)
    metrics, blocks, _, _, sampled = simulate_nb(*args, False, zeros, zeros, sample)
    if not records:
        return EngineOutput(metrics, blocks, equity=sampled if len(sample) else None)
    starts = [np.concatenate([[0], np.cumsum(metrics[:, METRICS.index(k)])]).astype(np.int64)
              for k in ("orders", "trades")]
    metrics, blocks, orders, trades, equity = simulate_nb(*args, True, *starts, _EMPTY_I1)
    return EngineOutput(metrics, blocks, orders, trades, equity)


def build_portfolio(index: np.ndarray, close: np.ndarray, orders: np.ndarray, cols: Columns,
                    freq: timedelta) -> Any:
    """A vectorbt ``Portfolio`` from the engine's order records (imports vectorbt).

    One portfolio column per engine column, valued with its own close, without cash
    sharing; ``value()``, ``trades``, ``stats()`` and the plots are vectorbt's own
    computations on the kernel's orders (tests check they equal the kernel's results).
    """
    import pandas as pd
    import vectorbt as vbt
    from vectorbt.base.array_wrapper import ArrayWrapper
    from vectorbt.portfolio.enums import log_dt

    close_cols = np.ascontiguousarray(close[:, cols.price_col])
    # tz-naive UTC: a tz-aware index makes pandas 3 box every wrap (25x slower)
    idx = pd.DatetimeIndex(index.astype("datetime64[ns]"))
    if len(cols) == 1:  # one column: a Series portfolio (value() is a Series, stats() one column)
        frame = pd.Series(close_cols[:, 0], index=idx, name=str(cols.labels[0]), copy=False)
    else:
        frame = pd.DataFrame(close_cols, index=idx, columns=pd.Index([str(x) for x in cols.labels], name=cols.name),
                             copy=False)
    wrapper = ArrayWrapper.from_obj(frame, freq=pd.Timedelta(freq))
    return vbt.Portfolio(wrapper, frame, orders, np.empty(0, dtype=log_dt), init_cash=np.asarray(cols.init_cash),
                         cash_sharing=False)


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------


class LazyPortfolio:
    """``.portfolio`` of a result: vectorbt's ``Portfolio`` rebuilt from the kernel's order records.

    Built once, on first access (nothing imports vectorbt before); the class using it holds the
    records in ``_source`` (the arguments of :func:`build_portfolio`) and a ``_cache`` dict.
    """

    _source: tuple[Any, ...]
    _cache: dict[str, Any]

    @property
    def portfolio(self) -> Any:
        """The vectorbt ``Portfolio`` of this backtest (quote currency), built on first access."""
        if "portfolio" not in self._cache:
            self._cache["portfolio"] = build_portfolio(*self._source)
        return self._cache["portfolio"]


@dataclass(frozen=True)
class BacktestResult(LazyPortfolio):
    """What :func:`backtest` returns.

    Attributes
    ----------
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
    portfolio:
        The vectorbt ``Portfolio`` built from the kernel's order records on first access
        (one column per symbol; :func:`build_portfolio`).
    """

    stats: pl.DataFrame
    trades: pl.DataFrame
    equity: pl.DataFrame
    config: BacktestConfig
    _source: tuple[Any, ...] = field(repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


    def metrics(self) -> dict[str, dict[str, Any]]:
        """JSON-serialisable stats: ``{symbol: {key: value}}`` (NaN/inf → None, times → ISO)."""
        return stats_to_dicts(self.stats)


def backtest(bars: pl.DataFrame | Mapping[str, pl.DataFrame], positions: Any, *,
             config: BacktestConfig | Mapping[str, Any] | None = None, timeframe: str | None = None,
             symbol: str | None = None, **overrides: Any) -> BacktestResult:
    """Simulate decided positions with the engine kernel (SPEC §7).

    Parameters
    ----------
    bars:
        A bar frame (``timestamp`` = bar open time, ``open``/``high``/``low``/``close``), or
        ``{symbol: frame}``: one column per symbol in one kernel call. Symbols must share
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
        stats (one row per symbol), trades, equity, the resolved config and the (lazy)
        vectorbt portfolio.

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
    ann = ann_factor(freq, cfg.bars_per_year)
    out = run_engine(ohlc, pos, cols, ann, records=True)
    return BacktestResult(
        stats=stats_frame(out.metrics, ohlc, index, cols, freq, ann),
        trades=trades_frame(out.trades, index, cols),
        equity=equity_frame(out.equity, index, cols),
        config=cfg,
        _source=(index, ohlc["close"], out.orders, cols, freq),
    )
