"""Baselines (SPEC §15): the strategy beside buy-and-hold, flat and random entries, on the same bars and costs.

:func:`baselines` simulates, with the engine kernel,

- **buy-and-hold**: long from the first bar's decision (filled at the second bar's open under
  ``next_open``) to the end, with the strategy's fees and slippage and no stops;
- **flat**: never in the market (equity constant, total return 0);
- **random** (ONE engine call over all series): ``n_random`` (default 1,000) position series drawn by
  :func:`fuzzyvec.backtest.significance.random_positions` with the strategy's own number of trades,
  exposure and long/short mix, simulated with the strategy's own config (costs, stops, execution).

The strategy's total return and Sharpe ratio are then placed among the random series: its
percentile and a one-sided p-value ``(1 + #{random >= strategy}) / (N + 1)`` — the chance that
entering at random with the same activity does at least as well. The random equity curves are
sampled at a few hundred bars (no (bars × series) array) for the 5–95 % band of the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from ..strategy.config import BacktestConfig
from .engine import (
    Columns,
    ann_factor,
    bar_frequency,
    mask_direction,
    ohlc_arrays,
    resolve_backtest_config,
    run_engine,
)

__all__ = ["BASELINE_KEYS", "Baselines", "baselines", "baselines_from_result"]

#: stats of each baseline in :meth:`Baselines.to_json` (definitions: :data:`fuzzyvec.backtest.engine.STAT_KEYS`)
BASELINE_KEYS = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "exposure", "final_equity")
_BAND_POINTS = 400


def _clean(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


@dataclass(frozen=True)
class Baselines:
    """What :func:`baselines` returns (for one symbol).

    Attributes
    ----------
    buy_and_hold, flat:
        ``{key: value}`` over :data:`BASELINE_KEYS`.
    random:
        ``n_series``, ``seed``, the activity the series share with the strategy (``trades``,
        ``exposure``, ``long_share``), the 5 %/50 %/95 % quantiles of their total return and
        Sharpe, and the strategy's ``percentile`` and one-sided ``p_value`` for both.
    band:
        ``timestamp``, ``p5``, ``median``, ``p95`` of the random series' equity at sampled bars,
        and ``buy_and_hold`` (its equity at the same bars).
    """

    buy_and_hold: dict[str, Any]
    flat: dict[str, Any]
    random: dict[str, Any]
    band: pl.DataFrame = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """``{"buy_and_hold": {...}, "flat": {...}, "random": {..., "p_value": {...}}}`` (JSON-ready)."""
        return {"buy_and_hold": dict(self.buy_and_hold), "flat": dict(self.flat), "random": dict(self.random)}

    def summary(self) -> dict[str, Any]:
        """The few numbers a console summary shows beside the strategy's."""
        r = self.random
        return {"buy_and_hold_return": self.buy_and_hold["total_return"], "buy_and_hold_sharpe": self.buy_and_hold["sharpe"],
                "random_median_return": r["total_return"]["median"], "p_value_return": r["p_value"]["total_return"],
                "p_value_sharpe": r["p_value"]["sharpe"], "percentile_return": r["percentile"]["total_return"]}


def _row(metrics: np.ndarray, j: int) -> dict[str, Any]:
    from ..nb.engine import METRICS

    out = {k: _clean(metrics[j, METRICS.index(k)]) for k in BASELINE_KEYS}
    out["trades"] = int(metrics[j, METRICS.index("trades")])
    return out


def baselines(bars: pl.DataFrame, *, config: BacktestConfig | Mapping[str, Any] | None = None,
              strategy_return: float, strategy_sharpe: float | None, trades: int, exposure: float,
              long_share: float, n_random: int = 1000, seed: int = 0, timeframe: str | None = None,
              stops: bool = True, report_base: bool = False) -> Baselines:
    """Buy-and-hold, flat and ``n_random`` random-entry series on ``bars`` in one engine call.

    Parameters
    ----------
    bars:
        The bars the strategy was backtested on (one symbol).
    config:
        The strategy's ``backtest:`` section: the costs, sizing, execution and (with ``stops``)
        the stops of every series; buy-and-hold never has stops.
    strategy_return, strategy_sharpe:
        The strategy's total return and Sharpe ratio on these bars.
    trades, exposure, long_share:
        The strategy's activity, which every random series copies: positions opened, fraction
        of bars in a position, fraction of the positions that are long.
    n_random:
        Number of random series (0: only buy-and-hold and flat).
    seed:
        Seed of the random series (the same seed gives the same baseline).
    timeframe:
        The bars' timeframe, for annualisation.
    stops:
        Give the random series the config's stops (False for prediction files, whose stops are
        per row).
    report_base:
        Report equity in base-asset units (``share_class="BTC"`` of prediction files):
        ``init_cash`` is then base units, converted at the first bar's open, as the strategy's.

    Returns
    -------
    Baselines
    """
    from .significance import baseline_pvalue, percentile_of, random_positions

    cfg = resolve_backtest_config(config)
    index, ohlc = ohlc_arrays({"asset": bars})
    n = len(index)
    if n_random > 0:
        rand = random_positions(n, n_series=n_random, trades=max(int(trades), 0), exposure=float(exposure),
                                long_share=float(long_share), seed=seed)
        rand = mask_direction(rand, cfg.direction)
    else:
        rand = np.zeros((n, 0), dtype=np.int8)
    freq = bar_frequency(index, cfg.freq, timeframe)
    ann = ann_factor(freq, cfg.bars_per_year)
    sample = np.unique(np.linspace(0, n - 1, min(n, _BAND_POINTS)).astype(np.int64))
    no_stops = cfg.model_copy(update={"sl_stop": None, "tp_stop": None, "sl_trail": False})
    # buy-and-hold and flat: two columns; the random series: ONE engine call over all of them
    fixed = np.zeros((n, 2), dtype=np.int8)
    fixed[:, 0] = 1

    def columns(configs: list[BacktestConfig]) -> Columns:
        cols = Columns.from_configs(configs, list(range(len(configs))), "series",
                                    price_col=np.zeros(len(configs), dtype=np.int64))
        if not report_base:
            return cols
        return replace(cols, init_cash=cols.init_cash * ohlc["open"][0, 0], init_report=cols.init_cash,
                       report_base=np.ones(len(configs), dtype=bool))

    ref = run_engine(ohlc, fixed, columns([no_stops, no_stops]), ann, equity_bars=sample)
    k = rand.shape[1]
    out = run_engine(ohlc, rand, columns([cfg if stops else no_stops] * k), ann, equity_bars=sample)
    from ..nb.engine import METRICS

    rets = out.metrics[:, METRICS.index("total_return")]
    sharpes = out.metrics[:, METRICS.index("sharpe")]
    sharpes = np.where(np.isfinite(sharpes), sharpes, np.nan)

    def quantiles(x: np.ndarray) -> dict[str, float | None]:
        x = x[np.isfinite(x)]
        if not len(x):
            return {"p5": None, "median": None, "p95": None}
        q = np.percentile(x, [5, 50, 95])
        return {"p5": float(q[0]), "median": float(q[1]), "p95": float(q[2])}

    sr = strategy_sharpe if strategy_sharpe is not None and np.isfinite(strategy_sharpe) else None
    random = {
        "n_series": int(rand.shape[1]), "seed": int(seed), "trades": int(trades), "exposure": float(exposure),
        "long_share": float(long_share), "total_return": quantiles(rets), "sharpe": quantiles(sharpes),
        "percentile": {"total_return": _clean(percentile_of(strategy_return, rets)) if len(rets) else None,
                       "sharpe": _clean(percentile_of(sr, sharpes[np.isfinite(sharpes)]))
                       if sr is not None and np.isfinite(sharpes).any() else None},
        "p_value": {"total_return": _clean(baseline_pvalue(strategy_return, rets)) if len(rets) else None,
                    "sharpe": _clean(baseline_pvalue(sr, sharpes[np.isfinite(sharpes)]))
                    if sr is not None and np.isfinite(sharpes).any() else None},
    }
    with np.errstate(all="ignore"):
        band_q = np.percentile(out.equity, [5, 50, 95], axis=1) if k else np.full((3, len(sample)), np.nan)
    band = pl.DataFrame({
        "timestamp": pl.Series(index[sample].astype("datetime64[us]")).dt.replace_time_zone("UTC"),
        "p5": band_q[0], "median": band_q[1], "p95": band_q[2], "buy_and_hold": ref.equity[:, 0],
    })
    return Baselines(buy_and_hold=_row(ref.metrics, 0), flat=_row(ref.metrics, 1), random=random, band=band)


def baselines_from_result(result: Any, bars: pl.DataFrame | Mapping[str, pl.DataFrame], *, n_random: int = 1000,
                          seed: int = 0, timeframe: str | None = None) -> dict[str, Baselines]:
    """:func:`baselines` of every symbol of a :class:`~fuzzyvec.backtest.engine.BacktestResult`.

    The activity to copy comes from the result: its trade count, exposure and long share per
    symbol; the stats it is compared with are its own.
    """
    frames = {"asset": bars} if isinstance(bars, pl.DataFrame) else dict(bars)
    label = result.stats.columns[0]
    out = {}
    for row in result.stats.iter_rows(named=True):
        sym = str(row[label])
        frame = frames.get(sym) if sym in frames else next(iter(frames.values()))
        tr = result.trades.filter(pl.col(label).cast(pl.String) == sym) if label in result.trades.columns else result.trades
        longs = int((tr["direction"] == "long").sum()) if tr.height else 0
        out[sym] = baselines(frame, config=result.config, strategy_return=row["total_return"],
                             strategy_sharpe=row["sharpe"], trades=int(row["trades"]), exposure=float(row["exposure"]),
                             long_share=longs / tr.height if tr.height else 0.5, n_random=n_random, seed=seed,
                             timeframe=timeframe)
    return out
