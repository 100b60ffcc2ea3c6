"""The feature frame of ``strategies/v3_test_example.yaml``, written directly in pandas.

This is what a researcher would write by hand for that one strategy (the benchmark anchor
for :func:`fuzzyvec.build_features`): RSI(14) and Bollinger width(20, 2) on 5m bars, RSI(14)
and the MACD(12, 26, 9) histogram on 1h bars, triangular/trapezoidal memberships with numpy,
the 1h block joined onto the 5m bars with ``merge_asof`` on bar completion times, and one
lag. The benchmark asserts that the result equals fuzzyvec's frame to ~1e-9, so both sides
compute the same thing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIVE_MIN = pd.Timedelta(minutes=5)
ONE_HOUR = pd.Timedelta(hours=1)

# the strategy's fuzzy sets, copied from the YAML
RSI_FAST = {"oversold": (0, 20, 35), "neutral": (30, 50, 70), "overbought": (65, 80, 100)}
BB_SQUEEZE = {"tight": (0.0, 0.0, 0.01), "wide": (0.005, 0.03, 0.03)}
MACD_MOMENTUM = {"negative": (-1000, -1000, -5, 0), "positive": (0, 5, 1000, 1000)}


def seeded_ewm(x: pd.Series, alpha: float, period: int) -> pd.Series:
    """EWM (adjust=False) seeded with the mean of the first ``period`` valid values (TA-Lib)."""
    start = x.index.get_loc(x.first_valid_index())
    seed_at = start + period - 1
    s = x.copy()
    s.iloc[:seed_at] = np.nan
    s.iloc[seed_at] = x.iloc[start:seed_at + 1].mean()
    return s.ewm(alpha=alpha, adjust=False).mean()


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    d = close.diff()
    up = seeded_ewm(d.clip(lower=0), 1 / period, period)
    down = seeded_ewm(-d.clip(upper=0), 1 / period, period)
    total = up + down
    return (100 * up / total).where(total != 0, 0.0).where(total.notna())


def bbwidth(close: pd.Series, period: int = 20, mult: float = 2.0) -> pd.Series:
    mid = close.rolling(period).mean()
    # pandas' rolling std keeps running sums over the whole series and loses ~1e-6 relative
    # precision on quiet windows at BTC price levels; numpy's two-pass std over the windows
    # is exact enough for the 1e-9 comparison
    windows = np.lib.stride_tricks.sliding_window_view(close.to_numpy(), period)
    sd = pd.Series(np.nan, index=close.index)
    sd.iloc[period - 1:] = windows.std(axis=1)
    return ((mid + mult * sd) - (mid - mult * sd)) / mid


def macd_histogram(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.Series:
    ema_slow = seeded_ewm(close, 2 / (slow + 1), slow)
    # TA-Lib starts both EMAs on bar slow-1; the fast one is seeded with x[slow-fast:slow]
    ema_fast = seeded_ewm(close.iloc[slow - fast:], 2 / (fast + 1), fast).reindex(close.index)
    line = ema_fast - ema_slow
    sig = seeded_ewm(line, 2 / (signal + 1), signal)
    return line - sig


def triangular(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Triangle; ``a == b`` is a left shoulder, ``b == c`` a right shoulder."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.ones_like(x) if a == b else (x - a) / (b - a)
        fall = np.ones_like(x) if b == c else (c - x) / (c - b)
    y = np.clip(np.where(x <= b, rise, fall), 0.0, 1.0)
    return np.where(np.isnan(x), np.nan, y)


def trapezoidal(x: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """Trapezoid; ``a == b`` is a left shoulder, ``c == d`` a right shoulder."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.ones_like(x) if a == b else (x - a) / (b - a)
        fall = np.ones_like(x) if c == d else (d - x) / (d - c)
    y = np.clip(np.where(x < b, rise, np.where(x > c, fall, 1.0)), 0.0, 1.0)
    return np.where(np.isnan(x), np.nan, y)


def resample_1h(bars_5m: pd.DataFrame) -> pd.DataFrame:
    """1h bars from 5m bars: left-closed, left-labelled; empty and incomplete hours dropped."""
    h = (bars_5m.set_index("timestamp")
         .resample("1h", label="left", closed="left")
         .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
         .dropna(subset=["open"]))
    last_complete = bars_5m["timestamp"].iloc[-1] + FIVE_MIN
    return h[h.index + ONE_HOUR <= last_complete].reset_index()


def features(bars_5m: pd.DataFrame, bars_1h: pd.DataFrame) -> pd.DataFrame:
    """The feature frame: ``timestamp`` then the 11 features and their lag-1 copies."""
    f5 = pd.DataFrame({"timestamp": bars_5m["timestamp"]})
    rsi5 = rsi(bars_5m["close"]).to_numpy()
    for name, p in RSI_FAST.items():
        f5[f"5m_rsi_fast_{name}"] = triangular(rsi5, *p)

    rsi1h = rsi(bars_1h["close"]).to_numpy()
    hist1h = macd_histogram(bars_1h["close"]).to_numpy()
    f1h = pd.DataFrame({"complete": bars_1h["timestamp"] + ONE_HOUR})
    for name, p in RSI_FAST.items():
        f1h[f"1h_rsi_fast_{name}"] = triangular(rsi1h, *p)
    for name, p in MACD_MOMENTUM.items():
        f1h[f"1h_macd_momentum_{name}"] = trapezoidal(hist1h, *p)

    bbw = bbwidth(bars_5m["close"]).to_numpy()
    for name, p in BB_SQUEEZE.items():
        f5[f"5m_bb_squeeze_{name}"] = triangular(bbw, *p)
    f5["5m_rsi_14_raw"] = rsi5

    # a 5m bar (complete at t + 5m) sees the last 1h bar complete by then
    f5["complete"] = f5["timestamp"] + FIVE_MIN
    frame = pd.merge_asof(f5, f1h, on="complete", direction="backward").drop(columns="complete")

    order = ([f"5m_rsi_fast_{m}" for m in RSI_FAST] + [f"1h_rsi_fast_{m}" for m in RSI_FAST]
             + [f"5m_bb_squeeze_{m}" for m in BB_SQUEEZE] + [f"1h_macd_momentum_{m}" for m in MACD_MOMENTUM]
             + ["5m_rsi_14_raw"])
    block = frame[order]
    lagged = block.shift(1).add_suffix("_lag1")
    return pd.concat([frame[["timestamp"]], block, lagged], axis=1)
