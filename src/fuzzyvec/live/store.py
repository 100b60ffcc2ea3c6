"""Append-only bar series of the prediction service: new bars by upload or from growing files.

A :class:`BarSeries` holds one symbol's base-timeframe bars in preallocated numpy buffers that
only grow. Readers take a :class:`BarsView` (a consistent snapshot) without a lock; appends
write past the end of every published view and then publish a longer one, so a request that
is computing features never sees bars change under it. Bars already stored are never changed.

Every batch — an upload or the new rows of a file — is validated like
:func:`fuzzyvec.load_ohlcv` (finite positive prices, ``high >= max(open, close)``,
``low <= min(open, close)``, non-negative volume, strictly increasing timestamps at least one
timeframe apart) and, in addition, must lie on the series' time grid and continue after its
last bar. Rows at or before the last bar are accepted only when they equal the stored bar (a
re-sent batch is harmless) and skipped. A rejected batch changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ..data.bars import OHLCV_COLUMNS, load_ohlcv
from ..errors import DataError
from ..timeframes import timeframe_seconds

__all__ = ["BarSeries", "BarsView"]

log = logging.getLogger("fuzzyvec.live")

_VALUES = OHLCV_COLUMNS[1:]  # open, high, low, close, volume


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True)
class BarsView:
    """A consistent snapshot of a series: ``ts`` (int64 µs since the epoch, open times) and one
    float64 array per value column, all of the same length."""

    ts: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ts)

    def time(self, i: int) -> datetime:
        """Open time of bar ``i`` (UTC)."""
        return _us_to_datetime(int(self.ts[i]))

    def frame(self, start: int, stop: int) -> pl.DataFrame:
        """Bars ``start .. stop - 1`` as a bar frame (the :func:`fuzzyvec.load_ohlcv` layout)."""
        start = max(0, start)
        ts = pl.Series("timestamp", self.ts[start:stop]).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        return pl.DataFrame([ts, *(pl.Series(c, self.values[c][start:stop]) for c in _VALUES)])


class BarSeries:
    """The base-timeframe bars of one symbol, appended to while being read.

    Parameters
    ----------
    symbol, timeframe:
        What the bars are (``timeframe`` fixes the grid and the minimum spacing).
    bars:
        The initial bars (validated; at least one).
    source:
        The file they came from; :meth:`refresh` appends its new rows when it changes.
    """

    def __init__(self, symbol: str, timeframe: str, bars: pl.DataFrame, *, source: str | Path | None = None) -> None:
        if bars.height == 0:
            raise DataError(f"{source or symbol}: no bars")
        self.symbol = symbol
        self.timeframe = timeframe
        self.step_us = timeframe_seconds(timeframe) * 1_000_000
        self.source = Path(source) if source is not None else None
        self._lock = threading.Lock()
        n = bars.height
        cap = max(1024, 2 * n)
        self._ts = np.empty(cap, dtype=np.int64)
        self._buf = {c: np.empty(cap, dtype=np.float64) for c in _VALUES}
        self._ts[:n] = bars["timestamp"].dt.epoch("us").to_numpy()
        for c in _VALUES:
            self._buf[c][:n] = bars[c].to_numpy()
        self._n = n
        self._view = self._make_view(n)
        self._stat = self._file_stat()

    # -- reading ---------------------------------------------------------------------------

    def _make_view(self, n: int) -> BarsView:
        return BarsView(self._ts[:n], {c: b[:n] for c, b in self._buf.items()})

    @property
    def view(self) -> BarsView:
        """The current snapshot (never changes once taken)."""
        return self._view

    def __len__(self) -> int:
        return len(self._view)

    # -- appending -------------------------------------------------------------------------

    def append(self, bars: pl.DataFrame | object, *, where: str) -> tuple[int, int]:
        """Validate a batch of bars and append the new ones, all or nothing.

        Parameters
        ----------
        bars:
            Anything :func:`fuzzyvec.load_ohlcv` reads (a frame with ``timestamp, open, high,
            low, close, volume``).
        where:
            How to name the batch in error messages (``PUT /v1/bars/BTCUSDT``, a file path).

        Returns
        -------
        (appended, skipped)
            New bars added, and bars that were already stored with identical values.

        Raises
        ------
        DataError
            Naming ``where``, the row and the timestamp; nothing is appended.
        """
        batch = load_ohlcv(bars, timeframe=self.timeframe, name=where)
        ts = batch["timestamp"].dt.epoch("us").to_numpy()
        vals = {c: batch[c].to_numpy() for c in _VALUES}
        with self._lock:
            view = self._view
            last = int(view.ts[-1])
            old = ts <= last
            if old.any():
                self._check_known(view, batch, ts[old], {c: v[old] for c, v in vals.items()}, where)
            new = ~old
            k = int(new.sum())
            if k == 0:
                return 0, int(old.sum())
            ts_new = ts[new]
            first = int(ts_new[0])
            i_first = int(np.flatnonzero(new)[0])
            if first - last < self.step_us:
                raise DataError(f"{where}: row {i_first} at {_us_to_datetime(first)}: less than one {self.timeframe} "
                                f"bar after the last stored bar {_us_to_datetime(last)}")
            off = (ts_new - int(view.ts[0])) % self.step_us
            if off.any():
                j = int(np.flatnonzero(off)[0])
                raise DataError(f"{where}: row {i_first + j} at {_us_to_datetime(int(ts_new[j]))}: not on the "
                                f"{self.timeframe} grid of the stored bars (they open at "
                                f"{_us_to_datetime(int(view.ts[0]))} + multiples of {self.timeframe})")
            self._write(ts_new, {c: v[new] for c, v in vals.items()})
            return k, int(old.sum())

    def _check_known(self, view: BarsView, batch: pl.DataFrame, ts: np.ndarray, vals: dict[str, np.ndarray],
                     where: str) -> None:
        """Rows at or before the last stored bar must be stored bars with identical values."""
        pos = np.searchsorted(view.ts, ts)
        pos_c = np.minimum(pos, len(view) - 1)
        found = view.ts[pos_c] == ts
        same = found.copy()
        for c in _VALUES:
            same &= view.values[c][pos_c] == vals[c]
        if not same.all():
            bad = int(np.flatnonzero(~same)[0])
            t = _us_to_datetime(int(ts[bad]))
            why = ("differs from the stored bar (stored bars are never changed)" if found[bad] else
                   "is not a stored bar and opens before the last stored bar "
                   f"{view.time(len(view) - 1)} (bars can only be appended)")
            raise DataError(f"{where}: bar at {t} {why}")

    def _write(self, ts: np.ndarray, vals: dict[str, np.ndarray]) -> None:
        n, k = self._n, len(ts)
        if n + k > len(self._ts):
            cap = max(2 * len(self._ts), n + k)
            grown = np.empty(cap, dtype=np.int64)
            grown[:n] = self._ts[:n]
            self._ts = grown
            for c in _VALUES:
                g = np.empty(cap, dtype=np.float64)
                g[:n] = self._buf[c][:n]
                self._buf[c] = g
        self._ts[n:n + k] = ts
        for c in _VALUES:
            self._buf[c][n:n + k] = vals[c]
        self._n = n + k
        self._view = self._make_view(n + k)  # publish: one attribute assignment

    # -- files -----------------------------------------------------------------------------

    def _file_stat(self) -> tuple[int, int] | None:
        if self.source is None:
            return None
        try:
            st = os.stat(self.source)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> int:
        """Append the new rows of the source file if it changed since the last look.

        A file that cannot be read or validated (say, caught half-written) is logged and
        left for the next look; the stored bars stay as they are. Returns the bars appended.
        """
        stat = self._file_stat()
        if stat is None or stat == self._stat:
            return 0
        try:
            appended, _ = self.append(self.source, where=str(self.source))
        except DataError as exc:
            log.warning(json_line(event="file_rejected", symbol=self.symbol, file=str(self.source), reason=str(exc)))
            self._stat = stat
            return 0
        self._stat = stat
        if appended:
            log.info(json_line(event="file_bars", symbol=self.symbol, file=str(self.source), appended=appended,
                               last_bar=self.view.time(len(self.view) - 1).isoformat()))
        return appended


def json_line(**fields: object) -> str:
    """One structured log line (JSON object, keys in the given order)."""
    return json.dumps(fields, default=str)
