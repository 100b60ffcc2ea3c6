"""Bars in, validated: ``load_ohlcv`` and ``resample``.

Bars are polars frames with exactly ``timestamp`` (``Datetime("us", "UTC")``, the bar's
**open** time), ``open``, ``high``, ``low``, ``close``, ``volume`` (``Float64``), sorted, with
unique timestamps. A bar that opens at ``t`` with duration ``d`` is complete at ``t + d``.

Nothing is filled in or invented: every problem is a :class:`~fuzzyvec.errors.DataError`
naming the file, the column and the first offending rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..errors import DataError
from ..timeframes import format_timeframe, timeframe_seconds

__all__ = [
    "OHLCV_COLUMNS",
    "PRICE_COLUMNS",
    "load_ohlcv",
    "resample",
    "to_utc_datetime",
]

PRICE_COLUMNS = ("open", "high", "low", "close")
OHLCV_COLUMNS = ("timestamp", *PRICE_COLUMNS, "volume")
_TS_ALIASES = ("timestamp", "datetime", "open time", "open_time", "date", "time")
_SHOW = 5  # offending rows named in a message


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def to_utc_datetime(value: Any, *, what: str = "date") -> datetime:
    """Parse a date/datetime/ISO string; naive values are taken as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"{what}: expected an ISO date or datetime such as 2023-03-01 "
                            f"or 2023-03-01T12:00, got {value!r}") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if hasattr(value, "year") and hasattr(value, "month"):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise DataError(f"{what}: expected a date or datetime, got {value!r}")


class _Where:
    """Formats offending rows of a frame for messages."""

    def __init__(self, name: str, csv: bool) -> None:
        self.name = name
        self.csv = csv

    def rows(self, df: pl.DataFrame, mask: np.ndarray, *, with_ts: bool = True) -> str:
        idx = np.flatnonzero(mask)
        shown = []
        for i in idx[:_SHOW]:
            s = f"row {i}"
            if self.csv:
                s += f" (line {i + 2})"
            if with_ts and "timestamp" in df.columns and df.schema["timestamp"] != pl.String:
                s += f" at {df['timestamp'][int(i)]}"
            shown.append(s)
        more = f" and {len(idx) - _SHOW} more" if len(idx) > _SHOW else ""
        return ", ".join(shown) + more

    def error(self, message: str) -> DataError:
        return DataError(f"{self.name}: {message}")


def _read(source: Any, where: _Where) -> pl.DataFrame:
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        df = source
        if isinstance(df.index, pd.DatetimeIndex):
            df = df.rename_axis(df.index.name or "timestamp").reset_index()
        elif not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        df.columns = [str(c) for c in df.columns]
        return pl.from_pandas(df)
    path = Path(source)
    if not path.exists():
        raise where.error("file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, infer_schema_length=10_000, try_parse_dates=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise where.error(f"cannot read {suffix[1:]} file: {exc}") from None
    raise where.error(f"unsupported file type {suffix!r}: expected .parquet or .csv")


def _normalise_columns(df: pl.DataFrame, where: _Where) -> pl.DataFrame:
    lower: dict[str, str] = {}
    for c in df.columns:
        key = c.strip().lower()
        if key in lower:
            raise where.error(f"columns {lower[key]!r} and {c!r} differ only in case; keep one")
        lower[key] = c
    ts_col = next((lower[a] for a in _TS_ALIASES if a in lower), None)
    first = df.columns[0] if df.width else None
    if ts_col is None and first is not None and first.strip().lower() in ("", "unnamed: 0", "index"):
        # what pandas' DataFrame.to_csv() writes: the (datetime) index as a first column without a header
        if df[first].dtype in (pl.String, pl.Date) or isinstance(df[first].dtype, pl.Datetime):
            ts_col = first
        else:
            raise where.error(f"the first column has no name and holds {df[first].dtype} values, not dates: "
                              "a pandas index written by to_csv()? Name the timestamp column (timestamp, date, "
                              "time, datetime or open time) or write the frame with its DatetimeIndex")
    missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in lower]
    if ts_col is None:
        missing.insert(0, "timestamp")
    if missing:
        raise where.error(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}; "
            f"found {list(df.columns)!r}. Expected timestamp (or date, time, datetime, open time), "
            "open, high, low, close, volume (case-insensitive)"
        )
    return df.select(
        pl.col(ts_col).alias("timestamp"), *[pl.col(lower[c]).alias(c) for c in ("open", "high", "low", "close", "volume")]
    )


def _parse_timestamps(df: pl.DataFrame, where: _Where) -> pl.DataFrame:
    ts = df["timestamp"]
    dtype = ts.dtype
    if ts.null_count():
        raise where.error(f"column 'timestamp': empty value in {where.rows(df, ts.is_null().to_numpy(), with_ts=False)}")
    if isinstance(dtype, pl.Datetime):
        parsed = ts if dtype.time_zone is not None else ts.dt.replace_time_zone("UTC")
        parsed = parsed.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    elif dtype == pl.Date:
        parsed = ts.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif dtype.is_numeric():
        v = ts.cast(pl.Float64).to_numpy()
        if not np.all(np.isfinite(v)):
            raise where.error(f"column 'timestamp': non-finite epoch value in {where.rows(df, ~np.isfinite(v), with_ts=False)}")
        mag = np.nanmax(np.abs(v)) if len(v) else 0
        # epoch seconds until the year 5138, then milliseconds, microseconds, nanoseconds
        scale = 1e6 if mag < 1e11 else 1e3 if mag < 1e14 else 1.0 if mag < 1e17 else 1e-3
        us = np.round(v * scale).astype(np.int64)
        parsed = pl.Series("timestamp", us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif dtype == pl.String:
        parsed = _parse_strings(df, ts, where)
    else:
        raise where.error(f"column 'timestamp': cannot interpret values of type {dtype}")
    return df.with_columns(parsed.alias("timestamp"))


def _parse_strings(df: pl.DataFrame, ts: pl.Series, where: _Where) -> pl.Series:
    s = ts.str.strip_chars()
    if s.str.contains(r"^-?\d+(\.\d+)?$").all():
        return _parse_timestamps(df.with_columns(s.cast(pl.Float64).alias("timestamp")), where)["timestamp"]
    attempts: list[pl.Series] = []
    for fmt in (None, "%d.%m.%Y %H:%M:%S%.f", "%d.%m.%Y %H:%M:%S", "%Y.%m.%d %H:%M", "%d.%m.%Y %H:%M"):
        try:
            if fmt is None:
                out = s.str.to_datetime(time_unit="us", strict=False)
            else:
                out = s.str.to_datetime(fmt, time_unit="us", strict=False)
        except (pl.exceptions.PolarsError, ValueError):
            continue
        if out.null_count() == 0:
            tz = out.dtype.time_zone  # type: ignore[union-attr]
            out = out.dt.replace_time_zone("UTC") if tz is None else out.dt.convert_time_zone("UTC")
            return out
        attempts.append(out)
    best = min(attempts, key=lambda a: a.null_count()) if attempts else None
    bad = best.is_null().to_numpy() if best is not None else np.ones(len(s), bool)
    first = s.to_numpy()[bad][:1]
    raise where.error(
        f"column 'timestamp': cannot parse {int(bad.sum())} value(s) as a date/time, "
        f"first {first[0]!r} in {where.rows(df, bad, with_ts=False)}; use ISO 8601 "
        "(2023-01-01 00:05:00, optionally with +00:00) or epoch seconds/milliseconds"
    )


def _to_float(df: pl.DataFrame, where: _Where) -> pl.DataFrame:
    cols = []
    for c in ("open", "high", "low", "close", "volume"):
        s = df[c]
        if s.dtype == pl.String:
            conv = s.str.strip_chars().cast(pl.Float64, strict=False)
            bad = (conv.is_null() & s.is_not_null()).to_numpy()
            if bad.any():
                raise where.error(
                    f"column {c!r}: non-numeric value {s.to_numpy()[bad][0]!r} in {where.rows(df, bad)}"
                )
            s = conv
        elif not s.dtype.is_numeric():
            raise where.error(f"column {c!r}: expected numbers, got values of type {s.dtype}")
        cols.append(s.cast(pl.Float64).alias(c))
    return df.with_columns(cols)


def _validate(df: pl.DataFrame, where: _Where, timeframe: str | None, sort: bool) -> pl.DataFrame:
    for c in ("open", "high", "low", "close", "volume"):
        v = df[c].to_numpy()
        bad = ~np.isfinite(v)
        if bad.any():
            raise where.error(f"column {c!r}: missing, NaN or infinite value in {where.rows(df, bad)}; "
                              "fix or remove these bars (nothing is filled in)")
    o, h, lo, c = (df[k].to_numpy() for k in PRICE_COLUMNS)
    for name, v in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True):
        bad = v <= 0
        if bad.any():
            raise where.error(f"column {name!r}: non-positive price in {where.rows(df, bad)}")
    bad = h < np.maximum(o, c)
    if bad.any():
        raise where.error(f"column 'high': high < max(open, close) in {where.rows(df, bad)}")
    bad = lo > np.minimum(o, c)
    if bad.any():
        raise where.error(f"column 'low': low > min(open, close) in {where.rows(df, bad)}")
    bad = df["volume"].to_numpy() < 0
    if bad.any():
        raise where.error(f"column 'volume': negative volume in {where.rows(df, bad)}")
    t = df["timestamp"].dt.epoch("us").to_numpy()
    d = np.diff(t)
    dup = np.zeros(len(t), bool)
    dup[1:] = d == 0
    if dup.any() and not sort:
        raise where.error(f"column 'timestamp': duplicate timestamp in {where.rows(df, dup)}")
    if (d < 0).any():
        if not sort:
            back = np.zeros(len(t), bool)
            back[1:] = d < 0
            raise where.error(
                f"column 'timestamp': timestamps are not increasing at {where.rows(df, back)}; "
                "sort the file or pass sort=True"
            )
        df = df.sort("timestamp", maintain_order=True)
        t = df["timestamp"].dt.epoch("us").to_numpy()
        d = np.diff(t)
        dup = np.zeros(len(t), bool)
        dup[1:] = d == 0
        if dup.any():
            raise where.error(f"column 'timestamp': duplicate timestamp in {where.rows(df, dup)}")
    if timeframe is not None and len(t) > 1:
        step = timeframe_seconds(timeframe) * 1_000_000
        close = np.zeros(len(t), bool)
        close[1:] = d < step
        if close.any():
            i = int(np.flatnonzero(close)[0])
            gap = timedelta(microseconds=int(t[i] - t[i - 1]))
            raise where.error(
                f"column 'timestamp': bars closer together than the {timeframe} timeframe in "
                f"{where.rows(df, close)} (rows {i - 1} and {i} are {gap} apart); is this really "
                f"{timeframe} data?"
            )
    return df


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def load_ohlcv(
    source: str | Path | pl.DataFrame | Any,
    *,
    timeframe: str | None = None,
    sort: bool = False,
    name: str | None = None,
) -> pl.DataFrame:
    """Load and validate OHLCV bars.

    Parameters
    ----------
    source:
        A ``.csv`` or ``.parquet`` path, or a polars / pandas frame (a pandas
        ``DatetimeIndex`` is used as the timestamp).
    timeframe:
        Declared bar spacing (``"5m"``, ``"1h"``...). Gaps are allowed; bars closer
        together than this are an error.
    sort:
        Sort bars by time instead of rejecting out-of-order rows.
    name:
        How to call the source in messages (defaults to the path).

    Returns
    -------
    polars.DataFrame
        ``timestamp`` (``Datetime("us", "UTC")``, bar open time), ``open``, ``high``,
        ``low``, ``close``, ``volume`` (``Float64``).

    Raises
    ------
    DataError
        Naming the file, the column and the first offending rows.
    """
    is_path = isinstance(source, str | Path)
    where = _Where(name or (str(source) if is_path else "<frame>"),
                   csv=is_path and Path(source).suffix.lower() in (".csv", ".txt"))
    if timeframe is not None:
        try:
            timeframe_seconds(timeframe)
        except ValueError as exc:
            raise DataError(str(exc)) from None
    df = _read(source, where)
    df = _normalise_columns(df, where)
    if df.height == 0:
        raise where.error("no bars (the frame is empty)")
    df = _parse_timestamps(df, where)
    df = _to_float(df, where)
    df = _validate(df, where, timeframe, sort)
    return df.select(OHLCV_COLUMNS)


def resample(bars: pl.DataFrame, timeframe: str, *, base_timeframe: str | None = None) -> pl.DataFrame:
    """Aggregate bars to a higher timeframe.

    Buckets are left-closed and labelled by their open time (polars ``group_by_dynamic``,
    aligned to the epoch; weeks start on Monday): open = first, high = max, low = min,
    close = last, volume = sum. An incomplete last bucket (one the base bars do not reach
    the end of) is dropped, so the result never contains a bar that had not closed yet.

    Parameters
    ----------
    bars:
        Validated bars (see :func:`load_ohlcv`).
    timeframe:
        Target timeframe; must be a whole multiple of the base timeframe.
    base_timeframe:
        Timeframe of ``bars``; inferred from the smallest spacing when omitted.
    """
    target = timeframe_seconds(timeframe)
    if base_timeframe is None:
        t = bars["timestamp"].dt.epoch("s").to_numpy()
        if len(t) < 2:
            raise DataError("resample: cannot infer the base timeframe from fewer than 2 bars; pass base_timeframe")
        base = int(np.min(np.diff(t)))
    else:
        base = timeframe_seconds(base_timeframe)
    if target % base or target < base:
        raise DataError(
            f"resample: {timeframe} is not a whole multiple of the base timeframe "
            f"({base_timeframe or format_timeframe(base)})"
        )
    if bars.height == 0:
        return bars.select(OHLCV_COLUMNS)
    out = (
        bars.sort("timestamp")
        .group_by_dynamic("timestamp", every=timeframe, period=timeframe, closed="left", label="left",
                          start_by="window")
        .agg(
            pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
            pl.col("close").last(), pl.col("volume").sum(),
        )
    )
    last_complete = bars["timestamp"][-1] + timedelta(seconds=base)
    out = out.filter(pl.col("timestamp") + timedelta(seconds=target) <= last_complete)
    return out.select(OHLCV_COLUMNS).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
