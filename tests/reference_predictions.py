"""Independent bar-by-bar reference simulation of SPEC §8 (plain Python: no vectorbt, no numba).

It states the rules of :func:`fuzzyvec.backtest_predictions` as a readable event loop over
the bars; the tests require the vectorbt result to equal it (equity to 1e-9, every trade).

Rules
-----
A row *acts* if its signal is long/short and its confidence >= the threshold; a bar without
a row does not act. For each bar, with ``o, h, l, c`` its prices:

1. At the open, when flat and the bar's row acts: buy (long) or short-sell the whole cash,
   fee included, at the open; the stop-loss and take-profit are the row's. (When a position
   is already open here, the row acts in its direction - it was held into this bar for
   that reason - so nothing happens and its original levels stay.)
2. With a position open (the entry bar included): the stop-loss first - long: ``o <= sl``
   fills at ``o``, else ``l <= sl`` fills at ``sl``; short: ``o >= sl`` at ``o``, else
   ``h >= sl`` at ``sl``. Only if it is not hit, the take-profit - long: ``o >= tp`` at
   ``o``, else ``h >= tp`` at ``tp``; short: ``o <= tp`` at ``o``, else ``l <= tp`` at ``tp``.
3. Still open: close at ``c`` unless the next bar's row acts in the same direction.

Fills: buys at ``price·(1 + slippage)``, sells at ``price·(1 − slippage)``; fee =
``fees × fill × units``; entry units = ``cash / (fill·(1 + fees))``. Equity at a bar's close
is ``cash + units·c`` (units < 0 when short); with ``share_class="BTC"`` the starting cash is
``init_cash·open[0]`` and the reported equity is ``equity / c``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RefTrade:
    """One position of the reference simulation."""

    direction: int  # +1 long, -1 short
    entry_bar: int
    entry_price: float  # fill, slippage included
    size: float  # units, > 0
    entry_fees: float
    stop_loss: float
    take_profit: float
    exit_bar: int = -1
    exit_price: float = float("nan")
    exit_fees: float = 0.0
    reason: str = ""  # sl, tp, close

    @property
    def pnl(self) -> float:
        """Profit in quote currency including both sides' fees."""
        return self.direction * (self.exit_price - self.entry_price) * self.size - self.entry_fees - self.exit_fees


def simulate_predictions(bars: dict[str, list[float]], rows: dict[int, tuple[str, float, float, float]], *,
                         threshold: float = 0.65, init_cash: float = 10_000.0, fees: float = 0.0,
                         slippage: float = 0.0, share_class: str = "USDT") -> tuple[list[float], list[RefTrade]]:
    """Simulate a prediction file bar by bar.

    Parameters
    ----------
    bars:
        ``{"open": [...], "high": [...], "low": [...], "close": [...]}`` (plain floats).
    rows:
        ``{bar_index: (signal, confidence, stop_loss, take_profit)}``; bars without an entry
        have no row.

    Returns
    -------
    (equity, trades)
        Equity at each bar's close in the reporting currency, and the closed positions.
    """
    o_, h_, l_, c_ = bars["open"], bars["high"], bars["low"], bars["close"]
    n = len(c_)

    def acting(i: int) -> int:
        row = rows.get(i)
        if row is None or row[0] == "neutral" or not row[1] >= threshold:
            return 0
        return 1 if row[0] == "long" else -1

    cash = init_cash * o_[0] if share_class == "BTC" else init_cash
    units = 0.0  # signed
    trade: RefTrade | None = None
    trades: list[RefTrade] = []
    equity: list[float] = []

    def close(i: int, price: float, reason: str) -> None:
        nonlocal cash, units, trade
        assert trade is not None
        if trade.direction == 1:  # sell
            fill = price * (1 - slippage)
            fee = fill * units * fees
            cash += fill * units - fee
        else:  # buy back
            fill = price * (1 + slippage)
            fee = fill * -units * fees
            cash -= fill * -units + fee
        trade.exit_bar, trade.exit_price, trade.exit_fees, trade.reason = i, fill, fee, reason
        trades.append(trade)
        units, trade = 0.0, None

    for i in range(n):
        o, h, lo, c = o_[i], h_[i], l_[i], c_[i]
        a = acting(i)
        if trade is None and a != 0:
            _, _, sl, tp = rows[i]
            fill = o * (1 + slippage) if a == 1 else o * (1 - slippage)
            size = cash / (fill * (1 + fees))
            fee = fill * size * fees
            if a == 1:
                cash -= fill * size + fee
            else:
                cash += fill * size - fee
            units = a * size
            trade = RefTrade(a, i, fill, size, fee, sl, tp)
        elif trade is not None:
            assert a == trade.direction, "a position reaches an open only when held for a same-direction row"

        if trade is not None:
            sl, tp = trade.stop_loss, trade.take_profit
            if trade.direction == 1:
                if o <= sl:
                    close(i, o, "sl")
                elif lo <= sl:
                    close(i, sl, "sl")
                elif o >= tp:
                    close(i, o, "tp")
                elif h >= tp:
                    close(i, tp, "tp")
            else:
                if o >= sl:
                    close(i, o, "sl")
                elif h >= sl:
                    close(i, sl, "sl")
                elif o <= tp:
                    close(i, o, "tp")
                elif lo <= tp:
                    close(i, tp, "tp")
        if trade is not None and (i + 1 >= n or acting(i + 1) != trade.direction):
            close(i, c, "close")

        value = cash + units * c
        equity.append(value / c if share_class == "BTC" else value)
    return equity, trades
