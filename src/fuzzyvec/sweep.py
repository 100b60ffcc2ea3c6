"""Parameter sweeps (SPEC §7): a grid of decision and backtest parameters as ONE simulation.

``sweep(bars, probs, decisions, backtest, grid)`` runs the full cartesian product of ``grid``
as columns of a single vectorbt ``Portfolio.from_signals`` call:

- the positions of every ``confidence_threshold`` come from ONE :func:`fuzzyvec.decide`
  call with the vector of thresholds (one column per threshold);
- every other grid key is a per-column parameter array broadcast by vectorbt (fees,
  slippage, size, stops, init cash, execution);
- no Python loop calls vectorbt per combination.

Each combination is simulated exactly as :func:`fuzzyvec.backtest` simulates one symbol
with that combination's config (same columns layout, same rules), so a row of the table
equals a separate ``backtest`` run with those parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .backtest import (
    Columns,
    bar_frequency,
    mask_direction,
    ohlc_arrays,
    resolve_backtest_config,
    simulate,
    stats_frame,
)
from .config import BacktestConfig, DecisionConfig
from .errors import StrategyError

__all__ = ["SWEEP_KEYS", "SWEEP_METRICS", "SweepResult", "sweep"]

#: ``backtest:`` keys a grid may sweep (besides ``confidence_threshold``). ``direction`` is
#: excluded (it changes the decisions themselves), as are ``freq``/``bars_per_year``
#: (annualisation is one per table).
SWEEP_KEYS = ("init_cash", "fees", "slippage", "size", "sl_stop", "tp_stop", "sl_trail", "execution")

#: Metric columns of :attr:`SweepResult.table` (definitions: :class:`fuzzyvec.backtest.BacktestResult`).
SWEEP_METRICS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                 "profit_factor", "expectancy", "trades", "exposure", "fees_paid", "final_equity")

_AGGS = ("max", "min", "mean", "median")


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns.

    Attributes
    ----------
    table:
        Tidy polars frame, one row per combination: ``combination`` (the portfolio's group
        label), the grid keys (in grid order; ``None`` stops are nulls), then
        :data:`SWEEP_METRICS`.
    portfolio:
        The single vectorbt portfolio; its groups (``portfolio.wrapper.get_columns()``) are the
        combinations ``0 .. n-1``, each a ``long``/``short`` leg pair.
    grid:
        The grid as swept: ``{key: [values]}``.
    """

    table: pl.DataFrame
    portfolio: Any
    grid: dict[str, list[Any]]

    def heatmap(self, x: str, y: str, metric: str = "sharpe", *, agg: str = "max") -> Any:
        """A plotly heatmap of ``metric`` over the grid keys ``x`` and ``y``.

        Other grid dimensions (if any) are aggregated per (x, y) cell with ``agg``
        (``max`` by default: the best value over the other parameters; also ``min``,
        ``mean``, ``median``); NaN results are ignored. Axes are categorical, in grid order.

        Returns
        -------
        plotly.graph_objects.Figure
        """
        import plotly.graph_objects as go

        for key in (x, y):
            if key not in self.grid:
                raise ValueError(f"heatmap axis {key!r} is not a grid key; grid keys: {list(self.grid)}")
        if x == y:
            raise ValueError(f"heatmap needs two different grid keys, got x == y == {x!r}")
        if metric not in self.table.columns or metric in self.grid or metric == "combination":
            raise ValueError(f"unknown metric {metric!r}; choose one of {list(SWEEP_METRICS)}")
        if agg not in _AGGS:
            raise ValueError(f"agg must be one of {list(_AGGS)}, got {agg!r}")
        value = pl.col(metric).cast(pl.Float64).fill_nan(None)
        cells = self.table.group_by([x, y]).agg(getattr(value, agg)().alias(metric))
        lookup = {(r[x], r[y]): r[metric] for r in cells.iter_rows(named=True)}
        xs, ys = _unique(self.grid[x]), _unique(self.grid[y])
        z = [[lookup.get((xv, yv)) for xv in xs] for yv in ys]
        others = [k for k in self.grid if k not in (x, y) and len(_unique(self.grid[k])) > 1]
        title = metric + (f" ({agg} over {', '.join(others)})" if others else "")
        fig = go.Figure(go.Heatmap(z=z, x=[_label(v) for v in xs], y=[_label(v) for v in ys],
                                   colorbar={"title": {"text": metric}},
                                   hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z}}<extra></extra>"))
        fig.update_layout(title={"text": title}, xaxis={"title": {"text": x}, "type": "category"},
                          yaxis={"title": {"text": y}, "type": "category"})
        return fig


def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _label(v: Any) -> Any:
    return "none" if v is None else v


def _grid(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise StrategyError("sweep grid must be a non-empty mapping {key: [values]}")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if key != "confidence_threshold" and key not in SWEEP_KEYS:
            raise StrategyError(f"grid.{key}: cannot be swept; sweepable keys: "
                                f"{['confidence_threshold', *SWEEP_KEYS]}")
        vals = list(values) if isinstance(values, list | tuple | np.ndarray) else [values]
        if not vals:
            raise StrategyError(f"grid.{key}: expected a non-empty list of values")
        out[key] = [v.item() if isinstance(v, np.generic) else v for v in vals]
    return out


def _decisions(decisions: DecisionConfig | Any) -> DecisionConfig:
    if isinstance(decisions, DecisionConfig):
        return decisions
    if hasattr(decisions, "decisions"):
        return decisions.decisions
    return DecisionConfig.model_validate(decisions)


def sweep(bars: pl.DataFrame, probs: np.ndarray, decisions: DecisionConfig | Any,
          backtest: BacktestConfig | Mapping[str, Any] | None, grid: Mapping[str, Sequence[Any]], *,
          timeframe: str | None = None) -> SweepResult:
    """Backtest every combination of ``grid`` as the columns of one vectorbt simulation.

    Parameters
    ----------
    bars:
        One symbol's bar frame.
    probs:
        (n, 3) class probabilities (BUY, HOLD, SELL), one row per bar.
    decisions:
        The ``decisions:`` section (or a strategy); ``confidence_threshold`` is the default
        when the grid does not sweep it.
    backtest:
        The ``backtest:`` section (None: defaults); grid values replace its fields per
        combination.
    grid:
        ``{key: [values]}`` over ``confidence_threshold`` and :data:`SWEEP_KEYS`; the full
        cartesian product is run, combinations numbered in ``itertools.product`` order.
    timeframe:
        The bars' timeframe, for annualisation (see :func:`fuzzyvec.backtest`).

    Returns
    -------
    SweepResult

    Raises
    ------
    StrategyError
        A grid key that cannot be swept, or a combination that is not a valid config
        (e.g. ``sl_trail: true`` without ``sl_stop``).
    """
    from .decision import decide

    base = resolve_backtest_config(backtest)
    dec = _decisions(decisions)
    grid = _grid(grid)
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys)))
    thresholds = _unique(grid.get("confidence_threshold", [dec.confidence_threshold]))
    thr_col = np.empty(len(combos), dtype=np.int64)
    configs: list[BacktestConfig] = []
    for j, combo in enumerate(combos):
        params = dict(zip(keys, combo, strict=True))
        thr_col[j] = thresholds.index(params.pop("confidence_threshold", dec.confidence_threshold))
        try:
            configs.append(resolve_backtest_config(base, params))
        except StrategyError as exc:
            raise StrategyError(f"grid combination {params}: {exc}") from None

    index, ohlc = ohlc_arrays({"asset": bars})
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(index), 3):
        raise ValueError(f"probs must have shape (n_bars, 3) = ({len(index)}, 3), got {p.shape}")
    # ONE decision call: one column of positions per threshold
    pos_by_thr = decide(p, dec, confidence_threshold=np.asarray(thresholds, dtype=np.float64),
                        allow_short=base.direction != "longonly")
    positions = mask_direction(pos_by_thr[:, thr_col], base.direction)
    freq = bar_frequency(index, base.freq, timeframe)
    cols = Columns.from_configs(configs, list(range(len(combos))), "combination")
    pf, _ = simulate(ohlc, index, positions, cols, freq)
    stats = stats_frame(pf, ohlc, index, cols, freq, base.bars_per_year)
    params_frame = pl.DataFrame({k: [c[i] for c in combos] for i, k in enumerate(keys)}, strict=False)
    table = pl.concat([stats.select("combination"), params_frame, stats.select(SWEEP_METRICS)], how="horizontal")
    return SweepResult(table=table, portfolio=pf, grid=grid)
