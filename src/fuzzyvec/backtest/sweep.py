"""Parameter sweeps (SPEC §7): a grid of decision and backtest parameters as ONE engine call.

``sweep(bars, probs, decisions, backtest, grid)`` runs the full cartesian product of ``grid``
as the columns of one call of the engine kernel (:func:`fuzzyvec.nb.engine.simulate_nb`),
parallel over combinations:

- the positions of every ``confidence_threshold`` come from ONE :func:`fuzzyvec.decide`
  call with the vector of thresholds (one column per threshold); each combination reads its
  threshold's column;
- every other grid key is a per-column parameter (fees, slippage, size, stops, init cash,
  execution);
- each combination's metrics accumulate inside the kernel's loop: no (bars × combinations)
  array exists at any time, and nothing is built per combination in Python.

Each combination is simulated exactly as :func:`fuzzyvec.backtest` simulates one symbol with
that combination's config, so a row of the table equals a separate ``backtest`` run with those
parameters. ``keep="top:K"`` re-simulates the best ``K`` rows with full records
(:attr:`SweepResult.top`: their stats, trades, equity and vectorbt portfolios), and
:meth:`SweepResult.backtest` does it for any combination.

Memory budget (SPEC §13). What a sweep holds is ``FIXED_BYTES_PER_BAR × bars`` (the OHLC
arrays, the probabilities and the positions of each threshold) plus
``BYTES_PER_COMBINATION × combinations`` (the per-combination parameters, metrics, per-block
return sums and the table row). A grid over ``max_memory`` runs as consecutive chunks of
combinations (optionally on an executor, :mod:`fuzzyvec.research.executors`), each one kernel
call; columns are independent, so the table of a chunked sweep is identical to the unchunked
one. On a process pool the budget first pays for the pool's processes (:data:`WORKER_BYTES`
each, the fork server included).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import StrategyError
from ..strategy.config import BacktestConfig, DecisionConfig
from .engine import (
    BacktestResult,
    Columns,
    ann_factor,
    backtest,
    bar_frequency,
    mask_direction,
    ohlc_arrays,
    resolve_backtest_config,
    run_engine,
)

__all__ = [
    "BYTES_PER_COMBINATION",
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

#: Bytes per combination: parameters (~12 × 8 B), kernel metrics (24 × 8 B), per-block return
#: sums (16 blocks × 2 × 8 B), the table row and the polars/numpy copies made while building it
#: (measured on the bundled BTCUSDT year: ``benchmarks/bench_scale.py`` prints the estimate
#: next to the measured peak).
BYTES_PER_COMBINATION = 2048
#: Bytes per bar independent of the grid: OHLC (4 × 8 B), probabilities (3 × 8 B), timestamps,
#: the decided positions of the thresholds and the direction mask.
FIXED_BYTES_PER_BAR = 128
#: Memory of one process of a pool before its first chunk (numpy, polars and fuzzyvec's kernels);
#: a pool of ``w`` workers is ``w + 1`` such processes (its fork server too).
WORKER_BYTES = 200 * 2**20
#: Contiguous blocks of bars whose return sums each combination keeps (the probability of
#: backtest overfitting, SPEC §15, is computed from them).
PBO_BLOCKS = 16


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns.

    Attributes
    ----------
    table:
        Tidy polars frame, one row per combination: ``combination`` (0 .. n-1 in
        ``itertools.product`` order of the grid), the grid keys (in grid order; ``None`` stops
        are nulls), then :data:`SWEEP_METRICS` and ``dsr``: the deflated Sharpe ratio of the
        combination, the probability that its Sharpe ratio is real after trying all of them
        (Bailey & López de Prado 2014; > 0.95 is significant at 5 %).
    grid:
        The grid as swept: ``{key: [values]}``.
    chunks:
        How many kernel calls the grid was split into (1: the whole grid in one).
    top:
        ``{combination: BacktestResult}`` of the rows kept with ``keep="top:K"`` (best first by
        ``rank_by``); empty otherwise.
    block_returns:
        (combinations, blocks, 3) per-block count, sum and sum of squares of each
        combination's per-bar returns (the input of the probability of backtest overfitting).
    pbo:
        The probability of backtest overfitting of the grid by combinatorially symmetric
        cross-validation over 16 blocks of bars (:class:`~fuzzyvec.backtest.significance.PBOResult`;
        Bailey, Borwein, López de Prado & Zhu 2015), or None (fewer than two combinations whose
        returns vary, or fewer than 32 bars).
    """

    table: pl.DataFrame
    grid: dict[str, list[Any]]
    chunks: int = 1
    top: dict[int, BacktestResult] = field(default_factory=dict)
    block_returns: np.ndarray | None = field(default=None, repr=False)
    pbo: Any = None
    _inputs: Any = field(default=None, repr=False, compare=False)

    def config(self, combination: int) -> BacktestConfig:
        """The backtest config of one combination (its grid values set on the base)."""
        return self._inputs.config(combination)

    def backtest(self, combination: int) -> BacktestResult:
        """Re-simulate one combination with full records (stats, trades, equity, portfolio)."""
        return self._inputs.backtest(combination)

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
    """Estimated peak bytes of a sweep of ``combinations`` columns over ``bars`` bars."""
    return FIXED_BYTES_PER_BAR * bars + BYTES_PER_COMBINATION * combinations


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
    size = max(1, per_chunk // BYTES_PER_COMBINATION)
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
    base: BacktestConfig
    keys: list[str]
    grid: dict[str, list[Any]]
    choice: np.ndarray  # (keys, combinations): index of each key's value
    params: dict[str, np.ndarray]  # per-combination arrays of the engine's column parameters
    freq: Any
    ann: float
    block_edges: np.ndarray

    def columns(self, start: int, stop: int) -> Columns:
        p = {k: v[start:stop] for k, v in self.params.items()}
        return Columns(list(range(start, stop)), "combination", p["init_cash"], p["fees"], p["slippage"], p["size"],
                       p["sl_stop"], p["tp_stop"], p["sl_trail"], p["mode"], p["sig_col"],
                       np.zeros(stop - start, dtype=np.int64))

    def values(self, combination: int) -> dict[str, Any]:
        return {k: self.grid[k][int(self.choice[j, combination])] for j, k in enumerate(self.keys)}

    def config(self, combination: int) -> BacktestConfig:
        values = self.values(combination)
        values.pop("confidence_threshold", None)
        return resolve_backtest_config(self.base, values)

    def backtest(self, combination: int) -> BacktestResult:
        col = int(self.params["sig_col"][combination])
        bars = pl.DataFrame({"timestamp": pl.Series(self.index.astype("datetime64[us]")).dt.replace_time_zone("UTC"),
                             **{k: self.ohlc[k][:, 0] for k in ("open", "high", "low", "close")}})
        cfg = self.config(combination).model_copy(update={"direction": "both"})  # positions already masked
        return backtest(bars, self.positions[:, col], config=cfg, symbol=str(combination),
                        timeframe=None if self.freq is None else _timeframe(self.freq))


def _timeframe(freq: Any) -> str:
    from ..timeframes import format_timeframe

    return format_timeframe(int(freq.total_seconds()))


def _sweep_chunk(inp: _SweepInputs, chunk: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Executor task: the kernel metrics and per-block sums of one chunk of combinations."""
    a, b = chunk
    out = run_engine(inp.ohlc, inp.positions, inp.columns(a, b), inp.ann, block_edges=inp.block_edges)
    return out.metrics, out.blocks


def _map_chunks(executor: Any, chunks: list[tuple[int, int]], inputs: _SweepInputs) -> Any:
    """The chunks' results in order: in this process, or on an executor with
    ``map(fn, items, *, shared)`` (:mod:`fuzzyvec.research.executors`)."""
    if executor is None or len(chunks) == 1:
        return (_sweep_chunk(inputs, c) for c in chunks)
    return executor.map(_sweep_chunk, chunks, shared=inputs)


def _combination_params(base: BacktestConfig, keys: list[str], grid: dict[str, list[Any]],
                        choice: np.ndarray, thr_index: np.ndarray) -> dict[str, np.ndarray]:
    """Per-combination column parameters, validated one grid value at a time."""
    from ..nb.engine import MODE_CLOSE, MODE_NEXT_OPEN

    m = choice.shape[1]
    per_key: dict[str, np.ndarray] = {}
    for j, key in enumerate(keys):
        if key == "confidence_threshold":
            continue
        vals = []
        for v in grid[key]:
            try:  # each value against the base (field checks); cross-field checks below
                cfg = resolve_backtest_config(base, {key: v, **({"sl_trail": False} if key != "sl_trail" else
                                                                {"sl_stop": base.sl_stop or 0.5})})
            except StrategyError as exc:
                raise StrategyError(f"grid combination {{{key!r}: {v!r}}}: {exc}") from None
            vals.append(getattr(cfg, key))
        per_key[key] = np.asarray([np.nan if x is None else x for x in vals] if key != "execution" else vals)[choice[j]]

    def param(key: str) -> np.ndarray:
        if key in per_key:
            return per_key[key]
        v = getattr(base, key)
        return np.full(m, np.nan if v is None else v)

    sl_stop = param("sl_stop").astype(np.float64)
    sl_trail = param("sl_trail").astype(bool)
    bad = sl_trail & np.isnan(sl_stop)
    if bad.any():  # the grammar's own message for the first offending combination
        j = int(np.flatnonzero(bad)[0])
        values = {k: grid[k][int(choice[i, j])] for i, k in enumerate(keys) if k != "confidence_threshold"}
        try:
            resolve_backtest_config(base, values)
        except StrategyError as exc:
            raise StrategyError(f"grid combination {values}: {exc}") from None
    execution = per_key.get("execution", np.full(m, base.execution))
    return {
        "init_cash": param("init_cash").astype(np.float64), "fees": param("fees").astype(np.float64),
        "slippage": param("slippage").astype(np.float64), "size": param("size").astype(np.float64),
        "sl_stop": sl_stop, "tp_stop": param("tp_stop").astype(np.float64), "sl_trail": sl_trail,
        "mode": np.where(execution == "next_open", MODE_NEXT_OPEN, MODE_CLOSE).astype(np.int64),
        "sig_col": thr_index.astype(np.int64),
    }


def _parse_keep(keep: int | str | None, m: int) -> int:
    if keep is None:
        return 0
    if isinstance(keep, int) and not isinstance(keep, bool):
        k = keep
    else:
        text = str(keep).strip().lower()
        mt = re.fullmatch(r"top:(\d+)", text)
        if not mt:
            raise ValueError(f"keep must be None, an integer or 'top:K' (e.g. 'top:10'), got {keep!r}")
        k = int(mt.group(1))
    if k < 0:
        raise ValueError(f"keep must not be negative, got {keep!r}")
    return min(k, m)


def sweep(bars: pl.DataFrame, probs: np.ndarray, decisions: DecisionConfig | Any,
          backtest: BacktestConfig | Mapping[str, Any] | None, grid: Mapping[str, Sequence[Any]], *,
          timeframe: str | None = None, max_memory: int | str | None = None, executor: Any = None,
          on_chunk: Callable[[int], None] | None = None, keep: int | str | None = None,
          rank_by: str = "sharpe") -> SweepResult:
    """Backtest every combination of ``grid`` as the columns of one engine call.

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
        kernel calls of consecutive combinations; the table is the same.
    executor:
        Runs the chunks (:mod:`fuzzyvec.research.executors`; default: this process, one after
        the other). With ``w`` worker processes each chunk gets
        ``(max_memory - (w + 1) × WORKER_BYTES) / w``.
    on_chunk:
        Called with the number of combinations of each finished chunk (progress bars).
    keep:
        ``"top:K"`` (or ``K``): re-simulate the best ``K`` combinations by ``rank_by`` with full
        records into :attr:`SweepResult.top`.
    rank_by:
        The metric that orders ``keep`` (descending; ``max_drawdown`` ascending; NaN last).

    Returns
    -------
    SweepResult

    Raises
    ------
    StrategyError
        A grid key that cannot be swept, or a combination that is not a valid config
        (e.g. ``sl_trail: true`` without ``sl_stop``).
    ValueError
        ``probs`` of the wrong shape, a ``max_memory`` that is not a memory size, or a bad
        ``keep`` / ``rank_by``.
    """
    from .decision import decide

    budget = default_memory_budget() if max_memory is None else parse_memory(max_memory)
    base = resolve_backtest_config(backtest)
    dec = _decisions(decisions)
    grid = _grid(grid)
    keys = list(grid)
    shape = tuple(len(grid[k]) for k in keys)
    m = math.prod(shape)
    choice = np.indices(shape).reshape(len(keys), m)  # C order = itertools.product order
    thresholds = _unique(grid.get("confidence_threshold", [dec.confidence_threshold]))
    if "confidence_threshold" in grid:
        j = keys.index("confidence_threshold")
        thr_of_value = np.array([thresholds.index(v) for v in grid["confidence_threshold"]], dtype=np.int64)
        thr_index = thr_of_value[choice[j]]
    else:
        thr_index = np.zeros(m, dtype=np.int64)
    params = _combination_params(base, keys, grid, choice, thr_index)
    if rank_by not in SWEEP_METRICS:
        raise ValueError(f"rank_by must be one of {list(SWEEP_METRICS)}, got {rank_by!r}")
    n_keep = _parse_keep(keep, m)

    index, ohlc = ohlc_arrays({"asset": bars})
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(index), 3):
        raise ValueError(f"probs must have shape (n_bars, 3) = ({len(index)}, 3), got {p.shape}")
    # ONE decision call: one column of positions per threshold
    pos_by_thr = decide(p, dec, confidence_threshold=np.asarray(thresholds, dtype=np.float64),
                        allow_short=base.direction != "longonly")
    freq = bar_frequency(index, base.freq, timeframe)
    n = len(index)
    blocks = PBO_BLOCKS if n >= 2 * PBO_BLOCKS else 0
    sizes = np.full(blocks, n // max(blocks, 1), dtype=np.int64)
    sizes[: n % blocks if blocks else 0] += 1  # as fuzzyvec.backtest.significance.block_stats splits bars
    edges = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64) if blocks else np.empty(0, dtype=np.int64)
    inputs = _SweepInputs(index, ohlc, np.ascontiguousarray(mask_direction(pos_by_thr, base.direction)), base, keys,
                          grid, choice, params, freq, ann_factor(freq, base.bars_per_year), edges)
    workers = getattr(executor, "workers", 1) if executor is not None else 1
    chunks = plan_chunks(n, m, budget, parallel=workers)
    metrics, block_sums = [], []
    for (a, b), (met, blk) in zip(chunks, _map_chunks(executor, chunks, inputs), strict=True):
        metrics.append(met)
        block_sums.append(blk)
        if on_chunk is not None:
            on_chunk(b - a)
    all_metrics = np.concatenate(metrics)
    table = _table(all_metrics, keys, grid, choice)
    dsr = _deflated_sharpe(all_metrics)
    table = table.with_columns(pl.Series("dsr", dsr))
    counts = np.diff(inputs.block_edges).astype(np.float64)
    sums = np.concatenate(block_sums)
    block_returns = np.concatenate([np.broadcast_to(counts[None, :, None], (m, blocks, 1)), sums], axis=2)
    pbo = None
    if blocks and int(np.isfinite(dsr).sum()) >= 2:  # at least two combinations whose returns vary
        from .significance import pbo_from_block_stats

        pbo = pbo_from_block_stats(counts, sums[:, :, 0], sums[:, :, 1])
    top: dict[int, BacktestResult] = {}
    if n_keep:
        order = table.sort(rank_by, descending=rank_by != "max_drawdown", nulls_last=True)
        for comb in order["combination"].head(n_keep).to_list():
            top[int(comb)] = inputs.backtest(int(comb))
    return SweepResult(table=table, grid=grid, chunks=len(chunks), top=top, block_returns=block_returns,
                       pbo=pbo, _inputs=inputs)


def _deflated_sharpe(metrics: np.ndarray) -> np.ndarray:
    """Each combination's deflated Sharpe ratio among all of them (Bailey & López de Prado 2014)."""
    from ..nb.engine import METRICS
    from .significance import deflated_sharpe_from_moments

    def col(name: str) -> np.ndarray:
        return metrics[:, METRICS.index(name)]

    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(col("ret_std") > 0, col("ret_mean") / col("ret_std"), np.nan)  # per bar, not annualised
    return deflated_sharpe_from_moments(sr, col("bars"), col("ret_skew"), col("ret_kurtosis"))


def _table(metrics: np.ndarray, keys: list[str], grid: dict[str, list[Any]], choice: np.ndarray) -> pl.DataFrame:
    from ..nb.engine import METRICS

    m = metrics.shape[0]
    cols: dict[str, Any] = {"combination": pl.Series(np.arange(m, dtype=np.int64))}
    for j, key in enumerate(keys):
        values = grid[key]
        lookup = pl.Series(values, strict=False)
        cols[key] = lookup.gather(choice[j])
    for key in SWEEP_METRICS:
        v = metrics[:, METRICS.index(key)]
        if key in ("sharpe", "sortino"):
            v = np.where(np.isfinite(v), v, np.nan)
        cols[key] = v.astype(np.int64) if key == "trades" else v
    return pl.DataFrame(cols)


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
