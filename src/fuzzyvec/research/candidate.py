"""One search candidate: validate, look-ahead-check, walk-forward and score it.

The task every search algorithm runs (:func:`fuzzyvec.research.search.search` on an executor,
:mod:`fuzzyvec.research.tune` as a Ray Tune trial), kept apart from both so neither imports the
other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FuzzyvecError, StrategyError
from .space import apply_overrides

__all__ = ["OOS_COLUMNS", "CandidateInputs", "evaluate_candidate"]

OOS_COLUMNS = ("oos_total_return", "oos_cagr", "oos_sharpe", "oos_calmar", "oos_max_drawdown")


@dataclass(frozen=True)
class CandidateInputs:
    """What every candidate task reads (sent to each worker once)."""

    base: dict[str, Any]
    source: str
    data: Any  # {symbol: {timeframe: bars}}
    objective: str
    lookahead_cuts: int




def _score(metrics: Mapping[str, Mapping[str, Any]], key: str) -> float | None:
    vals = [m.get(key) for m in metrics.values()]
    if not vals or any(v is None or not math.isfinite(v) for v in vals):
        return None
    return float(sum(vals) / len(vals))


def _return_stats(equity: Any, init_cash: float, blocks: int = 16) -> dict[str, Any] | None:
    """Per-bar moments and 16-block sums of the stitched out-of-sample returns (averaged over
    symbols): what the deflated Sharpe ratio and the PBO across candidates need."""
    import numpy as np

    from ..backtest.significance import block_stats, return_moments

    cols = [c for c in equity.columns if c not in ("timestamp", "fold")]
    if not cols or equity.height < 2 * blocks:
        return None
    values = equity.select(cols).to_numpy()
    prev = np.vstack([np.full((1, len(cols)), init_cash), values[:-1]])
    r = (values / prev - 1.0).mean(axis=1)
    if not np.isfinite(r).all():
        return None
    sr, n, skew, kurt = return_moments(r)
    count, s1, s2 = block_stats(r, blocks)
    return {"sr": float(sr), "n": int(n), "skew": float(skew), "kurtosis": float(kurt),
            "count": count.tolist(), "s1": s1.tolist(), "s2": s2.tolist()}


def evaluate_candidate(inp: CandidateInputs, item: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    """Executor task: validate, look-ahead-check, walk-forward and score one candidate."""
    from ..strategy.load import strategy_from_dict
    from .lookahead import check_lookahead
    from .walkforward import walk_forward

    trial, overrides = item
    row: dict[str, Any] = {"trial": trial, "status": "ok", "objective": None, **dict.fromkeys(OOS_COLUMNS),
                           "folds": None, "error": None}
    raw = apply_overrides(inp.base, overrides)
    try:
        spec = strategy_from_dict(raw, source=f"{inp.source} (trial {trial})")
    except StrategyError as exc:
        return {**row, "status": "invalid", "error": str(exc)}
    try:
        report = check_lookahead(spec, inp.data, cuts=inp.lookahead_cuts)
        if not report.clean:
            cols = sorted({r["column"] for r in report.offending})
            return {**row, "status": "lookahead", "error": f"features change when future bars are removed: {cols}"}
        wf = walk_forward(spec, inp.data, n_random=0, n_boot=0)  # scored by its objective only
    except FuzzyvecError as exc:
        return {**row, "status": "error", "error": str(exc)}
    except (ArithmeticError, RuntimeError, ValueError) as exc:  # e.g. a candidate whose training diverges
        return {**row, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
    oos = wf.metrics["out_of_sample"]
    row.update({c: _score(oos, c.removeprefix("oos_")) for c in OOS_COLUMNS})
    row["_returns"] = _return_stats(wf.equity, spec.backtest.init_cash)
    row["objective"] = row[inp.objective]
    row["folds"] = wf.metrics["folds"]
    if row["objective"] is None:
        row.update(status="unscored", error=f"{inp.objective} is undefined for this candidate's out-of-sample "
                                            "equity (a flat curve: no trades)")
    return row
