"""The speed-limit anchor of the sweep benchmark: a lean numba kernel doing the sweep's work and nothing else.

One ``prange`` over (threshold, stop-loss, take-profit) combinations; per combination one pass
over the bars with the whole state in local variables: the decision from the bar's
probabilities (argmax with a confidence threshold; BUY → long, SELL → short), the next-open
fill of the previous bar's decision with reversal, stop-loss / take-profit from the entry bar
on (stop-loss first, gaps at the open), fees and slippage on every fill, the equity at each
close, and a running Sharpe (sum and sum of squares of the returns) and maximum drawdown. No
records, no validation, no configuration objects: what an expert writes by hand for one
fixed grid. The benchmark checks that its final equity equals fuzzyvec's sweep for the same
grid (decisions without position awareness), so both do the same work.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def lean_sweep_nb(open_, high, low, close, probs, thresholds, sl, tp, fees, slippage, init_cash, ann_factor):
    """(combinations, 3): final equity, annualised Sharpe, max drawdown of each (thr, sl, tp)."""
    n = close.shape[0]
    n_thr, n_sl, n_tp = thresholds.shape[0], sl.shape[0], tp.shape[0]
    m = n_thr * n_sl * n_tp
    out = np.empty((m, 3))
    for j in prange(m):
        thr = thresholds[j // (n_sl * n_tp)]
        sl_d = sl[(j // n_tp) % n_sl]
        tp_d = tp[j % n_tp]
        cash = init_cash
        side = 0
        units = 0.0
        sl_px = 0.0
        tp_px = 0.0
        decided = 0
        target_prev = 0
        prev_value = init_cash
        s1 = 0.0
        s2 = 0.0
        peak = -1.0
        max_dd = 0.0
        for i in range(n):
            o = open_[i]
            target = decided
            if target != target_prev:
                if side != 0 and side != target:
                    fill = o * (1.0 - slippage) if side > 0 else o * (1.0 + slippage)
                    cash += side * fill * units - fill * units * fees
                    side = 0
                if target != 0 and side == 0 and cash > 0.0:
                    fill = o * (1.0 + slippage) if target > 0 else o * (1.0 - slippage)
                    units = cash / (fill * (1.0 + fees))
                    cash -= target * fill * units + fill * units * fees
                    side = target
                    sl_px = fill * (1.0 - side * sl_d)
                    tp_px = fill * (1.0 + side * tp_d)
            target_prev = target
            if side != 0:
                px = -1.0
                if side > 0:
                    if o <= sl_px:
                        px = o
                    elif low[i] <= sl_px:
                        px = sl_px
                    elif o >= tp_px:
                        px = o
                    elif high[i] >= tp_px:
                        px = tp_px
                else:
                    if o >= sl_px:
                        px = o
                    elif high[i] >= sl_px:
                        px = sl_px
                    elif o <= tp_px:
                        px = o
                    elif low[i] <= tp_px:
                        px = tp_px
                if px > 0.0:
                    fill = px * (1.0 - slippage) if side > 0 else px * (1.0 + slippage)
                    cash += side * fill * units - fill * units * fees
                    side = 0
            value = cash + side * units * close[i]
            r = value / prev_value - 1.0
            prev_value = value
            s1 += r
            s2 += r * r
            if value > peak:
                peak = value
            elif value / peak - 1.0 < max_dd:
                max_dd = value / peak - 1.0
            # the decision of this bar (acts at the next open)
            p0, p1, p2 = probs[i, 0], probs[i, 1], probs[i, 2]
            if p0 == p0 and p1 == p1 and p2 == p2:
                best, conf = 0, p0
                if p1 > conf:
                    best, conf = 1, p1
                if p2 > conf:
                    best, conf = 2, p2
                if conf >= thr:
                    if best == 0:
                        decided = 1
                    elif best == 2:
                        decided = -1
        mean = s1 / n
        std = np.sqrt((s2 - s1 * mean) / (n - 1))
        out[j, 0] = prev_value
        out[j, 1] = mean / std * np.sqrt(ann_factor) if std > 0 else np.nan
        out[j, 2] = -max_dd
    return out
