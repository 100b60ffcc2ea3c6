"""Warm-up check: how many bars recursive indicators need before their values stop depending on
where the data starts.

Indicators such as EMA, RSI (Wilder smoothing), ATR, ADX, MACD or Parabolic SAR carry state
from the first bar on: their value on a given bar differs depending on how much history was
loaded before it. ``warmup_check`` computes each indicator of a strategy on its real bars from
several start offsets and counts the bars after the start until the values agree with the
full-history values within a tolerance. ``history_required`` should be at least that long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from ..strategy.grammar import Strategy
from ..strategy.registry import get_indicator_spec

__all__ = ["convergence_bars", "warmup_check", "warmup_warnings"]


def convergence_bars(full: np.ndarray, part: np.ndarray, *, tolerance: float, scale: float) -> int | None:
    """Rows of ``part`` (computed from a later start) until it agrees with ``full`` for good.

    ``full`` and ``part`` cover the same bars. Agreement: both NaN, or
    ``|a - b| <= tolerance * scale``. Returns None if they never agree up to the end.
    """
    n = len(part)
    if n == 0:
        return 0
    nan_f, nan_p = np.isnan(full), np.isnan(part)
    close = (nan_f & nan_p) | (~nan_f & ~nan_p & (np.abs(np.where(nan_f | nan_p, 0.0, full - part))
                                                  <= tolerance * scale))
    bad = np.flatnonzero(~close)
    if bad.size == 0:
        return 0
    last = int(bad[-1])
    return None if last == n - 1 else last + 1


def _indicator_uses(spec: Strategy) -> dict[tuple[str, str], set[str]]:
    """{(indicator_id, timeframe): outputs used} reached by nn_inputs."""
    uses: dict[tuple[str, str], set[str]] = {}
    for item in spec.nn_inputs:
        ref = spec.fuzzy_sets[item.fuzzy_set].indicator if item.fuzzy_set else item.raw_indicator
        ind_id, _, out = (ref or "").partition(".")
        outputs = get_indicator_spec(spec.indicators[ind_id].type).outputs
        for tf in spec.input_timeframes(item):
            uses.setdefault((ind_id, tf), set()).add(out or outputs[0])
    return uses


def warmup_check(
    spec: Strategy,
    data: Mapping[str, Mapping[str, pl.DataFrame]],
    *,
    tolerance: float = 1e-6,
    offsets: int = 3,
    window: int = 5_000,
) -> list[dict[str, Any]]:
    """Bars each used indicator output needs before start-offset effects die out.

    Parameters
    ----------
    spec, data:
        The strategy and its bars (the first symbol's bars are used).
    tolerance:
        Relative to the output's typical size (median absolute value, at least 1e-12).
    offsets:
        Start offsets tried, spread over the data; the largest convergence is reported.
    window:
        Bars compared after each offset.

    Returns
    -------
    list of dict
        One row per (indicator output, timeframe): ``indicator``, ``output``, ``timeframe``,
        ``lookback`` (NaN rows), ``warmup_bars`` (bars to converge; None when it did not
        converge within ``window`` bars), ``history_required`` and ``ok``.
    """
    from .indicators import indicator_arrays

    sym = spec.symbols[0]
    hist = spec.training_data.history_required
    rows = []
    for (ind_id, tf), outs in _indicator_uses(spec).items():
        cfg = spec.indicators[ind_id]
        ispec = get_indicator_spec(cfg.type)
        bars = data[sym][tf]
        n = bars.height
        full = indicator_arrays(ispec, bars, cfg.params)
        lbs = ispec.lookbacks(cfg.params)
        starts = [int(s) for s in np.linspace(n // 4, n // 2, num=max(offsets, 1))] if n > 8 else []
        for out in ispec.outputs:
            if out not in outs:
                continue
            col = full[out]
            finite = np.abs(col[np.isfinite(col)])
            scale = max(float(np.median(finite)) if finite.size else 1.0, 1e-12)
            worst: int | None = 0
            for s in starts:
                stop = min(n, s + window)
                part = indicator_arrays(ispec, bars.slice(s, stop - s), cfg.params)[out]
                c = convergence_bars(col[s:stop], part, tolerance=tolerance, scale=scale)
                worst = None if (c is None or worst is None) else max(worst, c)
            label = ind_id if len(ispec.outputs) == 1 else f"{ind_id}.{out}"
            rows.append({
                "indicator": label, "type": cfg.type, "timeframe": tf, "lookback": lbs[out],
                "warmup_bars": worst, "history_required": hist,
                "ok": worst is not None and hist >= worst,
            })
    return rows


def warmup_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """Messages for indicators whose warm-up exceeds ``history_required``."""
    out = []
    for r in rows:
        if r["ok"]:
            continue
        need = f"{r['warmup_bars']}" if r["warmup_bars"] is not None else "more than the compared"
        out.append(
            f"training_data.history_required: {r['history_required']} bars is shorter than the "
            f"{need} {r['timeframe']} bars {r['indicator']} ({r['type']}) needs before its values stop "
            f"depending on where the data starts; raise history_required to at least {need}"
        )
    return out
