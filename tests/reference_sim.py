"""Independent bar-by-bar reference simulation of SPEC §7 (plain Python: no vectorbt, no numba).

It states the execution rules of :mod:`fuzzyvec.backtest.engine` as a readable event loop; the tests
require the engine's equity curve and trades to equal this one to 1e-9.

Rules, for each bar ``i`` in order
----------------------------------
``target`` is the position to hold after the bar's execution: ``positions[i-1]`` (flat on
bar 0) with ``execution="next_open"``, ``positions[i]`` with ``execution="close"``. The
side ``direction`` forbids is read as flat. A trade happens only where ``target`` changes.

next_open
    1. ``target`` changed: close the open position (if any, and of the other side) at the
       open, then enter ``target`` (if not flat) at the open.
    2. with a position open - one entered at this open included (it is live from the
       open, as in backtesting.py) - check its stops on this bar.
close
    1. with a position open (entered at an earlier close): check its stops on this bar.
    2. ``target`` changed: close what is still open at the close, then enter ``target``
       (if not flat) at the close - also on a bar where a stop exit just happened.

Stop check (long; a short mirrors it): the stop-loss first - level ``base·(1 − sl)``,
``base`` = the entry fill (or, trailing, the highest high seen since the entry, updated
*after* each bar's check); the bar's open at or below the level fills at the open (a gap),
else a low at or below it fills at the level. Only if the stop-loss is not hit, the
take-profit: level ``entry_fill·(1 + tp)``; an open at or above it fills at the open, else a
high at or above it fills at the level.

Fills: buying at ``price·(1 + slippage)``, selling at ``price·(1 − slippage)``; fees are
``fees × fill × units``. An entry spends ``size × cash`` including its fee:
``units = size·cash / (fill·(1 + fees))`` (long and short alike; the column is flat, so cash
is the equity). Equity at each bar is ``cash + units·close`` (units < 0 when short).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RefTrade:
    """One round trip of the reference simulation."""

    direction: int  # +1 long, -1 short
    entry_bar: int
    entry_price: float  # fill, slippage included
    size: float  # units, > 0
    entry_fees: float
    exit_bar: int = -1
    exit_price: float = float("nan")
    exit_fees: float = 0.0
    reason: str = "end"  # signal, sl, tp, trail, end

    @property
    def pnl(self) -> float:
        """Profit including both sides' fees."""
        return self.direction * (self.exit_price - self.entry_price) * self.size - self.entry_fees - self.exit_fees


@dataclass
class RefResult:
    """Equity per bar (at the close), the trades, and the bars spent in a position."""

    equity: list[float] = field(default_factory=list)
    trades: list[RefTrade] = field(default_factory=list)
    in_position: list[bool] = field(default_factory=list)


def simulate(open_, high, low, close, positions, *, init_cash=10_000.0, fees=0.001, slippage=0.0005,
             size=1.0, sl_stop=None, tp_stop=None, sl_trail=False, direction="both",
             execution="next_open") -> RefResult:
    """Run the reference simulation over sequences of floats; see the module docstring."""
    n = len(close)
    allowed = {"both": (-1, 0, 1), "longonly": (0, 1), "shortonly": (-1, 0)}[direction]
    decided = [int(p) if int(p) in allowed else 0 for p in positions]

    out = RefResult()
    cash = float(init_cash)
    trade: RefTrade | None = None
    base = 0.0  # stop-loss reference price (entry fill, or the trailing extreme)

    def enter(i: int, price: float, side: int) -> None:
        nonlocal cash, trade, base
        fill = price * (1 + slippage) if side > 0 else price * (1 - slippage)
        budget = size * cash
        units = budget / (fill * (1 + fees))
        fee = fill * units * fees
        cash -= side * fill * units + fee
        trade = RefTrade(side, i, fill, units, fee)
        base = fill

    def leave(i: int, price: float, reason: str) -> None:
        nonlocal cash, trade
        assert trade is not None
        side = trade.direction
        fill = price * (1 - slippage) if side > 0 else price * (1 + slippage)
        fee = fill * trade.size * fees
        cash += side * fill * trade.size - fee
        trade.exit_bar, trade.exit_price, trade.exit_fees, trade.reason = i, fill, fee, reason
        out.trades.append(trade)
        trade = None

    def check_stops(i: int) -> None:
        nonlocal base
        assert trade is not None
        side, o, h, lo = trade.direction, open_[i], high[i], low[i]
        hit, reason = None, None
        if sl_stop is not None:
            level = base * (1 - side * sl_stop)
            if (side > 0 and o <= level) or (side < 0 and o >= level):
                hit = o
            elif lo <= level <= h:
                hit = level
            reason = "trail" if sl_trail else "sl"
        if hit is None and tp_stop is not None:
            level = trade.entry_price * (1 + side * tp_stop)
            if (side > 0 and o >= level) or (side < 0 and o <= level):
                hit = o
            elif lo <= level <= h:
                hit = level
            reason = "tp"
        if hit is not None:
            leave(i, hit, reason)
        elif sl_trail:
            base = max(base, h) if side > 0 else min(base, lo)

    prev_target = 0
    for i in range(n):
        if execution == "next_open":
            target = decided[i - 1] if i > 0 else 0
            if target != prev_target:
                if trade is not None and trade.direction != target:
                    leave(i, open_[i], "signal")
                if target != 0 and trade is None:
                    enter(i, open_[i], target)
            if trade is not None:  # the entry bar included: the position is live from the open
                check_stops(i)
        else:
            target = decided[i]
            if trade is not None:
                check_stops(i)
            if target != prev_target:
                if trade is not None and trade.direction != target:
                    leave(i, close[i], "signal")
                if target != 0 and trade is None:
                    enter(i, close[i], target)
        prev_target = target
        units = 0.0 if trade is None else trade.direction * trade.size
        out.equity.append(cash + units * close[i])
        out.in_position.append(trade is not None)

    if trade is not None:  # still open: valued at the last close, no exit fee
        trade.exit_bar, trade.exit_price, trade.reason = n - 1, close[n - 1], "end"
        out.trades.append(trade)
    return out
