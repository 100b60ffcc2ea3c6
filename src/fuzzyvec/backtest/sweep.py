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

Memory budget (SPEC §13). One simulation holds several (bars × combinations) arrays at once,
so a grid larger than ``max_memory`` is split into column chunks: consecutive runs of
combinations, each ONE vectorbt simulation, optionally run on an executor
(:mod:`fuzzyvec.research.executors`), their tables concatenated in combination order. Every column of a
vectorbt simulation is independent of the others, so the table of a chunked sweep is identical
to the unchunked one. The estimate (:func:`sweep_memory`) is

    bytes ≈ FIXED_BYTES_PER_BAR × bars + BYTES_PER_BAR_COMBINATION × bars × combinations

with ``BYTES_PER_BAR_COMBINATION`` covering what a combination (two legs, long and short)
touches at the peak: the leg signals (entries and exits, 1 byte per leg each; the call
sequence, 8 bytes per leg), the close per leg (ours, vectorbt's writeable broadcast copy and
its pandas wrap, 8 bytes per leg each) and vectorbt's placeholder frame of the same shape.
The stats need no (bars × combinations) arrays (:func:`fuzzyvec.nb.backtest.portfolio_stats_nb`
walks the order records). It is measured, not derived: the peak proportional set size above
the process's start was 106-110 bytes per bar and combination for 50 to 400 combinations in
one process, and 127 in the workers of a pool (52 to 225 combinations per chunk), over the
104,816 bars of the bundled BTCUSDT year; the constant covers the larger
(``benchmarks/bench_scale.py`` prints the estimate next to the measured peak). A sweep on a
process pool also pays the libraries of its fork server and of each worker
(:data:`WORKER_BYTES` each), so the budget a chunk gets is what is left after them, divided
among the workers.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ..errors import StrategyError
from ..strategy.config import BacktestConfig, DecisionConfig
from .engine import (
    Columns,
    bar_frequency,
    mask_direction,
    ohlc_arrays,
    resolve_backtest_config,
    simulate,
    stats_frame,
)

__all__ = [
    "BYTES_PER_BAR_COMBINATION",
    "FIXED_BYTES_PER_BAR",
    "SWEEP_KEYS",
    "SWEEP_METRICS",
    "WORKER_BYTES",
    "SweepResult",
    "default_memory_budget",
    "parse_memory",
    "plan_chunks",
    "sweep",
    "sweep_memory",
]

#: ``backtest:`` keys a grid may sweep (besides ``confidence_threshold``). ``direction`` is
#: excluded (it changes the decisions themselves), as are ``freq``/``bars_per_year``
#: (annualisation is one per table).
SWEEP_KEYS = ("init_cash", "fees", "slippage", "size", "sl_stop", "tp_stop", "sl_trail", "execution")

#: Metric columns of :attr:`SweepResult.table` (definitions: :class:`fuzzyvec.backtest.engine.BacktestResult`).
SWEEP_METRICS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                 "profit_factor", "expectancy", "trades", "exposure", "fees_paid", "final_equity")

_AGGS = ("max", "min", "mean", "median")

#: Estimated peak bytes per bar and combination of one simulation plus its stats (see the
#: module docstring; calibrated on the bundled BTCUSDT year).
BYTES_PER_BAR_COMBINATION = 130
#: Estimated bytes per bar independent of the grid: OHLC, timestamps, probabilities, the
#: positions of every threshold and vectorbt's index objects.
FIXED_BYTES_PER_BAR = 200
#: Memory of one process of a pool before its first chunk: its share of the libraries (numpy,
#: polars, torch, vectorbt) imported by the pool's fork server. A pool of ``w`` workers is
#: ``w + 1`` such processes (the fork server and its workers together: ~750 MiB proportional set
#: size for two workers on this machine, 3 × 400 MiB budgeted).
WORKER_BYTES = 400 * 2**20


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
        combinations ``0 .. n-1``, each a ``long``/``short`` leg pair. None when the sweep ran
        in several chunks (keeping every chunk's portfolio would defeat the memory budget).
    grid:
        The grid as swept: ``{key: [values]}``.
    chunks:
        How many simulations the grid was split into (1: the whole grid in one).
    """

    table: pl.DataFrame
    portfolio: Any
    grid: dict[str, list[Any]]
    chunks: int = 1

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


def sweep_memory(bars: int, combinations: int) -> int:
    """Estimated peak bytes of ONE simulation of ``combinations`` columns over ``bars`` bars."""
    return FIXED_BYTES_PER_BAR * bars + BYTES_PER_BAR_COMBINATION * bars * combinations


def plan_chunks(bars: int, combinations: int, max_memory: int, *, parallel: int = 1) -> list[tuple[int, int]]:
    """Split combinations ``0 .. combinations-1`` into ``[start, stop)`` chunks that fit the budget.

    ``parallel`` chunks may be in memory at once (one per worker process of a pool, which also
    has a fork server), so each gets ``(max_memory - (parallel + 1) × WORKER_BYTES) / parallel``
    (``parallel=1``: this process, all of ``max_memory``). A chunk has at least one
    combination, even when one combination alone is over the budget.
    """
    workers = max(1, parallel)
    usable = max_memory - ((workers + 1) * WORKER_BYTES if workers > 1 else 0)
    per_chunk = usable // workers - FIXED_BYTES_PER_BAR * bars
    size = max(1, per_chunk // max(1, BYTES_PER_BAR_COMBINATION * bars))
    size = min(size, combinations)
    n_chunks = -(-combinations // size)
    size = -(-combinations // n_chunks)  # even chunks: 10 combinations in 3 chunks -> 4, 4, 2 (not 9, 1)
    return [(a, min(a + size, combinations)) for a in range(0, combinations, size)]


@dataclass(frozen=True)
class _SweepInputs:
    """What every chunk reads (shipped to each worker once)."""

    index: np.ndarray
    ohlc: dict[str, np.ndarray]
    positions: np.ndarray  # (n, thresholds) after the direction mask
    thr_col: np.ndarray  # threshold column of each combination
    configs: list[BacktestConfig]
    freq: Any
    bars_per_year: float | None


def _simulate(inp: _SweepInputs, start: int, stop: int) -> tuple[pl.DataFrame, Any]:
    """One vectorbt simulation of combinations ``start .. stop-1``: (stats frame, portfolio)."""
    cols = Columns.from_configs(inp.configs[start:stop], list(range(start, stop)), "combination")
    positions = np.ascontiguousarray(inp.positions[:, inp.thr_col[start:stop]])
    pf, _ = simulate(inp.ohlc, inp.index, positions, cols, inp.freq)
    return stats_frame(pf, inp.ohlc, inp.index, cols, inp.freq, inp.bars_per_year), pf


def _sweep_chunk(inp: _SweepInputs, chunk: tuple[int, int]) -> pl.DataFrame:
    """Executor task: the stats of one chunk (its portfolio is dropped in the worker)."""
    import gc

    stats, pf = _simulate(inp, *chunk)
    del pf
    gc.collect()  # vectorbt's portfolio sits in reference cycles: free its arrays before the next chunk
    return stats


def _map_chunks(executor: Any, chunks: list[tuple[int, int]], inputs: _SweepInputs) -> Any:
    """The chunk tables in order: in this process, or on an executor with
    ``map(fn, items, *, shared)`` (:mod:`fuzzyvec.research.executors`)."""
    if executor is None:
        return (_sweep_chunk(inputs, c) for c in chunks)
    return executor.map(_sweep_chunk, chunks, shared=inputs)


def sweep(bars: pl.DataFrame, probs: np.ndarray, decisions: DecisionConfig | Any,
          backtest: BacktestConfig | Mapping[str, Any] | None, grid: Mapping[str, Sequence[Any]], *,
          timeframe: str | None = None, max_memory: int | str | None = None, executor: Any = None,
          on_chunk: Callable[[int], None] | None = None) -> SweepResult:
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
    max_memory:
        Memory budget in bytes or as text (``"4GB"``, ``"500MB"``); default a quarter of this
        machine's RAM. A grid whose estimate (:func:`sweep_memory`) is larger runs as several
        simulations of consecutive combinations; the table is the same.
    executor:
        Runs the chunks (:mod:`fuzzyvec.research.executors`; default: this process, one after the
        other). With ``w`` worker processes each chunk gets ``(max_memory - (w + 1) × WORKER_BYTES) / w``.
    on_chunk:
        Called with the number of combinations of each finished chunk (progress bars).

    Returns
    -------
    SweepResult

    Raises
    ------
    StrategyError
        A grid key that cannot be swept, or a combination that is not a valid config
        (e.g. ``sl_trail: true`` without ``sl_stop``).
    ValueError
        ``probs`` of the wrong shape, or a ``max_memory`` that is not a memory size.
    """
    from .decision import decide

    budget = default_memory_budget() if max_memory is None else parse_memory(max_memory)
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
    inputs = _SweepInputs(index, ohlc, mask_direction(pos_by_thr, base.direction), thr_col, configs,
                          bar_frequency(index, base.freq, timeframe), base.bars_per_year)
    workers = getattr(executor, "workers", 1) if executor is not None else 1
    chunks = plan_chunks(len(index), len(combos), budget, parallel=workers)
    portfolio = None
    if len(chunks) == 1:
        stats, portfolio = _simulate(inputs, 0, len(combos))
        if on_chunk is not None:
            on_chunk(len(combos))
    else:
        parts = []
        for (a, b), part in zip(chunks, _map_chunks(executor, chunks, inputs), strict=True):
            parts.append(part)
            if on_chunk is not None:
                on_chunk(b - a)
        stats = pl.concat(parts, how="vertical")
    params_frame = pl.DataFrame({k: [c[i] for c in combos] for i, k in enumerate(keys)}, strict=False)
    table = pl.concat([stats.select("combination"), params_frame, stats.select(SWEEP_METRICS)], how="horizontal")
    return SweepResult(table=table, portfolio=portfolio, grid=grid, chunks=len(chunks))


# ---------------------------------------------------------------------------------------------
# memory sizes
# ---------------------------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_memory(value: str | int | float) -> int:
    """Bytes from ``"4GB"``, ``"500MB"``, ``"1.5G"``, ``"64KiB"`` or a number of bytes.

    Units are binary (1 GB = 1024³ bytes), case-insensitive; ``B`` and the ``i`` are optional.

    Raises
    ------
    ValueError
        Not a positive size, or an unknown unit.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        m = _MEMORY_RE.match(str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"expected a memory size such as 4GB or 500MB, got {value!r}")
        number, unit = float(m.group(1)), m.group(2).lower()
    size = number * _UNITS[unit]
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"expected a positive memory size, got {value!r}")
    return int(size)


def total_memory() -> int:
    """Physical memory of this machine in bytes (8 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 8 * 1024**3


def default_memory_budget() -> int:
    """The default ``max_memory`` of a sweep: a quarter of this machine's physical memory."""
    return total_memory() // 4
