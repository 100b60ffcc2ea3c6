"""Features of one bar from the last warm-up window only (SPEC §14).

A request must cost the same on 1,000 or 1,000,000 bars of history, so the service never
recomputes the whole history: the features of bar ``j`` are built by
:func:`fuzzyvec.features.frame.build_features` — the one feature builder — on the last
``window[tf]`` bars of every timeframe that end at bar ``j``, and only that row is used.

How long a window must be
-------------------------
NaN lookbacks (``resolve_features(spec).warmup``) are not enough: recursive indicators (EMA,
MACD, RSI and ATR with Wilder smoothing, ADX, SAR...) carry state from their first bar, and
their value on a bar depends, ever less, on where the data starts. The default window is
``WINDOW_FACTOR × (lookback + 1)`` bars per timeframe (at least ``MIN_WINDOW``), long enough
for an exponential memory of a few dozen periods to fade below 1e-12 in relative terms.
:meth:`LiveFeatures.calibrate` then checks it on the loaded history against the batch frame
(``build_features`` on all bars, what ``record`` and ``backtest`` compute) and doubles the
windows until the rows agree within ``rtol``; what remains is rounding (~1e-14, rolling sums
accumulate differently from different starts). An indicator whose value never stops
depending on the start (cumulative ones: OBV, A/D line) cannot be windowed: the window then
grows to the whole history and a warning says so.

Higher timeframes are resampled from the base bars of the window
(:func:`fuzzyvec.data.bars.resample`, as :func:`fuzzyvec.load_strategy_data` derives them), the
first — possibly partial — bucket dropped, so every higher-timeframe bar equals the batch one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from ..data.bars import resample
from ..features.frame import build_features, resolve_features
from ..model.predict import predict_proba
from ..strategy.grammar import Strategy
from ..timeframes import timeframe_seconds
from .store import BarsView, json_line

__all__ = ["MIN_WINDOW", "PREDICT_ROWS", "WINDOW_FACTOR", "LiveFeatures"]

log = logging.getLogger("fuzzyvec.live")

#: default window per timeframe: WINDOW_FACTOR × (NaN lookback + 1) bars, at least MIN_WINDOW
WINDOW_FACTOR = 50
MIN_WINDOW = 100
#: rows the network is run on per request (the last is the bar's)
PREDICT_ROWS = 16


def _single_symbol(spec: Strategy, symbol: str) -> Strategy:
    """The strategy narrowed to one symbol (features are computed per symbol anyway)."""
    from ..strategy.grammar import SingleSymbol

    td = spec.training_data.model_copy(update={"symbols": SingleSymbol.model_construct(mode="single", symbol=symbol)})
    return spec.model_copy(update={"training_data": td})


class LiveFeatures:
    """Feature rows and class probabilities of single bars from bounded windows.

    Parameters
    ----------
    spec:
        The strategy (usually the one stored in the bundle).
    bundle:
        The :class:`~fuzzyvec.model.bundle.ModelBundle`; its features must be the strategy's.
    windows:
        Bars per timeframe (default: ``WINDOW_FACTOR × (lookback + 1)``, at least ``MIN_WINDOW``).
    """

    def __init__(self, spec: Strategy, bundle: Any, *, windows: Mapping[str, int] | None = None) -> None:
        self.spec = spec
        self.bundle = bundle
        self.schema = resolve_features(spec)
        self.base = spec.base_timeframe
        base_s = timeframe_seconds(self.base)
        used = [tf for tf in spec.timeframes if any(f.timeframe == tf for f in self.schema.features)]
        self.ratio = {tf: timeframe_seconds(tf) // base_s for tf in used}
        self.lags = max((f.lag for f in self.schema.features), default=0)
        default = {tf: max(MIN_WINDOW, WINDOW_FACTOR * (self.schema.warmup.get(tf, 0) + 1)) for tf in used}
        self.windows: dict[str, int] = {**default, **(dict(windows) if windows else {})}
        #: True when no window agreed with the batch: every request then reads the whole history
        self.whole_history = False
        self._specs: dict[str, Strategy] = {}

    # -- windows ---------------------------------------------------------------------------

    @property
    def base_bars(self) -> int:
        """Base bars one request reads: the longest window, in base bars (+ lags, + one bucket)."""
        need = self.windows.get(self.base, 1) + self.lags
        for tf, r in self.ratio.items():
            if tf != self.base:
                need = max(need, (self.windows[tf] + 2) * r + self.lags)
        return int(need)

    def _spec_for(self, symbol: str) -> Strategy:
        if symbol not in self._specs:
            self._specs[symbol] = _single_symbol(self.spec, symbol)
        return self._specs[symbol]

    def window_data(self, view: BarsView, j: int, *, start: int | None = None) -> dict[str, pl.DataFrame]:
        """``{timeframe: bars}`` that the features of bar ``j`` are computed from.

        ``start`` overrides the first base bar (``0``: the whole history up to ``j``, the batch).
        """
        if start is None:
            start = 0 if self.whole_history else None
        first = max(0, j + 1 - self.base_bars) if start is None else start
        base = view.frame(first, j + 1)
        data: dict[str, pl.DataFrame] = {}
        for tf in self.ratio:
            if tf == self.base:
                keep = self.windows[tf] + self.lags
                data[tf] = base if start == 0 else base.tail(keep)
            else:
                bars = resample(base, tf, base_timeframe=self.base)
                if first > 0 and bars.height:
                    bars = bars.slice(1)  # the first bucket may miss bars before the window
                data[tf] = bars
        return data

    def features(self, symbol: str, view: BarsView, j: int, *, start: int | None = None) -> pl.DataFrame:
        """The feature frame computed from the window of bar ``j``; its last row is bar ``j``'s."""
        return build_features(self._spec_for(symbol), {symbol: self.window_data(view, j, start=start)})

    def probabilities(self, symbol: str, view: BarsView, j: int) -> np.ndarray:
        """Class probabilities (BUY, HOLD, SELL) of bar ``j``: NaN on warm-up bars.

        The network runs on the window's last :data:`PREDICT_ROWS` rows and bar ``j``'s row
        is kept: for a single row the BLAS takes a different path (matrix-vector) whose
        rounding differs from the batch's by ~1e-9, while from a few rows on each row's
        result is bitwise the batch's.
        """
        rows = self.features(symbol, view, j).tail(PREDICT_ROWS)
        return predict_proba(self.bundle, rows)[-1]

    # -- calibration -----------------------------------------------------------------------

    def calibrate(self, symbol: str, view: BarsView, *, rtol: float = 1e-9, probes: int = 3,
                  max_doublings: int = 8) -> dict[str, Any]:
        """Check the windows against the batch frame on ``view``'s history; double until equal.

        The batch frame (``build_features`` on every bar, as ``record`` computes it) is built
        once; at up to ``probes`` bars whose window starts after the first bar, the window
        row must equal the batch row within ``rtol`` (relative to ``max(1, |value|)``; NaN
        where the batch is NaN).

        Returns
        -------
        dict
            ``windows`` (bars per timeframe), ``base_bars``, ``checked`` (bars compared; 0
            when the history is shorter than the windows, so requests read all of it),
            ``max_difference`` (largest scaled difference seen with the final windows) and
            ``converged`` (False when even the longest window tried differed: requests then
            read the whole history, :attr:`whole_history`).
        """
        n = len(view)
        names = list(self.schema.names)
        if n < 2:
            return {"windows": dict(self.windows), "base_bars": self.base_bars, "checked": 0,
                    "max_difference": 0.0, "converged": True}
        batch = self.features(symbol, view, n - 1, start=0).select(names).to_numpy()
        worst = 0.0
        for attempt in range(max_doublings + 1):
            need = self.base_bars
            js = sorted({int(j) for j in np.linspace(n - 1, n // 2, num=max(1, probes)) if j + 1 - need > 0})
            if not js:  # the windows cover the history: nothing to compare them with
                if attempt == 0:
                    return {"windows": dict(self.windows), "base_bars": need, "checked": 0,
                            "max_difference": 0.0, "converged": True}
                break  # grown past the history without agreeing
            worst = 0.0
            for j in js:
                row = self.features(symbol, view, j).select(names).tail(1).to_numpy()[0]
                ref = batch[j]
                if not np.array_equal(np.isnan(row), np.isnan(ref)):
                    worst = np.inf
                    break
                ok = ~np.isnan(ref)
                if ok.any():
                    worst = max(worst, float(np.max(np.abs(row[ok] - ref[ok]) / np.maximum(1.0, np.abs(ref[ok])))))
            if worst <= rtol:
                return {"windows": dict(self.windows), "base_bars": need, "checked": len(js),
                        "max_difference": worst, "converged": True}
            self.windows = {tf: 2 * w for tf, w in self.windows.items()}
        # never agreed: serve from the whole history (correct, but the cost grows with it)
        self.whole_history = True
        log.warning(json_line(event="window_not_converged", symbol=symbol, max_difference=worst,
                              reason="a feature still depends on where the history starts (a cumulative "
                                     "indicator such as obv or adline?); requests read the whole history"))
        return {"windows": dict(self.windows), "base_bars": n, "checked": 0,
                "max_difference": worst, "converged": False}
