"""The simulation engine (SPEC §7, §8): one cached, parallel numba kernel for every backtest.

:func:`simulate_nb` runs each *column* (a symbol, a sweep combination, a random baseline
series) independently over the bars, in parallel over columns (``prange``), with the whole
position state in local variables of its loop. It serves model positions (``backtest``,
``sweep``, walk-forward, search, baselines) and prediction files alike; a column's ``mode``
says how its int8 signal column becomes orders:

``MODE_NEXT_OPEN`` (positions, ``execution: next_open``)
    ``signal[t]`` is the position decided on bar ``t``; it is the target at bar ``t+1``'s
    open. Orders happen only where the target changes (an edge): after a stop exit the
    column stays flat until the decided position changes again.
``MODE_CLOSE`` (positions, ``execution: close``)
    ``signal[t]`` is the target at bar ``t``'s close, again only on changes.
``MODE_SIGNAL`` (prediction files, SPEC §8)
    ``signal[t]`` is the direction that *acts* at bar ``t``'s open (0: none). Flat and
    acting: enter at the open (a position already open in that direction is held with its
    original stops). At the close a position is closed unless ``signal[t+1]`` acts in its
    direction. Stop levels are absolute prices of the entry bar's row.

Each bar, in this order:

1. **open** — the open order (modes next_open and signal): close the position if it is not
   the target (exit reason ``signal``) and enter the target at the open;
2. **stops** — with a position open (the entry bar included: a position entered at this
   open is live for the rest of the bar), the stop-loss first, then the take-profit: a
   level is touched when the low (long stop, short target) or high (long target, short
   stop) reaches it; the fill is the level, or the open when the bar opens beyond it (a
   gap). With ``sl_trail`` the stop-loss is measured from the best high (long) / low
   (short) since the entry, updated after each bar's check. A position entered at this
   bar's close is not checked on this bar;
3. **close** — the close order (modes close and signal): as at the open, at the close.

Fills: buying at ``price·(1 + slippage)``, selling at ``price·(1 − slippage)``; fees are
``fees × fill × units`` on every fill; an entry spends ``size × cash`` including its fee
(``units = size·cash / (fill·(1 + fees))``; the column is flat when it enters, so cash is
the equity); no entry when the cash is not positive. A reversal is two orders at the same
price: the exit, then the entry. Equity at each bar's close is ``cash + units·close``.

Reference: the plain-Python simulators ``tests/reference_sim.py`` (positions) and
``tests/reference_predictions.py`` (prediction files), bar for bar; backtesting.py 0.6.6
trade for trade; vectorbt's ``Portfolio`` rebuilt from the emitted order records (value,
trades) and its return statistics (``ReturnsAccessor``: risk-free 0, ``ddof`` 1;
``Drawdowns.from_ts``; trade ``win_rate``/``profit_factor``/``expectancy``).

Outputs: per column the :data:`METRICS` (accumulated in the loop: no (bars × columns)
array is needed), optionally per-block return sums (for the probability of backtest
overfitting), and — when asked — vectorbt ``order_dt`` records, trade records and the
equity curve.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MODE_NEXT_OPEN, MODE_CLOSE, MODE_SIGNAL = 0, 1, 2
KEEP = 2  # no order at this point of the bar

#: exit reasons of :data:`TRADE_DT` records (``REASONS[code]``)
REASON_NONE, REASON_SIGNAL, REASON_SL, REASON_TP, REASON_TRAIL, REASON_CLOSE, REASON_END = 0, 1, 2, 3, 4, 5, 6
REASONS = ("none", "signal", "sl", "tp", "trail", "close", "end")

#: vectorbt's ``order_dt`` (``vectorbt.portfolio.enums.order_dt``; a test checks they are equal)
ORDER_DT = np.dtype([("id", np.int64), ("col", np.int64), ("idx", np.int64), ("size", np.float64),
                     ("price", np.float64), ("fees", np.float64), ("side", np.int64)], align=True)
BUY, SELL = 0, 1

#: one record per position (round trip); ``status`` 0 open (valued at the last close), 1 closed
TRADE_DT = np.dtype([("col", np.int64), ("direction", np.int64), ("entry_idx", np.int64),
                     ("exit_idx", np.int64), ("size", np.float64), ("entry_price", np.float64),
                     ("exit_price", np.float64), ("entry_fees", np.float64), ("exit_fees", np.float64),
                     ("pnl", np.float64), ("ret", np.float64), ("reason", np.int64), ("status", np.int64),
                     ("stop_loss", np.float64), ("take_profit", np.float64)], align=True)

#: columns of the metrics array returned by :func:`simulate_nb`
METRICS = (
    "final_value",  # quote-currency equity after the last bar
    "final_equity",  # in the reporting currency (quote, or base units with report_base)
    "total_return", "cagr", "sharpe", "sortino", "calmar",
    "max_drawdown",  # positive fraction
    "max_drawdown_duration_bars",  # NaN when there is no drawdown
    "win_rate", "profit_factor", "expectancy",  # over closed trades
    "trades",  # positions opened, an open one included
    "closed_trades", "long_trades",
    "exposure",  # fraction of bars that end in a position
    "exposure_held",  # fraction of bars with a position open at some time in the bar
    "fees_paid", "orders",
    "ret_mean", "ret_std", "ret_skew", "ret_kurtosis",  # of the per-bar returns (kurtosis: normal = 3)
    "bars",
)
_M = {name: k for k, name in enumerate(METRICS)}
M_FINAL_VALUE, M_FINAL_EQUITY, M_TOTAL_RETURN, M_CAGR, M_SHARPE, M_SORTINO, M_CALMAR = range(7)
M_MAX_DD, M_MAX_DD_DUR, M_WIN_RATE, M_PROFIT_FACTOR, M_EXPECTANCY, M_TRADES = range(7, 13)
M_CLOSED, M_LONG, M_EXPOSURE, M_EXPOSURE_HELD, M_FEES, M_ORDERS = range(13, 19)
M_RET_MEAN, M_RET_STD, M_RET_SKEW, M_RET_KURT, M_BARS = range(19, 24)
N_METRICS = len(METRICS)


@njit(cache=True)
def _return_nb(prev, cur):
    """One bar's return, as vectorbt's ``get_return_nb``."""
    if prev == 0.0:
        if cur == 0.0:
            return 0.0
        return np.inf * np.sign(cur)
    r = (cur - prev) / prev
    if prev < 0.0:
        r = -r
    return r


@njit(cache=True)
def _open_instruction_nb(mode, sig, s, i):
    if mode == MODE_NEXT_OPEN:
        if i == 0:
            return KEEP
        t = sig[i - 1, s]
        before = sig[i - 2, s] if i >= 2 else 0
        return t if t != before else KEEP
    if mode == MODE_SIGNAL:
        a = sig[i, s]
        return a if a != 0 else KEEP
    return KEEP


@njit(cache=True)
def _close_instruction_nb(mode, sig, s, i, n):
    if mode == MODE_CLOSE:
        t = sig[i, s]
        before = sig[i - 1, s] if i >= 1 else 0
        return t if t != before else KEEP
    if mode == MODE_SIGNAL:
        a = sig[i, s]
        if a != 0 and i + 1 < n and sig[i + 1, s] == a:
            return KEEP
        return 0
    return KEEP


@njit(cache=True)
def _exit_nb(c, i, side, units, fill, fees, entry_fill, entry_fee, reason, cash, fees_paid, n_closed, wins, losses,
             sum_win, sum_loss, want_records, orders, order_start, oi, trades, ti):
    """Close the open position at ``fill``: cash, trade statistics and (optionally) the records."""
    fee = fill * units * fees
    cash += side * fill * units - fee
    fees_paid += fee
    pnl = side * (fill - entry_fill) * units - entry_fee - fee
    n_closed += 1
    if pnl > 0.0:
        wins += 1
        sum_win += pnl
    elif pnl < 0.0:
        losses += 1
        sum_loss += pnl
    if want_records:
        rec = orders[oi]
        rec["id"] = oi - order_start[c]
        rec["col"] = c
        rec["idx"] = i
        rec["size"] = units
        rec["price"] = fill
        rec["fees"] = fee
        rec["side"] = SELL if side > 0 else BUY
        oi += 1
        tr = trades[ti]
        tr["exit_idx"] = i
        tr["exit_price"] = fill
        tr["exit_fees"] = fee
        tr["pnl"] = pnl
        tr["ret"] = pnl / (units * entry_fill)
        tr["reason"] = reason
        tr["status"] = 1
        ti += 1
    return cash, fees_paid, n_closed, wins, losses, sum_win, sum_loss, oi, ti


@njit(cache=True)
def _entry_records_nb(c, i, side, q, fill, fee, sl_lvl, tp_lvl, orders, order_start, oi, trades, ti):
    """The order record of an entry and the opening half of its trade record."""
    rec = orders[oi]
    rec["id"] = oi - order_start[c]
    rec["col"] = c
    rec["idx"] = i
    rec["size"] = q
    rec["price"] = fill
    rec["fees"] = fee
    rec["side"] = BUY if side > 0 else SELL
    tr = trades[ti]
    tr["col"] = c
    tr["direction"] = side
    tr["entry_idx"] = i
    tr["size"] = q
    tr["entry_price"] = fill
    tr["entry_fees"] = fee
    tr["stop_loss"] = sl_lvl
    tr["take_profit"] = tp_lvl
    return oi + 1, ti


@njit(cache=True)
def _simulate_column_nb(c, open_, high, low, close, sig, sl_level, tp_level, price_col, sig_col, mode_, init_cash,
                        init_report, report_base, fees_, slippage_, size_, sl_stop_, tp_stop_, sl_trail_, ann_factor,
                        block_edges, block_out, metrics, want_records, order_start, orders, trade_start, trades,
                        equity, equity_bars):
    n = close.shape[0]
    n_eq = equity_bars.shape[0]
    ep = 0
    k = price_col[c]
    s = sig_col[c]
    mode = mode_[c]
    fees = fees_[c]
    slip = slippage_[c]
    size = size_[c]
    sl_frac = sl_stop_[c]
    tp_frac = tp_stop_[c]
    trail = sl_trail_[c]
    base_ccy = report_base[c]
    has_sl_frac = not np.isnan(sl_frac)
    has_tp_frac = not np.isnan(tp_frac)
    # a stop-loss exists for the whole column: a fraction, or absolute levels (prediction files)
    has_stop_loss = has_sl_frac or mode == MODE_SIGNAL

    cash = init_cash[c]
    side = 0  # -1, 0, +1
    units = 0.0  # > 0: size of the open position
    entry_fill = 0.0
    entry_fee = 0.0
    sl_lvl = np.nan
    tp_lvl = np.nan
    trail_base = 0.0

    n_orders = 0
    n_trades = 0
    n_long = 0
    n_closed = 0
    wins = 0
    losses = 0
    sum_win = 0.0
    sum_loss = 0.0
    fees_paid = 0.0
    held_end = 0
    held_any = 0

    prev_value = init_report[c]
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    down2 = 0.0
    peak = np.nan
    peak_idx = -1
    in_dd = False
    max_dd = 0.0
    max_dur = -1
    value_r = prev_value

    n_blocks = block_edges.shape[0] - 1
    blk = 0
    blk_end = block_edges[1] if n_blocks > 0 else n + 1
    b1 = 0.0
    b2 = 0.0

    oi = order_start[c] if want_records else 0
    ti = trade_start[c] if want_records else 0

    last_decided = 0
    for i in range(n):
        o = open_[i, k]
        h = high[i, k]
        lo = low[i, k]
        cl = close[i, k]
        held_bar = side != 0
        entered = False
        # ---- 1. the open order
        if mode == MODE_NEXT_OPEN:  # the previous bar's decision, on a change
            decided = sig[i - 1, s] if i > 0 else 0
            target = decided if decided != last_decided else KEEP
            last_decided = decided
        else:
            target = _open_instruction_nb(mode, sig, s, i)
        if target != KEEP and target != side:
            if side != 0:
                fill = o * (1.0 - slip) if side > 0 else o * (1.0 + slip)
                (cash, fees_paid, n_closed, wins, losses, sum_win, sum_loss, oi, ti) = _exit_nb(
                    c, i, side, units, fill, fees, entry_fill, entry_fee, REASON_SIGNAL, cash, fees_paid, n_closed,
                    wins, losses, sum_win, sum_loss, want_records, orders, order_start, oi, trades, ti)
                n_orders += 1
                side = 0
            if target != 0 and cash > 0.0:
                fill = o * (1.0 + slip) if target > 0 else o * (1.0 - slip)
                q = size * cash / (fill * (1.0 + fees))
                if q > 0.0:
                    fee = fill * q * fees
                    cash -= target * fill * q + fee
                    fees_paid += fee
                    side = target
                    units = q
                    entry_fill = fill
                    entry_fee = fee
                    trail_base = fill
                    entered = True
                    if mode == MODE_SIGNAL:
                        sl_lvl = sl_level[i, s]
                        tp_lvl = tp_level[i, s]
                    else:
                        sl_lvl = fill * (1.0 - side * sl_frac) if has_sl_frac else np.nan
                        tp_lvl = fill * (1.0 + side * tp_frac) if has_tp_frac else np.nan
                    n_trades += 1
                    n_long += side > 0
                    n_orders += 1
                    if want_records:
                        oi, ti = _entry_records_nb(c, i, side, q, fill, fee, sl_lvl, tp_lvl, orders, order_start, oi,
                                                   trades, ti)
        # ---- 2. the stops (a position entered at this open is live for the rest of the bar)
        if side != 0:
            px = np.nan
            reason = REASON_NONE
            if has_stop_loss:
                level = trail_base * (1.0 - side * sl_frac) if trail else sl_lvl
                if side > 0:
                    if o <= level:
                        px = o
                    elif lo <= level:
                        px = level
                else:
                    if o >= level:
                        px = o
                    elif h >= level:
                        px = level
                if px == px:
                    reason = REASON_TRAIL if trail else REASON_SL
            if reason == REASON_NONE and tp_lvl == tp_lvl:
                if side > 0:
                    if o >= tp_lvl:
                        px = o
                    elif h >= tp_lvl:
                        px = tp_lvl
                else:
                    if o <= tp_lvl:
                        px = o
                    elif lo <= tp_lvl:
                        px = tp_lvl
                if px == px:
                    reason = REASON_TP
            if reason != REASON_NONE:
                fill = px * (1.0 - slip) if side > 0 else px * (1.0 + slip)
                (cash, fees_paid, n_closed, wins, losses, sum_win, sum_loss, oi, ti) = _exit_nb(
                    c, i, side, units, fill, fees, entry_fill, entry_fee, reason, cash, fees_paid, n_closed,
                    wins, losses, sum_win, sum_loss, want_records, orders, order_start, oi, trades, ti)
                n_orders += 1
                side = 0
            elif trail:
                if side > 0:
                    trail_base = max(trail_base, h)
                else:
                    trail_base = min(trail_base, lo)
        # ---- 3. the close order
        if mode != MODE_NEXT_OPEN:
            target = _close_instruction_nb(mode, sig, s, i, n)
            if target != KEEP and target != side:
                if side != 0:
                    fill = cl * (1.0 - slip) if side > 0 else cl * (1.0 + slip)
                    reason = REASON_CLOSE if mode == MODE_SIGNAL else REASON_SIGNAL
                    (cash, fees_paid, n_closed, wins, losses, sum_win, sum_loss, oi, ti) = _exit_nb(
                        c, i, side, units, fill, fees, entry_fill, entry_fee, reason, cash, fees_paid, n_closed,
                        wins, losses, sum_win, sum_loss, want_records, orders, order_start, oi, trades, ti)
                    n_orders += 1
                    side = 0
                if target != 0 and cash > 0.0:
                    fill = cl * (1.0 + slip) if target > 0 else cl * (1.0 - slip)
                    q = size * cash / (fill * (1.0 + fees))
                    if q > 0.0:
                        fee = fill * q * fees
                        cash -= target * fill * q + fee
                        fees_paid += fee
                        side = target
                        units = q
                        entry_fill = fill
                        entry_fee = fee
                        trail_base = fill
                        entered = True
                        sl_lvl = fill * (1.0 - side * sl_frac) if has_sl_frac else np.nan
                        tp_lvl = fill * (1.0 + side * tp_frac) if has_tp_frac else np.nan
                        n_trades += 1
                        n_long += side > 0
                        n_orders += 1
                        if want_records:
                            oi, ti = _entry_records_nb(c, i, side, q, fill, fee, sl_lvl, tp_lvl, orders, order_start,
                                                       oi, trades, ti)
        # ---- the bar's close: equity, returns, drawdown
        if side != 0:
            held_end += 1
        if side != 0 or held_bar or entered:
            held_any += 1
        value = cash + side * units * cl
        value_r = value / cl if base_ccy else value
        if want_records:
            equity[i, c] = value_r
        elif ep < n_eq and i == equity_bars[ep]:
            equity[ep, c] = value_r
            ep += 1
        r = (value_r - prev_value) / prev_value if prev_value > 0.0 else _return_nb(prev_value, value_r)
        prev_value = value_r
        r2 = r * r
        s1 += r
        s2 += r2
        s3 += r2 * r
        s4 += r2 * r2
        if r < 0.0:
            down2 += r2
        if n_blocks > 0:
            if i >= blk_end:  # the block ended at the previous bar: store its sums
                block_out[c, blk, 0] = b1
                block_out[c, blk, 1] = b2
                b1 = 0.0
                b2 = 0.0
                while i >= blk_end and blk < n_blocks - 1:
                    blk += 1
                    blk_end = block_edges[blk + 1]
            b1 += r
            b2 += r2
        # vectorbt's get_drawdowns_nb on the equity curve (the first bar is the first peak)
        if np.isnan(peak) or value_r >= peak:
            if in_dd:
                in_dd = False
                dur = i - peak_idx - 1
                if dur > max_dur:
                    max_dur = dur
            peak = value_r
            peak_idx = i
        else:
            in_dd = True
            dd = value_r / peak - 1.0
            if dd < max_dd:
                max_dd = dd
    if in_dd:
        dur = n - 1 - peak_idx
        if dur > max_dur:
            max_dur = dur
    if n_blocks > 0:
        block_out[c, blk, 0] = b1
        block_out[c, blk, 1] = b2

    # an open position at the end: a trade valued at the last close, no exit fee
    if side != 0 and want_records:
        tr = trades[ti]
        last = close[n - 1, k]
        pnl = side * (last - entry_fill) * units - entry_fee
        tr["exit_idx"] = n - 1
        tr["exit_price"] = last
        tr["exit_fees"] = 0.0
        tr["pnl"] = pnl
        tr["ret"] = pnl / (units * entry_fill)
        tr["reason"] = REASON_END
        tr["status"] = 0

    m = metrics[c]
    init_r = init_report[c]
    m[M_FINAL_VALUE] = cash + side * units * close[n - 1, k]
    m[M_FINAL_EQUITY] = value_r
    total = value_r / init_r - 1.0
    m[M_TOTAL_RETURN] = total
    m[M_CAGR] = (value_r / init_r) ** (ann_factor / n) - 1.0 if n > 0 else np.nan
    mean = s1 / n
    var = (s2 - s1 * mean) / (n - 1) if n > 1 else np.nan
    if var < 0.0:
        var = 0.0
    std = np.sqrt(var)
    if n < 2:
        m[M_SHARPE] = np.nan
        m[M_SORTINO] = np.nan
    else:
        m[M_SHARPE] = mean / std * np.sqrt(ann_factor) if std > 0.0 else np.inf
        downside = np.sqrt(down2 / n) * np.sqrt(ann_factor)
        m[M_SORTINO] = mean * ann_factor / downside if downside > 0.0 else np.inf
    m[M_MAX_DD] = 0.0 - max_dd  # a positive fraction (0.0, not -0.0, without a drawdown)
    m[M_CALMAR] = m[M_CAGR] / -max_dd if max_dd != 0.0 else np.nan
    m[M_MAX_DD_DUR] = float(max_dur) if max_dur >= 0 else np.nan
    if n_closed > 0:
        win_rate = wins / n_closed
        m[M_WIN_RATE] = win_rate
        m[M_PROFIT_FACTOR] = sum_win / abs(sum_loss) if sum_loss != 0.0 else (np.inf if sum_win > 0.0 else np.nan)
        avg_win = sum_win / wins if wins > 0 else 0.0
        avg_loss = sum_loss / losses if losses > 0 else 0.0
        m[M_EXPECTANCY] = win_rate * avg_win - (losses / n_closed) * abs(avg_loss)
    else:
        m[M_WIN_RATE] = np.nan
        m[M_PROFIT_FACTOR] = np.nan
        m[M_EXPECTANCY] = np.nan
    m[M_TRADES] = n_trades
    m[M_CLOSED] = n_closed
    m[M_LONG] = n_long
    m[M_EXPOSURE] = held_end / n
    m[M_EXPOSURE_HELD] = held_any / n
    m[M_FEES] = fees_paid
    m[M_ORDERS] = n_orders
    m[M_RET_MEAN] = mean
    m[M_RET_STD] = std
    if std > 0.0 and n > 2:
        pvar = (s2 / n - mean * mean)
        m3 = s3 / n - 3.0 * mean * s2 / n + 2.0 * mean ** 3
        m4 = s4 / n - 4.0 * mean * s3 / n + 6.0 * mean * mean * s2 / n - 3.0 * mean ** 4
        m[M_RET_SKEW] = m3 / pvar ** 1.5 if pvar > 0.0 else np.nan
        m[M_RET_KURT] = m4 / (pvar * pvar) if pvar > 0.0 else np.nan
    else:
        m[M_RET_SKEW] = np.nan
        m[M_RET_KURT] = np.nan
    m[M_BARS] = n


@njit(cache=True, parallel=True)
def simulate_nb(open_, high, low, close, signals, sl_level, tp_level, price_col, sig_col, mode, init_cash,
                init_report, report_base, fees, slippage, size, sl_stop, tp_stop, sl_trail, ann_factor, block_edges,
                want_records, order_start, trade_start, equity_bars):
    """Simulate every column; see the module docstring for the rules.

    Parameters
    ----------
    open_, high, low, close : float64 (n, k)
        Bars; column ``c`` reads price column ``price_col[c]``.
    signals : int8 (n, s)
        Signal columns (positions or acting directions); column ``c`` reads ``sig_col[c]``.
    sl_level, tp_level : float64 (n, s) or (0, 0)
        Absolute stop levels per bar of each signal column (``MODE_SIGNAL`` only; NaN: none).
    price_col, sig_col : int64 (m,)
    mode : int64 (m,)
        :data:`MODE_NEXT_OPEN`, :data:`MODE_CLOSE` or :data:`MODE_SIGNAL` per column.
    init_cash : float64 (m,)
        Starting cash in the quote currency.
    init_report : float64 (m,)
        Starting equity in the reporting currency (``init_cash``, or base units).
    report_base : bool (m,)
        Report equity in base-asset units (``value / close``).
    fees, slippage, size, sl_stop, tp_stop : float64 (m,)
        Per-column costs, sizing and stop fractions of the entry fill (NaN: no stop).
    sl_trail : bool (m,)
    ann_factor : float
        Bars per year, for the annualised metrics.
    block_edges : int64 (b + 1,)
        Bar boundaries of ``b`` contiguous blocks for the per-block return sums; empty: none.
    want_records : bool
        Write order and trade records and the equity curve.
    order_start, trade_start : int64 (m + 1,)
        Offsets of each column's records, cumulative from 0 (from a first pass's ``orders``
        and ``trades`` metrics); ignored unless ``want_records``.
    equity_bars : int64 (k,)
        Without records: increasing bar indices at which to sample each column's equity (for
        bands of many series without an (n × m) array); empty: none.

    Returns
    -------
    metrics : float64 (m, len(METRICS))
    blocks : float64 (m, b, 2)
        Sum of returns and of squared returns per block (b = 0 without blocks).
    orders : ORDER_DT records (column-major, time-ordered within a column)
    trades : TRADE_DT records (one per position, same order)
    equity : float64 (n, m) in the reporting currency with records; else (k, m) at ``equity_bars``
    """
    n = close.shape[0]
    m = price_col.shape[0]
    metrics = np.empty((m, N_METRICS), dtype=np.float64)
    n_blocks = max(block_edges.shape[0] - 1, 0)
    blocks = np.zeros((m, n_blocks, 2), dtype=np.float64)
    if want_records:
        orders = np.empty(order_start[m], dtype=ORDER_DT)
        trades = np.empty(trade_start[m], dtype=TRADE_DT)
        equity = np.empty((n, m), dtype=np.float64)
    else:
        orders = np.empty(0, dtype=ORDER_DT)
        trades = np.empty(0, dtype=TRADE_DT)
        equity = np.empty((equity_bars.shape[0], m), dtype=np.float64)
    for c in prange(m):
        _simulate_column_nb(c, open_, high, low, close, signals, sl_level, tp_level, price_col, sig_col, mode,
                            init_cash, init_report, report_base, fees, slippage, size, sl_stop, tp_stop, sl_trail,
                            ann_factor, block_edges, blocks, metrics, want_records, order_start, orders,
                            trade_start, trades, equity, equity_bars)
    return metrics, blocks, orders, trades, equity
