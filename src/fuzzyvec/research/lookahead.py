"""Look-ahead check: features computed from data up to bar ``t`` must equal the full run's row ``t``.

``check_lookahead`` recomputes the feature frame on data truncated at several cut points (as a
live system would have seen it, :func:`fuzzyvec.data.bars.truncate_data`) and compares every past
row with the full computation. Any column whose past rows change used the future.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..data.files import load_strategy_data, truncate_data
from ..features.frame import build_features, resolve_features
from ..strategy.grammar import Strategy

__all__ = ["LookaheadReport", "check_lookahead"]


@dataclass(frozen=True)
class LookaheadReport:
    """Result of :func:`check_lookahead`.

    Attributes
    ----------
    cuts:
        The base-bar open times at which the data was truncated.
    offending:
        One row per (symbol, column) whose past values changed: first changed timestamp,
        number of changed cells and the largest absolute difference (``inf`` when a NaN
        appeared or disappeared).
    columns_checked, rows_checked:
        How much was compared.
    """

    cuts: tuple[str, ...]
    offending: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    columns_checked: int = 0
    rows_checked: int = 0

    @property
    def clean(self) -> bool:
        return not self.offending

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "cuts": list(self.cuts), "columns_checked": self.columns_checked,
                "rows_checked": self.rows_checked, "offending": list(self.offending)}

    def table(self) -> pl.DataFrame:
        """Offending columns as a polars frame (empty when clean)."""
        schema = {"symbol": pl.String, "column": pl.String, "first_changed": pl.String,
                  "changed_cells": pl.Int64, "max_abs_diff": pl.Float64}
        return pl.DataFrame(list(self.offending), schema=schema)


def _cut_points(ts: pl.Series, cuts: int, skip: int) -> list[Any]:
    n = ts.len()
    lo = min(max(skip + 1, n // 10), n - 1)
    idx = np.unique(np.linspace(lo, n - 2, num=max(cuts, 1)).astype(int)) if n > 2 else np.array([n - 1])
    return [ts[int(i)] for i in idx if 0 <= i < n]


def _diff(full: np.ndarray, part: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    nan_f, nan_p = np.isnan(full), np.isnan(part)
    both = ~nan_f & ~nan_p
    bad = nan_f != nan_p
    delta = np.where(both, np.abs(full - part), 0.0)
    bad |= both & (delta > tol * np.maximum(1.0, np.abs(full)))
    delta = np.where(nan_f != nan_p, np.inf, delta)
    return bad, delta


def check_lookahead(
    spec: Strategy | Any,
    data: Mapping[str, Mapping[str, pl.DataFrame]] | None = None,
    *,
    cuts: int = 5,
    data_dir: Any = None,
    start: Any = None,
    end: Any = None,
    tolerance: float = 1e-12,
) -> LookaheadReport:
    """Recompute features on truncated data and report every column whose past rows change.

    Parameters
    ----------
    spec:
        The strategy (or a path).
    data:
        ``{symbol: {timeframe: bars}}``; loaded with :func:`load_strategy_data` when omitted.
    cuts:
        Number of cut points, spread over the data after the warm-up.
    tolerance:
        Relative tolerance (``|a - b| <= tol * max(1, |a|)``); NaN must match NaN exactly.

    Returns
    -------
    LookaheadReport
        ``report.clean`` is True when no past value changed at any cut.
    """
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    if data is None:
        data = load_strategy_data(spec, data_dir=data_dir, start=start, end=end)
    schema = resolve_features(spec)
    names = list(schema.names)
    full = build_features(spec, data)
    base_tf = spec.base_timeframe
    first_sym = next(iter(data))
    cut_ts = _cut_points(data[first_sym][base_tf]["timestamp"], cuts, schema.warmup_base_bars)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    rows = 0
    for cut in cut_ts:
        part = build_features(spec, truncate_data(data, base_tf, cut))
        for sym in data:
            if "symbol" in full.columns:
                f_sym = full.filter(pl.col("symbol") == sym)
                p_sym = part.filter(pl.col("symbol") == sym)
            else:
                f_sym, p_sym = full, part
            f_rows = f_sym.filter(pl.col("timestamp") <= cut)
            if p_sym.height != f_rows.height:
                found.setdefault((sym, "timestamp"), {
                    "symbol": sym, "column": "timestamp", "first_changed": str(cut),
                    "changed_cells": abs(p_sym.height - f_rows.height), "max_abs_diff": float("inf")})
                continue
            rows += p_sym.height
            if not names:
                continue
            a = f_rows.select(names).to_numpy()
            b = p_sym.select(names).to_numpy()
            bad, delta = _diff(a, b, tolerance)
            for j in np.flatnonzero(bad.any(axis=0)):
                col = names[j]
                first = int(np.flatnonzero(bad[:, j])[0])
                rec = found.get((sym, col))
                cells = int(bad[:, j].sum())
                worst = float(delta[:, j][bad[:, j]].max())
                ts = str(f_rows["timestamp"][first])
                if rec is None:
                    found[(sym, col)] = {"symbol": sym, "column": col, "first_changed": ts,
                                         "changed_cells": cells, "max_abs_diff": worst}
                else:
                    rec["changed_cells"] += cells
                    rec["max_abs_diff"] = max(rec["max_abs_diff"], worst)
                    rec["first_changed"] = min(rec["first_changed"], ts)
    order = {n: i for i, n in enumerate(names)}
    offending = tuple(sorted(found.values(), key=lambda r: (r["symbol"], order.get(r["column"], -1))))
    return LookaheadReport(tuple(str(c) for c in cut_ts), offending, len(names), rows)
