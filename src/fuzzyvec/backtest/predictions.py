"""External predictions (SPEC §8): prediction files → the engine kernel → stats, trades, equity.

A prediction file has one row per bar it applies to: ``timestamp`` (the bar's **open** time,
like the bars), ``signal`` (long, short, neutral), ``confidence`` (0..1) and absolute
``stop_loss`` / ``take_profit`` prices. :func:`load_predictions` reads and validates it,
:func:`backtest_predictions` simulates it, and :func:`predictions_from_probs` /
:func:`write_predictions_csv` write one from a trained model's class probabilities (the
*record* stage), so a model can be compared through both backtest paths.

Execution rules (checked bar by bar against ``tests/reference_predictions.py``)
------------------------------------------------------------------------------
A row *acts* when its signal is long or short and ``confidence >= signal_threshold``; bars
without a row, neutral rows and below-threshold rows do not act. For each bar:

1. **Open.** Flat and the bar's row acts: enter its direction at the bar's open with the
   row's stop-loss and take-profit. A position still open at the open was held into this
   bar because this bar's row acts in the *same* direction: it is kept with its
   **original** stops (the row's own levels are ignored), no trade.
2. **Stops**, on every bar a position is open, the entry bar included (the position exists
   from the open). Stop-loss first, then take-profit. A level is *touched* when the low
   (long stop, short target) or the high (long target, short stop) reaches it, ties
   included; the fill is the level, or the bar's **open** when the bar opens beyond it (a
   gap; possible only on held bars, since an entry's levels bracket its open). A bar that
   touches both levels exits at the stop-loss, as does a bar that gaps through the target
   and then touches the stop (the stop-loss is checked first, as in SPEC §7).
3. **Close.** A position neither stop closed is closed at the bar's **close** unless the
   *next* bar's row acts in the same direction, in which case it is held into that bar.
   So neutral, below-threshold or missing rows leave no position open after the bar
   *before* them, and a long followed by a short is closed at the long bar's close (exit
   reason ``close``) and the short enters at the next open: the close-at-bar-end rule
   makes an opposite position at an open impossible, so no exit ever happens "on a
   signal". The last bar always closes what is open.

Sizing, costs, currencies
-------------------------
- An entry puts the whole equity (= cash, the column being flat) into the position,
  entry fee included: ``units = cash / (fill · (1 + fees))``, longs and shorts alike.
- An account whose cash is not positive does not enter.
- ``fees``: fraction of the traded value (``fill × units``) on every fill, entry and exit.
- ``slippage``: every fill is moved adversely: buys (long entries, short exits) fill at
  ``price · (1 + slippage)``, sells (short entries, long exits) at
  ``price · (1 − slippage)``, where ``price`` is the open (entries, gaps), the stop or
  target level (stop fills) or the close. A long stopped at 98 with 0.1 % slippage sells
  at 97.902. The levels themselves are never moved: whether a bar touches a level is
  decided on the raw level.
- ``share_class="USDT"``: equity, ``init_cash`` and all stats in the quote currency.
  ``share_class="BTC"``: in units of the base asset (BTC for BTCUSDT, ETH for ETHUSDT):
  ``init_cash`` is base units, converted to quote at the first bar's open; the simulation
  runs in quote currency and the equity at each bar is ``equity_quote / close``; returns,
  ratios and drawdowns are computed from that curve. Trade P&L, fees and expectancy stay
  in the quote currency in both modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..data.bars import _TS_ALIASES, _parse_timestamps, _read, _Where, load_ohlcv
from ..io_utils import atomic_write
from .engine import (
    Columns,
    LazyPortfolio,
    ann_factor,
    bar_frequency,
    ohlc_arrays,
    run_engine,
)
from .results import stats_frame, stats_to_dicts, trades_frame

__all__ = [
    "PREDICTION_COLUMNS",
    "PredictionBacktest",
    "backtest_predictions",
    "backtest_price_model",
    "load_predictions",
    "predictions_from_probs",
    "write_predictions_csv",
]

PREDICTION_COLUMNS = ("timestamp", "signal", "confidence", "stop_loss", "take_profit")
SIGNALS = {"long": 1, "short": -1, "neutral": 0}
SHARE_CLASSES = ("USDT", "BTC")
EXIT_REASONS = ("none", "sl", "tp", "close")  # indexed by the kernel's exit codes


# ---------------------------------------------------------------------------------------------
# reading and validating a prediction file
# ---------------------------------------------------------------------------------------------


def _select_columns(df: pl.DataFrame, where: _Where) -> pl.DataFrame:
    lower = {c.strip().lower(): c for c in df.columns}
    ts_col = next((lower[a] for a in _TS_ALIASES if a in lower), None)
    missing = [c for c in PREDICTION_COLUMNS[1:] if c not in lower]
    if ts_col is None:
        missing.insert(0, "timestamp")
    if missing:
        raise where.error(f"missing column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(repr(m) for m in missing)}; found {list(df.columns)!r}. Expected "
                          f"{', '.join(PREDICTION_COLUMNS)} (case-insensitive)")
    return df.select(pl.col(ts_col).alias("timestamp"), *[pl.col(lower[c]).alias(c) for c in PREDICTION_COLUMNS[1:]])


def _numeric(df: pl.DataFrame, col: str, where: _Where) -> np.ndarray:
    """float64 values of ``col`` (null → NaN); a non-numeric value is a DataError."""
    s = df[col]
    if s.dtype == pl.String:
        conv = s.str.strip_chars().cast(pl.Float64, strict=False)
        bad = (conv.is_null() & s.is_not_null() & (s.str.strip_chars() != "")).to_numpy()
        if bad.any():
            raise where.error(f"column {col!r}: non-numeric value {s.to_numpy()[bad][0]!r} in {where.rows(df, bad)}")
        s = conv
    elif s.dtype == pl.Null:
        s = s.cast(pl.Float64)
    elif not s.dtype.is_numeric():
        raise where.error(f"column {col!r}: expected numbers, got values of type {s.dtype}")
    return s.cast(pl.Float64).fill_null(np.nan).to_numpy()


def _check(bad: np.ndarray, df: pl.DataFrame, where: _Where, message: str) -> None:
    if bad.any():
        raise where.error(f"{message} in {where.rows(df, bad)}")


def load_predictions(source: str | Path | pl.DataFrame | Any, *, bars: pl.DataFrame | None = None,
                     name: str | None = None) -> pl.DataFrame:
    """Read and validate a prediction file (SPEC §8).

    Parameters
    ----------
    source:
        A ``.csv`` or ``.parquet`` path, or a polars / pandas frame, with the columns
        ``timestamp, signal, confidence, stop_loss, take_profit`` (case-insensitive; other
        columns are ignored). Timestamps are parsed like bars (:func:`fuzzyvec.load_ohlcv`):
        ISO strings, epoch seconds or milliseconds, datetimes; naive values are UTC.
        ``signal`` is long, short or neutral (case-insensitive). Neutral rows may leave the
        stop and target empty.
    bars:
        The bars the predictions apply to. When given, every timestamp must be a bar's
        open time, and the stop-loss and take-profit of every long/short row must bracket
        that bar's open (the entry price): ``stop_loss < open < take_profit`` for a long,
        ``take_profit < open < stop_loss`` for a short.
    name:
        How to call the source in messages (defaults to the path).

    Returns
    -------
    polars.DataFrame
        ``timestamp`` (``Datetime("us", "UTC")``), ``signal`` (lower case), ``confidence``,
        ``stop_loss``, ``take_profit`` (``Float64``; NaN where a neutral row left them
        empty), sorted by time.

    Raises
    ------
    DataError
        Naming the file, the column, and the offending rows by number (0-based data row,
        plus the line for CSV files) and timestamp: a missing column, an unparseable
        timestamp, a duplicate timestamp, a timestamp that matches no bar, an unknown
        signal, a confidence that is missing, non-numeric, NaN or outside [0, 1], a
        long/short row without a stop-loss or take-profit, or with one on the wrong side
        (of each other, and of the entry price when ``bars`` is given).
    """
    is_path = isinstance(source, str | Path)
    where = _Where(name or (str(source) if is_path else "<predictions>"),
                   csv=is_path and Path(source).suffix.lower() in (".csv", ".txt"))
    df = _select_columns(_read(source, where), where)
    if df.height == 0:
        raise where.error("no prediction rows (the file is empty)")
    df = _parse_timestamps(df, where)

    dup = ~df["timestamp"].is_first_distinct().to_numpy()
    _check(dup, df, where, "column 'timestamp': duplicate timestamp")

    raw = df["signal"].cast(pl.String)
    sig_txt = raw.str.strip_chars().str.to_lowercase()
    bad = ~sig_txt.is_in(list(SIGNALS)).fill_null(False).to_numpy()
    if bad.any():
        first = raw.to_numpy()[bad][0]
        _check(bad, df, where, f"column 'signal': unknown signal {first!r} (expected long, short or neutral)")
    direction = sig_txt.replace_strict(SIGNALS, return_dtype=pl.Int8).to_numpy()

    conf = _numeric(df, "confidence", where)
    _check(np.isnan(conf), df, where, "column 'confidence': missing or NaN confidence")
    _check((conf < 0) | (conf > 1), df, where, "column 'confidence': confidence outside [0, 1]")

    sl, tp = _numeric(df, "stop_loss", where), _numeric(df, "take_profit", where)
    active = direction != 0
    for col, v in (("stop_loss", sl), ("take_profit", tp)):
        _check(active & ~(np.isfinite(v) & (v > 0)), df, where,
               f"column {col!r}: missing, non-finite or non-positive {col} on a long/short row")
    with np.errstate(invalid="ignore"):
        _check((direction == 1) & ~(sl < tp), df, where, "long row with stop_loss >= take_profit "
               "(a long needs stop_loss < entry < take_profit)")
        _check((direction == -1) & ~(tp < sl), df, where, "short row with take_profit >= stop_loss "
               "(a short needs take_profit < entry < stop_loss)")

    if bars is not None:
        if bars.height == 0:
            raise where.error("no bars to match the predictions against (the bar frame is empty)")
        bar_ts = bars["timestamp"].dt.epoch("us").to_numpy()
        ts = df["timestamp"].dt.epoch("us").to_numpy()
        pos = np.clip(np.searchsorted(bar_ts, ts), 0, len(bar_ts) - 1)
        _check(bar_ts[pos] != ts, df, where,
               f"column 'timestamp': timestamp matches no bar (bars run {bars['timestamp'][0]} .. "
               f"{bars['timestamp'][-1]}; timestamps are bar open times)")
        entry = bars["open"].to_numpy()[pos]
        for d, ok, rule in ((1, (sl < entry) & (entry < tp), "stop_loss < open < take_profit"),
                            (-1, (tp < entry) & (entry < sl), "take_profit < open < stop_loss")):
            bad = (direction == d) & ~ok
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                _check(bad, df, where, f"{'long' if d == 1 else 'short'} row whose stop_loss/take_profit do "
                       f"not bracket the entry (the bar's open): expected {rule} (first: stop_loss "
                       f"{float(sl[i])}, open {float(entry[i])}, take_profit {float(tp[i])})")

    out = pl.DataFrame({"timestamp": df["timestamp"], "signal": sig_txt, "confidence": conf,
                        "stop_loss": sl, "take_profit": tp})
    return out.sort("timestamp")


# ---------------------------------------------------------------------------------------------
# the backtest
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionBacktest(LazyPortfolio):
    """What :func:`backtest_predictions` returns.

    Attributes
    ----------
    stats:
        JSON-ready dict (NaN → None, times → ISO): the SPEC §7 keys of
        :data:`fuzzyvec.backtest.engine.STAT_KEYS` in the reporting currency (``init_cash``,
        ``final_equity``, ``total_return``, ``cagr``, ratios and drawdowns), ``trades`` =
        positions opened, ``exposure`` = fraction of bars with a position open at some time
        in the bar, ``fees_paid`` and ``expectancy`` in quote currency,
        ``buy_and_hold_return`` = first open to last close of the asset's quote price;
        plus ``share_class`` and ``signal_threshold``.
    trades:
        polars frame, one row per position: ``direction``, ``entry_time``, ``exit_time``,
        ``entry_bar``, ``exit_bar``, ``size`` (units), ``entry_price`` / ``exit_price``
        (fills, slippage included), ``stop_loss`` / ``take_profit`` (the entry row's
        levels), ``entry_fees``, ``exit_fees``, ``pnl`` (quote currency, both fees
        deducted), ``return`` (pnl / entry notional) and ``exit_reason`` (sl, tp, close).
    equity:
        polars frame: ``timestamp``, ``equity`` (reporting currency, at each bar's close).
    baselines:
        :class:`~fuzzyvec.backtest.baselines.Baselines` on the same bars and costs
        (buy-and-hold, flat, random entries with the file's activity), or None.
    portfolio:
        The vectorbt ``Portfolio`` built from the kernel's order records on first access: one
        column, in quote currency, indexed by the bars' open times as a *tz-naive* UTC
        ``DatetimeIndex``.
    """

    stats: dict[str, Any]
    trades: pl.DataFrame
    equity: pl.DataFrame
    _source: tuple[Any, ...] = field(repr=False, compare=False)
    baselines: Any = field(default=None, repr=False, compare=False)  # Baselines (buy-and-hold, flat, random)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


    def to_json(self) -> dict[str, Any]:
        """One JSON-serialisable dict: the stats, ``exit_reasons`` counts and ``baselines``."""
        counts = {r: int((self.trades["exit_reason"] == r).sum()) for r in EXIT_REASONS[1:]}
        out = {**self.stats, "exit_reasons": counts}
        if self.baselines is not None:
            out["baselines"] = self.baselines.to_json()
        return out


def _check_args(signal_threshold: float, init_cash: float, fees: float, slippage: float,
                share_class: str) -> str:
    if not 0.0 <= signal_threshold <= 1.0:
        raise ValueError(f"signal_threshold must be in [0, 1], got {signal_threshold!r}")
    if not (math.isfinite(init_cash) and init_cash > 0):
        raise ValueError(f"init_cash must be a positive number, got {init_cash!r}")
    if not (math.isfinite(fees) and 0.0 <= fees < 1.0):
        raise ValueError(f"fees must be a fraction in [0, 1), got {fees!r}")
    if not (math.isfinite(slippage) and 0.0 <= slippage < 1.0):
        raise ValueError(f"slippage must be a fraction in [0, 1), got {slippage!r}")
    sc = str(share_class).upper()
    if sc not in SHARE_CLASSES:
        raise ValueError(f"share_class must be one of {', '.join(SHARE_CLASSES)}, got {share_class!r}")
    return sc


def _prediction_arrays(bars: pl.DataFrame, predictions: pl.DataFrame) -> dict[str, np.ndarray]:
    """Validated predictions spread over the bars: int8 ``signal`` (0 where no row), and
    float64 ``confidence`` / ``stop_loss`` / ``take_profit`` (NaN where no row)."""
    n = bars.height
    idx = np.searchsorted(bars["timestamp"].dt.epoch("us").to_numpy(),
                          predictions["timestamp"].dt.epoch("us").to_numpy())
    out = {"signal": np.zeros(n, dtype=np.int8)}
    out["signal"][idx] = predictions["signal"].replace_strict(SIGNALS, return_dtype=pl.Int8).to_numpy()
    for col in ("confidence", "stop_loss", "take_profit"):
        out[col] = np.full(n, np.nan)
        out[col][idx] = predictions[col].to_numpy()
    return out


def backtest_predictions(bars: pl.DataFrame | str | Path, predictions: pl.DataFrame | str | Path | Any, *,
                         signal_threshold: float = 0.65, init_cash: float = 10_000.0, fees: float = 0.0,
                         slippage: float = 0.0, share_class: str = "USDT",
                         timeframe: str | None = None, n_random: int = 1000) -> PredictionBacktest:
    """Backtest a prediction file on bars (SPEC §8; rules in the module docs).

    Parameters
    ----------
    bars:
        Validated bars (:func:`fuzzyvec.load_ohlcv`), or a path to load them from.
    predictions:
        A prediction file path or frame; validated with :func:`load_predictions` against
        ``bars`` (also when it is an already loaded frame).
    signal_threshold:
        A long/short row acts when its ``confidence >= signal_threshold``.
    init_cash:
        Starting equity in the reporting currency (base-asset units for ``"BTC"``).
    fees, slippage:
        Fractions per fill (see the module docs).
    share_class:
        ``"USDT"`` (quote currency) or ``"BTC"`` (base-asset units), case-insensitive.
    timeframe:
        The bars' timeframe, for annualisation; inferred from the bar spacing when None.
    n_random:
        Random-entry series of the baselines (:func:`fuzzyvec.backtest.baselines.baselines`: the
        file's trade count, exposure and long/short mix, the same costs, no stops); 0: none.

    Returns
    -------
    PredictionBacktest
        portfolio, stats, trades and equity.

    Raises
    ------
    DataError
        A bad prediction file (see :func:`load_predictions`) or fewer than 2 bars.
    ValueError
        An argument out of range or an unknown ``share_class``.
    """
    from ..nb.engine import MODE_SIGNAL
    from ..nb.predictions import acting_signals_nb

    sc = _check_args(signal_threshold, init_cash, fees, slippage, share_class)
    if isinstance(bars, str | Path):
        bars = load_ohlcv(bars)
    preds = load_predictions(predictions, bars=bars)
    index, ohlc = ohlc_arrays({"asset": bars})
    arr = _prediction_arrays(bars, preds)
    acting = acting_signals_nb(arr["signal"], arr["confidence"], float(signal_threshold))
    freq = bar_frequency(index, None, timeframe)
    quote_cash = init_cash * ohlc["open"][0, 0] if sc == "BTC" else float(init_cash)
    one = np.ones(1)
    cols = Columns(["asset"], "symbol", np.array([quote_cash]), np.array([float(fees)]),
                   np.array([float(slippage)]), one, np.full(1, np.nan), np.full(1, np.nan), np.zeros(1, bool),
                   np.array([MODE_SIGNAL], np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                   init_report=np.array([float(init_cash)]), report_base=np.array([sc == "BTC"]))
    ann = ann_factor(freq, None)
    out = run_engine(ohlc, acting[:, None], cols, ann, sl_level=arr["stop_loss"][:, None],
                     tp_level=arr["take_profit"][:, None], records=True)
    table = stats_frame(out.metrics, ohlc, index, cols, freq, ann, exposure="exposure_held")
    stats = stats_to_dicts(table)["asset"]
    stats.update(share_class=sc, signal_threshold=float(signal_threshold))
    trades = trades_frame(out.trades, index, cols, stops=True, label=False)
    eq = pl.DataFrame({"timestamp": bars["timestamp"], "equity": out.equity[:, 0]})
    base = None
    if n_random:
        from .baselines import baselines

        cfg = {"init_cash": float(init_cash), "fees": float(fees), "slippage": float(slippage)}
        longs = int((trades["direction"] == "long").sum())
        base = baselines(bars, config=cfg, strategy_return=stats["total_return"], strategy_sharpe=stats["sharpe"],
                         trades=trades.height, exposure=stats["exposure"],
                         long_share=longs / trades.height if trades.height else 0.5, n_random=n_random,
                         timeframe=timeframe, stops=False, report_base=sc == "BTC")
    return PredictionBacktest(stats=stats, trades=trades, equity=eq, baselines=base,
                              _source=(index, ohlc["close"], out.orders, cols, freq))


# ---------------------------------------------------------------------------------------------
# the record stage: model probabilities -> a prediction file
# ---------------------------------------------------------------------------------------------


def predictions_from_probs(bars: pl.DataFrame, probs: np.ndarray, *, stop_loss: float = 0.02,
                           take_profit: float = 0.04) -> pl.DataFrame:
    """A prediction frame from a model's class probabilities (the record stage).

    ``probs[t]`` comes from bar ``t``'s completed features, so it is known at bar ``t``'s
    close and can act no earlier than bar ``t + 1``'s open: it becomes the row of bar
    ``t + 1`` (the SPEC §7 next-open convention). The first bar gets no row; the last
    bar's probabilities are dropped.

    Parameters
    ----------
    bars:
        The bars the probabilities were computed on (one row of ``probs`` per bar).
    probs:
        (n, 3) class probabilities, columns BUY, HOLD, SELL (:func:`fuzzyvec.predict_proba`).
    stop_loss, take_profit:
        Fractions of the entry bar's open: a long gets ``open·(1 − stop_loss)`` and
        ``open·(1 + take_profit)``, a short ``open·(1 + stop_loss)`` and
        ``open·(1 − take_profit)``.

    Returns
    -------
    polars.DataFrame
        :data:`PREDICTION_COLUMNS`: ``signal`` = argmax (BUY → long, SELL → short, HOLD →
        neutral; ties to the lower class index), ``confidence`` = max probability; rows with
        NaN probabilities (warm-up) are neutral with confidence 0; neutral rows have empty
        (null) stop and target.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (bars.height, 3):
        raise ValueError(f"probs must have shape ({bars.height}, 3) (BUY, HOLD, SELL; one row per bar), got {p.shape}")
    for key, v in (("stop_loss", stop_loss), ("take_profit", take_profit)):
        if not 0.0 < v < 1.0:
            raise ValueError(f"{key} must be a fraction in (0, 1), got {v!r}")
    p = p[:-1]
    valid = np.isfinite(p).all(axis=1)
    cls = np.where(valid, np.argmax(np.where(valid[:, None], p, 0.0), axis=1), 1)
    conf = np.where(valid, np.max(np.where(valid[:, None], p, 0.0), axis=1), 0.0)
    direction = np.select([cls == 0, cls == 2], [1.0, -1.0], 0.0)
    entry = bars["open"].to_numpy()[1:].astype(np.float64)
    sl = np.where(direction != 0, entry * (1.0 - direction * stop_loss), np.nan)
    tp = np.where(direction != 0, entry * (1.0 + direction * take_profit), np.nan)
    names = np.array(["short", "neutral", "long"])[direction.astype(np.int64) + 1]
    return pl.DataFrame({
        "timestamp": bars["timestamp"][1:],
        "signal": pl.Series(names.tolist(), dtype=pl.String),
        "confidence": conf,
        "stop_loss": pl.Series(sl).fill_nan(None),
        "take_profit": pl.Series(tp).fill_nan(None),
    })


def write_predictions_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a prediction frame as CSV, atomically (a crash never leaves half a file).

    Timestamps are written as ISO 8601 with the UTC offset; floats with full precision, so
    :func:`load_predictions` reads back exactly the same values. Returns the path.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the prediction column(s) {missing}; expected {list(PREDICTION_COLUMNS)}")
    out = frame.select(PREDICTION_COLUMNS)
    return atomic_write(path, lambda p: out.write_csv(p))


def backtest_price_model(bars: pl.DataFrame, runner: Any, *, threshold: float = 0.001,
                         stop_loss: float = 0.02, take_profit: float = 0.04, sequence_length: int = 120,
                         normalization_window: int = 120, signal_threshold: float = 0.5,
                         init_cash: float = 10_000.0, fees: float = 0.0, slippage: float = 0.0,
                         share_class: str = "USDT", timeframe: str | None = None) -> Any:
    """Backtest the price-model strategy: :func:`price_model_predictions` then
    :func:`~fuzzyvec.backtest.predictions.backtest_predictions` (SPEC §8 execution rules).

    ``signal_threshold`` defaults to 0.5 so that every long/short row acts (their
    confidence is above 0.5, see :func:`price_model_predictions`); raise it to act only on
    predicted moves well beyond ``threshold`` (e.g. 0.75 → ``|ret| >= 1.5·threshold``).
    The other arguments are those of the two functions.

    Returns
    -------
    fuzzyvec.backtest.predictions.PredictionBacktest
        portfolio, stats, trades and equity.
    """
    from ..model.price import price_model_predictions

    preds = price_model_predictions(bars, runner, threshold=threshold, stop_loss=stop_loss,
                                    take_profit=take_profit, sequence_length=sequence_length,
                                    normalization_window=normalization_window)
    return backtest_predictions(bars, preds, signal_threshold=signal_threshold, init_cash=init_cash,
                                fees=fees, slippage=slippage, share_class=share_class, timeframe=timeframe)
