"""The plain-Python anchor of the predictions benchmark: a prediction file simulated bar by bar.

The same SPEC §8 rules as :func:`fuzzyvec.backtest_predictions` (see
``src/fuzzyvec/backtest/predictions.py``), written as the event loop a user without fuzzyvec would
write: bars and prediction rows go into Python lists and a dict, then one pass over the bars.

- A row *acts* when its signal is long/short and ``confidence >= threshold``; a bar without
  a row does not act.
- Open: flat and the bar's row acts → enter at the open, all the cash, entry fee included
  (``units = cash / (fill·(1 + fees))``), with the row's stop-loss and take-profit. A
  position still open here was held into this bar for a same-direction row: kept, original
  levels.
- Stops on every bar a position is open (the entry bar too), stop-loss first; a level is
  touched when the low/high reaches it; the fill is the level, or the open when the bar
  opens beyond it.
- Close: a position neither stop closed is closed at the close unless the next bar's row
  acts in the same direction (the last bar always closes).
- Fills move adversely by ``slippage`` (buys ×(1 + s), sells ×(1 − s)); fee = ``fees`` ×
  fill × units. Equity at each close: ``cash + units·close`` (units < 0 when short).

Nothing here imports fuzzyvec, vectorbt or numba; the benchmark checks that the final
equity (and the trade count) agree with fuzzyvec's.
"""

from __future__ import annotations

import math
from typing import Any


def rows_by_bar(bar_times: list[Any], pred_times: list[Any], signals: list[str], confidence: list[float],
                stop_loss: list[float | None], take_profit: list[float | None]) -> dict[int, tuple]:
    """``{bar index: (direction, confidence, stop_loss, take_profit)}`` from prediction columns.

    ``direction`` is +1 (long), -1 (short) or 0 (neutral); rows are matched to bars by
    timestamp (a row whose timestamp is not a bar's open time is skipped).
    """
    where = {t: i for i, t in enumerate(bar_times)}
    code = {"long": 1, "short": -1, "neutral": 0}
    out: dict[int, tuple] = {}
    for t, s, c, sl, tp in zip(pred_times, signals, confidence, stop_loss, take_profit, strict=True):
        i = where.get(t)
        if i is not None:
            out[i] = (code[s], c, sl, tp)
    return out


def run_predictions(open_: list[float], high: list[float], low: list[float], close: list[float],
                    rows: dict[int, tuple], *, threshold: float = 0.65, init_cash: float = 10_000.0,
                    fees: float = 0.0, slippage: float = 0.0) -> dict[str, Any]:
    """Simulate the prediction rows over the bars; returns final equity, equity curve and trades."""
    n = len(close)
    acting = [0] * (n + 1)  # acting[n] = 0: the last bar always closes
    for i, (d, conf, _, _) in rows.items():
        if d != 0 and conf >= threshold:
            acting[i] = d
    cash = float(init_cash)
    side = 0  # +1 long, -1 short, 0 flat
    units = 0.0  # > 0
    sl = tp = math.nan
    equity = [0.0] * n
    trades: list[tuple[int, int, int, float, float, str]] = []  # direction, entry bar, exit bar, entry, exit, reason
    entry_bar, entry_fill = -1, math.nan
    buy, sell = 1.0 + slippage, 1.0 - slippage

    for i in range(n):
        o = open_[i]
        if side == 0 and acting[i] != 0:
            side = acting[i]
            _, _, sl, tp = rows[i]
            fill = o * buy if side == 1 else o * sell
            units = cash / (fill * (1.0 + fees))
            cash -= side * fill * units + fill * units * fees
            entry_bar, entry_fill = i, fill
        if side != 0:
            price = math.nan
            reason = ""
            if side == 1:
                if o <= sl:
                    price, reason = o, "sl"
                elif low[i] <= sl:
                    price, reason = sl, "sl"
                elif o >= tp:
                    price, reason = o, "tp"
                elif high[i] >= tp:
                    price, reason = tp, "tp"
            else:
                if o >= sl:
                    price, reason = o, "sl"
                elif high[i] >= sl:
                    price, reason = sl, "sl"
                elif o <= tp:
                    price, reason = o, "tp"
                elif low[i] <= tp:
                    price, reason = tp, "tp"
            if not reason and acting[i + 1] != side:
                price, reason = close[i], "close"
            if reason:
                fill = price * sell if side == 1 else price * buy
                cash += side * fill * units - fill * units * fees
                trades.append((side, entry_bar, i, entry_fill, fill, reason))
                side, units = 0, 0.0
        equity[i] = cash + side * units * close[i]
    return {"final_equity": equity[-1], "equity": equity, "trades": trades}
