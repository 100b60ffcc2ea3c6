"""Trade for trade against backtesting.py 0.6.6 (SPEC §7): the oracle for stop semantics.

The same position series run through fuzzyvec's engine and through a backtesting.py strategy
that trades at the next open (``trade_on_close=False``) on each change of the decided position,
with absolute stop-loss / take-profit prices derived from that next open (the entry fill: no
fees, no slippage). Every closed trade must agree: entry bar, exit bar, side, entry and exit
price — including stops touched on the entry bar itself, which backtesting.py checks (its
market orders' contingent SL/TP orders are processed on the fill bar).

backtesting.py refuses an order whose SL/TP are on the wrong side of the *current* close
(it validates against the last price, not the next open it will fill at). Those entries are
removed from the position series before both runs, and counted.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from fuzzyvec.backtest.engine import backtest

from .test_backtest import random_positions

backtesting = pytest.importorskip("backtesting", minversion="0.6.6")

N = 2500


def _comparable(pos: np.ndarray, opens: np.ndarray, closes: np.ndarray, sl: float | None,
                tp: float | None) -> tuple[np.ndarray, int]:
    """Positions without entries whose levels backtesting.py would refuse; (positions, removed)."""
    pos = pos.copy()
    removed = 0
    changed = True
    while changed:
        changed = False
        for i in range(len(pos) - 1):
            before = pos[i - 1] if i else 0
            want = pos[i]
            if want == before or want == 0:
                continue
            entry, last = opens[i + 1], closes[i]
            lo = entry * (1 - want * sl) if sl else None
            hi = entry * (1 + want * tp) if tp else None
            if want > 0:
                ok = (lo is None or lo < last) and (hi is None or last < hi)
            else:
                ok = (lo is None or last < lo) and (hi is None or hi < last)
            if not ok:
                pos[i] = before
                removed += 1
                changed = True
    return pos, removed


def _run_backtesting_py(bars: pl.DataFrame, pos: np.ndarray, sl: float | None, tp: float | None):
    from backtesting import Backtest, Strategy

    opens = bars["open"].to_numpy()
    n = len(pos)

    class FollowPositions(Strategy):
        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            if i + 1 >= n:
                return
            want, before = pos[i], pos[i - 1] if i else 0
            if want == before:
                return  # positions are edges: after a stop the column stays flat
            if self.position:
                self.position.close()
            if want != 0:
                entry = opens[i + 1]
                kw = {}
                if sl:
                    kw["sl"] = entry * (1 - want * sl)
                if tp:
                    kw["tp"] = entry * (1 + want * tp)
                (self.buy if want > 0 else self.sell)(size=1 - 1e-10, **kw)

    df = bars.to_pandas().set_index("timestamp")
    df.index = df.index.tz_localize(None)
    df.columns = [c.capitalize() for c in df.columns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # whole units (backtesting.py rounds sizes down): a large account keeps every order non-empty
        bt = Backtest(df, FollowPositions, cash=1e9, commission=0.0, spread=0.0, trade_on_close=False,
                      exclusive_orders=False)
        return bt.run()._trades


# (market, stop-loss, take-profit, sides)
CASES = [
    ("eurusd", 0.002, None, "both"),
    ("eurusd", None, 0.003, "both"),
    ("eurusd", 0.002, 0.003, "both"),
    ("eurusd", 0.001, 0.0015, "longonly"),
    ("btc", 0.004, 0.006, "both"),
    ("btc", 0.002, 0.002, "shortonly"),
    ("btc", 0.0015, None, "longonly"),
    ("btc", None, None, "both"),
    ("btc", 0.001, 0.001, "both"),  # tight: many stops on the entry bar itself
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_every_closed_trade_equals_backtesting_py(case, eurusd_1h, btc_5m):
    market, sl, tp, sides = case
    bars = (eurusd_1h if market == "eurusd" else btc_5m).head(N)
    pos = random_positions(N, seed=CASES.index(case) + 100)
    if sides == "longonly":
        pos = np.clip(pos, 0, 1).astype(np.int8)
    elif sides == "shortonly":
        pos = np.clip(pos, -1, 0).astype(np.int8)
    pos[:3] = 0  # backtesting.py's first next() call is on the second bar
    pos, removed = _comparable(pos, bars["open"].to_numpy(), bars["close"].to_numpy(), sl, tp)
    assert removed <= 0.05 * N  # only the gapped entries are excluded

    ours = backtest(bars, pos, fees=0.0, slippage=0.0, sl_stop=sl, tp_stop=tp).trades
    ours = ours.filter(pl.col("status") == "closed")
    theirs = _run_backtesting_py(bars, pos, sl, tp)
    assert ours.height == len(theirs) > 50
    assert ours["entry_bar"].to_list() == theirs["EntryBar"].tolist()
    assert ours["exit_bar"].to_list() == theirs["ExitBar"].tolist()
    assert ours["direction"].to_list() == ["long" if s > 0 else "short" for s in theirs["Size"]]
    np.testing.assert_allclose(ours["entry_price"].to_numpy(), theirs["EntryPrice"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours["exit_price"].to_numpy(), theirs["ExitPrice"].to_numpy(), rtol=1e-12)
    if sl or tp:  # the cases really exercise stops, on entry bars too
        stopped = ours.filter(pl.col("exit_reason").is_in(["sl", "tp"]))
        assert stopped.height > 5
        on_entry_bar = int((stopped["entry_bar"] == stopped["exit_bar"]).sum())
        if sl == 0.001:
            assert on_entry_bar >= 10, on_entry_bar
