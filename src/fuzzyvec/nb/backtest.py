"""Stop-adjustment callbacks for vectorbt's ``Portfolio.from_signals`` (SPEC §7).

vectorbt checks a column's stops *before* it looks at that bar's signal, and a stop hit
cancels the signal (one order per bar and column). With ``execution: next_open`` a signal
executes at the bar's **open**, before anything else can happen in the bar, so on a bar
where a column has an exit signal its stops must not be checked. These two callbacks do
that: vectorbt calls them for every (bar, column) before the stop check, and they switch
the column's stops off on the bars flagged in ``skip`` while a position is open. The
position is closed by the signal on that bar anyway, and vectorbt clears the stops of a
closed position, so nothing else changes.

``skip`` is a boolean (n_bars, n_columns) array; with ``execution: close`` it is all False
(the stop is hit during the bar, before the close at which the signal executes).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from vectorbt.generic.nb import get_drawdowns_nb, range_duration_nb
from vectorbt.portfolio.nb import add_nb
from vectorbt.returns.nb import (
    annualized_return_1d_nb,
    calmar_ratio_1d_nb,
    max_drawdown_1d_nb,
    returns_1d_nb,
    sharpe_ratio_1d_nb,
    sortino_ratio_1d_nb,
)


@njit(cache=True)
def skip_sl_on_signal_nb(c, skip):
    """``adjust_sl_func_nb`` for ``Portfolio.from_signals``: no stop-loss on skipped bars.

    Reference: the bar order of SPEC §7 with next-open execution (the signal fills at the
    open, the stop can only be hit after it), as simulated bar by bar in
    ``tests/reference_sim.py``. Returns ``(nan, False)`` when ``skip[c.i, c.col]`` and a
    position is open, else vectorbt's current ``(c.curr_stop, c.curr_trail)`` unchanged.
    """
    if c.position_now != 0 and skip[c.i, c.col]:
        return np.nan, False
    return c.curr_stop, c.curr_trail


@njit(cache=True)
def skip_tp_on_signal_nb(c, skip):
    """``adjust_tp_func_nb`` for ``Portfolio.from_signals``: no take-profit on skipped bars.

    Reference: as :func:`skip_sl_on_signal_nb`. Returns ``nan`` when ``skip[c.i, c.col]``
    and a position is open, else vectorbt's current ``c.curr_stop``.
    """
    if c.position_now != 0 and skip[c.i, c.col]:
        return np.nan
    return c.curr_stop


# ---------------------------------------------------------------------------------------------
# Stats straight from the order records (SPEC §7 metrics; used by every backtest and sweep)
# ---------------------------------------------------------------------------------------------
#
# vectorbt's accessors (``pf.value()``, ``pf.returns()``, ``pf.drawdowns``, ``pf.position_mask()``)
# each build a (bars × columns) array and wrap it in a pandas frame, which pandas 3 copies; a
# sweep of a few hundred columns over a year of 5m bars spends more time there than in the
# simulation itself, and needs ~200 bytes per bar and column at the peak. The kernels below
# walk vectorbt's order records one group at a time with one bar-length buffer, repeating
# vectorbt's own arithmetic step for step (``asset_flow_nb`` → ``assets_nb`` → ``asset_value``
# with ``close`` zeroed where flat, ``cash_flow_nb`` → ``cash_grouped_nb``, ``value_nb``) and
# then calling vectorbt's own 1-D return statistics. The results are therefore bit-for-bit
# those of the accessors (``tests/test_stats_kernel.py`` compares them on random sweeps).

#: Columns of the arrays returned by :func:`portfolio_stats_nb` and :func:`value_stats_nb`.
STATS_FIELDS = ("cagr", "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_duration_bars", "exposure")

_SELL = 1  # vectorbt OrderSide.Sell


@njit(cache=True)
def _value_stats_1d_nb(value, init_value, ann_factor, out):
    """Return statistics of one equity curve into ``out[0:6]`` (see :data:`STATS_FIELDS`).

    The same calls as vectorbt's ``ReturnsAccessor`` with its default settings (risk-free 0,
    ``ddof`` 1, required return 0) on ``returns_1d_nb(value, init_value)``, and the longest
    drawdown of ``value`` as ``Drawdowns.from_ts(value).max_duration()`` in bars (NaN when
    there is none).
    """
    rets = returns_1d_nb(value, init_value)
    out[0] = annualized_return_1d_nb(rets, ann_factor)
    out[1] = sharpe_ratio_1d_nb(rets, ann_factor, 0.0, 1)
    out[2] = sortino_ratio_1d_nb(rets, ann_factor, 0.0)
    out[3] = calmar_ratio_1d_nb(rets, ann_factor)
    out[4] = max_drawdown_1d_nb(rets)
    records = get_drawdowns_nb(value.reshape((value.shape[0], 1)))
    out[5] = np.nan
    if records.shape[0] > 0:
        durations = range_duration_nb(records["start_idx"], records["end_idx"], records["status"])
        out[5] = float(durations.max())


@njit(cache=True)
def portfolio_stats_nb(order_records, col_idxs, col_lens, group_lens, close, close_col, init_cash, ann_factor):
    """Per group of a vectorbt portfolio: :data:`STATS_FIELDS` from its order records.

    Parameters
    ----------
    order_records:
        ``pf.order_records`` (vectorbt ``order_dt``).
    col_idxs, col_lens:
        ``pf.orders.col_mapper.col_map``: the records of each portfolio column, in order.
    group_lens:
        Columns per group (consecutive columns), e.g. ``[2, 2, ...]`` for long/short legs.
    close:
        (n, k) close prices; portfolio column ``c`` is valued with ``close[:, close_col[c]]``.
    init_cash:
        Initial cash per group (cash shared inside a group).
    ann_factor:
        Bars per year (vectorbt's ``year_freq / freq``).
    """
    n = close.shape[0]
    n_groups = group_lens.shape[0]
    out = np.empty((n_groups, 7), dtype=np.float64)
    col_starts = np.cumsum(col_lens) - col_lens
    cash_flow = np.empty(n, dtype=np.float64)
    asset_value = np.empty(n, dtype=np.float64)
    in_position = np.empty(n, dtype=np.bool_)
    value = np.empty(n, dtype=np.float64)
    from_col = 0
    for g in range(n_groups):
        cash_flow[:] = 0.0
        asset_value[:] = 0.0
        in_position[:] = False
        for col in range(from_col, from_col + group_lens[g]):
            k = close_col[col]
            r = col_starts[col]
            r_end = r + col_lens[col]
            position = 0.0
            for i in range(n):
                flow = 0.0
                cash = 0.0
                while r < r_end and order_records[col_idxs[r]]["idx"] == i:
                    rec = order_records[col_idxs[r]]
                    size = rec["size"]
                    if rec["side"] == _SELL:
                        size *= -1
                    flow = add_nb(flow, size)
                    cash = add_nb(cash, -size * rec["price"] - rec["fees"])
                    r += 1
                position = add_nb(position, flow)
                cash_flow[i] += cash
                if position != 0:  # vectorbt zeroes the close where flat (a NaN close is harmless there)
                    asset_value[i] += close[i, k] * position
                    in_position[i] = True
        cash_now = init_cash[g]
        held = 0
        for i in range(n):
            cash_now = add_nb(cash_now, cash_flow[i])
            value[i] = cash_now + asset_value[i]
            if in_position[i]:
                held += 1
        _value_stats_1d_nb(value, init_cash[g], ann_factor, out[g])
        out[g, 6] = held / n
        from_col += group_lens[g]
    return out


@njit(cache=True)
def value_stats_nb(value, init_cash, ann_factor):
    """:data:`STATS_FIELDS` (exposure NaN) of each column of a given (n, m) equity array."""
    m = value.shape[1]
    out = np.empty((m, 7), dtype=np.float64)
    buf = np.empty(value.shape[0], dtype=np.float64)
    for j in range(m):
        buf[:] = value[:, j]
        _value_stats_1d_nb(buf, init_cash[j], ann_factor, out[j])
        out[j, 6] = np.nan
    return out
