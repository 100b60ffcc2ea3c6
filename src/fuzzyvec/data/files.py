"""The bars a strategy reads: ``load_strategy_data``, the bundled sample data, truncation.

Files are ``{dir}/{SYMBOL}_{timeframe}.{parquet|csv}``; higher timeframes are derived from the
base bars (:func:`fuzzyvec.data.bars.resample`) when the strategy says so or their file is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DataError
from ..timeframes import parse_timeframe
from .bars import load_ohlcv, resample, to_utc_datetime

__all__ = ["data_folder", "describe_data", "find_bars_file", "load_strategy_data", "sample_data_dir", "truncate_data"]


def sample_data_dir() -> Path:
    """Folder of the real sample data bundled with the package."""
    return Path(str(resources.files("fuzzyvec") / "sample_data"))


def find_bars_file(folder: Path, symbol: str, tf: str, fmt: str | None) -> Path | None:
    """``folder/{symbol}_{tf}.{fmt}`` (parquet, then csv, without ``fmt``) if it exists, else None."""
    exts = (fmt,) if fmt else ("parquet", "csv")
    for ext in exts:
        p = folder / f"{symbol}_{tf}.{ext}"
        if p.exists():
            return p
    return None


def data_folder(spec: Any, data_dir: str | Path | None) -> Path:
    """The folder a strategy's bars come from: ``data_dir``, else ``data.dir`` (relative to the
    strategy file), else the bundled sample data; a missing folder is a :class:`DataError`."""
    if data_dir is not None:
        folder = Path(data_dir)
    elif spec.data.dir is not None:
        folder = Path(spec.data.dir).expanduser()
        if not folder.is_absolute() and spec.source_path:
            folder = Path(spec.source_path).parent / folder
    else:
        return sample_data_dir()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist (from {'--data' if data_dir else 'data.dir'})")
    return folder


def load_strategy_data(
    spec: Any,
    *,
    data_dir: str | Path | None = None,
    start: Any = None,
    end: Any = None,
) -> dict[str, dict[str, pl.DataFrame]]:
    """Load the bars a strategy needs: ``{symbol: {timeframe: bars}}``.

    Files are ``{dir}/{SYMBOL}_{timeframe}.{parquet|csv}``; ``dir`` is ``data_dir``, else the
    strategy's ``data.dir``, else the bundled sample data. Higher timeframes are derived from
    the base bars when ``data.resample_from`` says so, or when their own file is absent.

    ``start``/``end`` (default: the strategy's ``training_data.start_date``/``end_date``) slice
    the data: ``end`` keeps bars that open at or before it (inclusive), and higher-timeframe
    bars that are complete by then; ``start`` keeps ``history_required`` bars of each
    timeframe before it as warm-up history.

    Returns
    -------
    dict
        ``{symbol: {timeframe: bars}}`` in the strategy's symbol and timeframe order.
    """
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    folder = data_folder(spec, data_dir)
    fmt = spec.data.format
    base_tf = spec.base_timeframe
    resample_from = spec.data.resample_from
    if resample_from is not None and resample_from != base_tf:
        raise DataError(
            f"data.resample_from: expected the base timeframe {base_tf!r}, got {resample_from!r}"
        )
    start_dt = to_utc_datetime(start, what="start") if start is not None else spec.training_data.start_date
    end_dt = to_utc_datetime(end, what="end") if end is not None else spec.training_data.end_date
    if start_dt is not None and end_dt is not None and start_dt > end_dt:
        raise DataError(f"start {start_dt} is after end {end_dt}")
    hist = spec.training_data.history_required
    base_d = parse_timeframe(base_tf)
    out: dict[str, dict[str, pl.DataFrame]] = {}
    for symbol in spec.symbols:
        base_path = find_bars_file(folder, symbol, base_tf, fmt)
        if base_path is None:
            raise DataError(
                f"no {base_tf} bars for {symbol}: expected {folder / f'{symbol}_{base_tf}'}."
                f"{fmt or 'parquet|csv'}; pass --data DIR or set data.dir"
            )
        base = load_ohlcv(base_path, timeframe=base_tf)
        if end_dt is not None:
            base = base.filter(pl.col("timestamp") <= end_dt)
            if base.height == 0:
                raise DataError(f"{base_path}: no bars at or before end {end_dt}")
        last_complete = base["timestamp"][-1] + base_d
        frames: dict[str, pl.DataFrame] = {}
        for tf in spec.timeframes:
            if tf == base_tf:
                bars = base
            else:
                path = None if resample_from else find_bars_file(folder, symbol, tf, fmt)
                if path is None:
                    bars = resample(base, tf, base_timeframe=base_tf)
                else:
                    bars = load_ohlcv(path, timeframe=tf)
                    bars = bars.filter(pl.col("timestamp") + parse_timeframe(tf) <= last_complete)
            if start_dt is not None:
                first = int(bars["timestamp"].search_sorted(start_dt))
                if first >= bars.height:
                    raise DataError(f"{symbol} {tf}: no bars at or after start {start_dt} "
                                    f"(data ends {bars['timestamp'][-1]})")
                bars = bars.slice(max(0, first - hist))
            if bars.height == 0:
                raise DataError(f"{symbol} {tf}: no complete bars in the requested range")
            frames[tf] = bars
        out[symbol] = frames
    return out


def truncate_data(data: Mapping[str, Mapping[str, pl.DataFrame]], base_timeframe: str,
                  end: Any) -> dict[str, dict[str, pl.DataFrame]]:
    """What a live system would have seen at the close of the base bar that opens at ``end``.

    Base bars opening at or before ``end`` are kept; bars of other timeframes are kept when
    they are complete by then (``T + D <= end + d_base``). This is the same cut that
    ``load_strategy_data(end=...)`` applies.
    """
    end_dt = to_utc_datetime(end, what="end")
    horizon = end_dt + parse_timeframe(base_timeframe)
    out: dict[str, dict[str, pl.DataFrame]] = {}
    for sym, frames in data.items():
        out[sym] = {
            tf: df.filter(pl.col("timestamp") + parse_timeframe(tf) <= horizon) for tf, df in frames.items()
        }
    return out


def describe_data(data: Mapping[str, Mapping[str, pl.DataFrame]]) -> list[dict[str, Any]]:
    """One summary row per symbol and timeframe: bars, first and last open time."""
    rows = []
    for sym, frames in data.items():
        for tf, df in frames.items():
            rows.append({
                "symbol": sym, "timeframe": tf, "bars": df.height,
                "first": str(df["timestamp"][0]), "last": str(df["timestamp"][-1]),
            })
    return rows
