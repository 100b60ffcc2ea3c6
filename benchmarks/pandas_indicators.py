"""Straightforward pandas implementations of every fuzzyvec indicator type (the benchmark anchor).

Written the way a researcher writes them in a notebook: ``rolling``/``ewm``/``shift`` on
Series, ``rolling(...).apply`` where pandas has no built-in window function (mean absolute
deviation, arg-max), and a plain Python loop over numpy arrays for the recursive ones
(parabolic SAR, SuperTrend, Fisher transform). Wilder and EMA smoothing are seeded with a
simple mean as TA-Lib does, so after warm-up the values agree with fuzzyvec (the benchmark
prints the largest difference); they are not tuned for speed.

Every function takes a pandas frame with ``open, high, low, close, volume`` and the
indicator's parameters (registry names and defaults) and returns ``{output: Series}``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Out = dict[str, pd.Series]


def source(df: pd.DataFrame, name: str) -> pd.Series:
    if name == "hl2":
        return (df["high"] + df["low"]) / 2
    if name == "hlc3":
        return (df["high"] + df["low"] + df["close"]) / 3
    if name == "ohlc4":
        return (df["open"] + df["high"] + df["low"] + df["close"]) / 4
    return df[name]


def seeded_ewm(x: pd.Series, alpha: float, period: int) -> pd.Series:
    """EWM (``adjust=False``) seeded with the mean of the first ``period`` valid values."""
    first = x.first_valid_index()
    start = x.index.get_loc(first) if first is not None else len(x)
    s = x.copy()
    seed_at = start + period - 1
    if seed_at >= len(x):
        return s * np.nan
    seed = x.iloc[start:seed_at + 1].mean()
    s.iloc[:seed_at] = np.nan
    s.iloc[seed_at] = seed
    return s.ewm(alpha=alpha, adjust=False).mean()


def ema(x: pd.Series, period: int) -> pd.Series:
    """TA-Lib style EMA: seeded with the SMA of the first ``period`` values."""
    return seeded_ewm(x, 2.0 / (period + 1), period)


def wilder(x: pd.Series, period: int) -> pd.Series:
    """Wilder smoothing (alpha = 1/period) seeded with a simple mean."""
    return seeded_ewm(x, 1.0 / period, period)


def true_range(df: pd.DataFrame) -> pd.Series:
    prev = df["close"].shift(1)
    tr = pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1).max(axis=1)
    tr.iloc[0] = np.nan  # TA-Lib's true range starts at bar 1
    return tr


def atr_series(df: pd.DataFrame, period: int) -> pd.Series:
    return wilder(true_range(df), period)


# ---------------------------------------------------------------------------------------------
# indicators
# ---------------------------------------------------------------------------------------------


def rsi(df: pd.DataFrame, period: int = 14, source_: str = "close") -> Out:
    d = source(df, source_).diff()
    up = wilder(d.clip(lower=0), period)
    down = wilder(-d.clip(upper=0), period)
    total = up + down
    return {"value": (100 * up / total).where(total != 0, 0.0).where(total.notna())}


def sma(df: pd.DataFrame, period: int = 20, source_: str = "close") -> Out:
    return {"value": source(df, source_).rolling(period).mean()}


def ema_(df: pd.DataFrame, period: int = 20, source_: str = "close") -> Out:
    return {"value": ema(source(df, source_), period)}


def wma(df: pd.DataFrame, period: int = 20, source_: str = "close") -> Out:
    x = source(df, source_)
    total = sum((period - k) * x.shift(k) for k in range(period))
    return {"value": total / (period * (period + 1) / 2)}


def macd(df: pd.DataFrame, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9,
         source_: str = "close") -> Out:
    x = source(df, source_)
    slow = ema(x, slow_period)
    # TA-Lib starts both EMAs on the same bar: the fast one is seeded from x[slow - fast : slow]
    fast = ema(x.iloc[slow_period - fast_period:], fast_period).reindex(x.index)
    line = fast - slow
    signal = ema(line, signal_period)
    line = line.where(signal.notna())
    return {"line": line, "signal": signal, "histogram": line - signal}


def bbands(df: pd.DataFrame, period: int = 20, multiplier: float = 2.0, source_: str = "close") -> Out:
    x = source(df, source_)
    mid = x.rolling(period).mean()
    sd = x.rolling(period).std(ddof=0)
    return {"upper": mid + multiplier * sd, "middle": mid, "lower": mid - multiplier * sd}


def bbwidth(df: pd.DataFrame, period: int = 20, multiplier: float = 2.0, source_: str = "close") -> Out:
    b = bbands(df, period, multiplier, source_)
    return {"value": (b["upper"] - b["lower"]) / b["middle"]}


def atr(df: pd.DataFrame, period: int = 14) -> Out:
    return {"value": atr_series(df, period)}


def adx(df: pd.DataFrame, period: int = 14) -> Out:
    up = df["high"].diff()
    down = -df["low"].diff()
    plus_dm = up.where((up > down) & (up > 0), 0.0)
    minus_dm = down.where((down > up) & (down > 0), 0.0)
    tr = true_range(df)

    def smooth(s: pd.Series) -> pd.Series:
        # Wilder smoothing from bar 1, seeded with the mean of bars 1..period-1 (TA-Lib's seed
        # is their sum; DI is a ratio of two smoothed series, so the difference fades out)
        s = s.copy()
        s.iloc[0] = np.nan
        return seeded_ewm(s, 1.0 / period, period - 1)

    atr_ = smooth(tr)
    plus_di = 100 * smooth(plus_dm) / atr_
    minus_di = 100 * smooth(minus_dm) / atr_
    plus_di.iloc[:period] = np.nan
    minus_di.iloc[:period] = np.nan
    dx = 100 * (plus_di - minus_di).abs() / (plus_di + minus_di)
    return {"adx": wilder(dx, period), "plus_di": plus_di, "minus_di": minus_di}


def stochastic(df: pd.DataFrame, k_period: int = 14, smooth_k: int = 3, d_period: int = 3) -> Out:
    hh = df["high"].rolling(k_period).max()
    ll = df["low"].rolling(k_period).min()
    fast_k = (100 * (df["close"] - ll) / (hh - ll)).where(hh != ll, 0.0).where(hh.notna())
    k = fast_k.rolling(smooth_k).mean()
    d = k.rolling(d_period).mean()
    return {"k": k.where(d.notna()), "d": d}


def williamsr(df: pd.DataFrame, period: int = 14) -> Out:
    hh = df["high"].rolling(period).max()
    ll = df["low"].rolling(period).min()
    return {"value": (-100 * (hh - df["close"]) / (hh - ll)).where(hh != ll, 0.0).where(hh.notna())}


def cci(df: pd.DataFrame, period: int = 20) -> Out:
    tp = (df["high"] + df["low"] + df["close"]) / 3
    mean = tp.rolling(period).mean()
    mad = tp.rolling(period).apply(lambda w: np.abs(w - w.mean()).mean(), raw=True)
    return {"value": (tp - mean) / (0.015 * mad)}


def mfi(df: pd.DataFrame, period: int = 14) -> Out:
    tp = (df["high"] + df["low"] + df["close"]) / 3
    flow = tp * df["volume"]
    change = tp.diff()
    pos = flow.where(change > 0, 0.0).rolling(period).sum()
    neg = flow.where(change < 0, 0.0).rolling(period).sum()
    out = 100 * pos / (pos + neg)
    out.iloc[:period] = np.nan
    return {"value": out}


def roc(df: pd.DataFrame, period: int = 10, source_: str = "close") -> Out:
    return {"value": source(df, source_).pct_change(period) * 100}


def momentum(df: pd.DataFrame, period: int = 10, source_: str = "close") -> Out:
    return {"value": source(df, source_).diff(period)}


def obv(df: pd.DataFrame) -> Out:
    sign = np.sign(df["close"].diff()).fillna(0)
    return {"value": (sign * df["volume"]).cumsum() + df["volume"].iloc[0]}


def adline(df: pd.DataFrame) -> Out:
    h, lo, c = df["high"], df["low"], df["close"]
    mfm = (((c - lo) - (h - c)) / (h - lo)).where(h != lo, 0.0)
    return {"value": (mfm * df["volume"]).cumsum()}


def aroon(df: pd.DataFrame, period: int = 14) -> Out:
    # bars since the highest high / lowest low of the last period + 1 bars (ties: most recent)
    since_hi = df["high"].rolling(period + 1).apply(lambda w: np.argmax(w[::-1]), raw=True)
    since_lo = df["low"].rolling(period + 1).apply(lambda w: np.argmin(w[::-1]), raw=True)
    up = 100 * (period - since_hi) / period
    down = 100 * (period - since_lo) / period
    return {"up": up, "down": down, "oscillator": up - down}


def parabolicsar(df: pd.DataFrame, acceleration: float = 0.02, maximum: float = 0.2) -> Out:
    high = df["high"].to_numpy()
    low = df["low"].to_numpy()
    n = len(high)
    out = np.full(n, np.nan)
    if n < 2:
        return {"value": pd.Series(out, index=df.index)}
    down_move = low[0] - low[1]
    up_move = high[1] - high[0]
    is_long = not (down_move > 0 and up_move < down_move)
    af = acceleration
    ep, sar = (high[1], low[0]) if is_long else (low[1], high[0])
    for i in range(1, n):
        prev_high, prev_low = high[i - 1], low[i - 1]
        if is_long:
            if low[i] <= sar:  # reversal to short
                is_long = False
                sar = max(ep, prev_high, high[i])
                out[i] = sar
                af = acceleration
                ep = low[i]
                sar = max(sar + af * (ep - sar), prev_high, high[i])
            else:
                out[i] = sar
                if high[i] > ep:
                    ep = high[i]
                    af = min(af + acceleration, maximum)
                sar = min(sar + af * (ep - sar), prev_low, low[i])
        else:
            if high[i] >= sar:  # reversal to long
                is_long = True
                sar = min(ep, prev_low, low[i])
                out[i] = sar
                af = acceleration
                ep = high[i]
                sar = min(sar + af * (ep - sar), prev_low, low[i])
            else:
                out[i] = sar
                if low[i] < ep:
                    ep = low[i]
                    af = min(af + acceleration, maximum)
                sar = max(sar + af * (ep - sar), prev_high, high[i])
    return {"value": pd.Series(out, index=df.index)}


def donchian(df: pd.DataFrame, period: int = 20) -> Out:
    upper = df["high"].rolling(period).max()
    lower = df["low"].rolling(period).min()
    return {"upper": upper, "middle": (upper + lower) / 2, "lower": lower}


def keltner(df: pd.DataFrame, period: int = 20, atr_period: int = 10, multiplier: float = 2.0) -> Out:
    mid = ema(df["close"], period)
    band = multiplier * atr_series(df, atr_period)
    lb = max(period - 1, atr_period)
    mid = mid.copy()
    mid.iloc[:lb] = np.nan
    return {"upper": mid + band, "middle": mid, "lower": mid - band}


def supertrend(df: pd.DataFrame, period: int = 10, multiplier: float = 3.0) -> Out:
    atr_ = atr_series(df, period)
    hl2 = (df["high"] + df["low"]) / 2
    basic_up = (hl2 + multiplier * atr_).to_numpy()
    basic_lo = (hl2 - multiplier * atr_).to_numpy()
    close = df["close"].to_numpy()
    n = len(close)
    trend = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    if period >= n:
        return {"trend": pd.Series(trend, index=df.index), "direction": pd.Series(direction, index=df.index)}
    f_up, f_lo, d = basic_up[period], basic_lo[period], 1.0
    trend[period], direction[period] = f_lo, d
    for i in range(period + 1, n):
        up = basic_up[i] if (basic_up[i] < f_up or close[i - 1] > f_up) else f_up
        lo = basic_lo[i] if (basic_lo[i] > f_lo or close[i - 1] < f_lo) else f_lo
        if close[i] > f_up:
            d = 1.0
        elif close[i] < f_lo:
            d = -1.0
        f_up, f_lo = up, lo
        trend[i] = f_lo if d > 0 else f_up
        direction[i] = d
    return {"trend": pd.Series(trend, index=df.index), "direction": pd.Series(direction, index=df.index)}


def vwap(df: pd.DataFrame, period: int = 20) -> Out:
    tp = (df["high"] + df["low"] + df["close"]) / 3
    return {"value": (tp * df["volume"]).rolling(period).sum() / df["volume"].rolling(period).sum()}


def cmf(df: pd.DataFrame, period: int = 21) -> Out:
    h, lo, c, v = df["high"], df["low"], df["close"], df["volume"]
    mfv = (((c - lo) - (h - c)) / (h - lo)).where(h != lo, 0.0) * v
    return {"value": mfv.rolling(period).sum() / v.rolling(period).sum()}


def zscore(df: pd.DataFrame, period: int = 20, source_: str = "close") -> Out:
    x = source(df, source_)
    r = x.rolling(period)
    return {"value": (x - r.mean()) / r.std(ddof=0)}


def distancefromma(df: pd.DataFrame, period: int = 20, ma_type: str = "sma", source_: str = "close") -> Out:
    x = source(df, source_)
    ma = x.rolling(period).mean() if ma_type == "sma" else ema(x, period)
    return {"value": (x - ma) / ma * 100}


def volumeratio(df: pd.DataFrame, period: int = 20) -> Out:
    v = df["volume"]
    return {"value": v / v.rolling(period).mean()}


def rvi(df: pd.DataFrame, period: int = 10, signal_period: int = 4) -> Out:
    co = df["close"] - df["open"]
    hl = df["high"] - df["low"]
    num = (co + 2 * co.shift(1) + 2 * co.shift(2) + co.shift(3)) / 6
    den = (hl + 2 * hl.shift(1) + 2 * hl.shift(2) + hl.shift(3)) / 6
    value = num.rolling(period).mean() / den.rolling(period).mean()
    w = [min(k + 1, signal_period - k) for k in range(signal_period)]  # 1, 2, 2, 1 for 4
    signal = sum(wk * value.shift(k) for k, wk in enumerate(w)) / sum(w)
    return {"rvi": value, "signal": signal}


def fisher(df: pd.DataFrame, period: int = 10) -> Out:
    mid = (df["high"] + df["low"]) / 2
    hh = mid.rolling(period).max()  # Ehlers: extremes of the midpoint series
    ll = mid.rolling(period).min()
    raw = (2 * ((mid - ll) / (hh - ll) - 0.5)).where(hh != ll, 0.0).to_numpy()
    out = np.full(len(raw), np.nan)
    v = f = 0.0
    for i in range(period - 1, len(raw)):
        v = min(max(0.33 * raw[i] + 0.67 * v, -0.999), 0.999)
        f = 0.5 * np.log((1 + v) / (1 - v)) + 0.5 * f
        out[i] = f
    fish = pd.Series(out, index=df.index)
    return {"fisher": fish, "signal": fish.shift(1)}


def squeeze(df: pd.DataFrame, bb_period: int = 20, bb_mult: float = 2.0, kc_period: int = 20,
            kc_mult: float = 1.5) -> Out:
    sd = df["close"].rolling(bb_period).std(ddof=0)
    atr_ = atr_series(df, kc_period)
    return {"value": 1 - (bb_mult * sd) / (kc_mult * atr_)}


def ichimoku(df: pd.DataFrame, tenkan: int = 9, kijun: int = 26, senkou_b: int = 52) -> Out:
    def midpoint(m: int) -> pd.Series:
        return (df["high"].rolling(m).max() + df["low"].rolling(m).min()) / 2

    tk, kj = midpoint(tenkan), midpoint(kijun)
    return {"tenkan": tk, "kijun": kj, "senkou_a": (tk + kj) / 2, "senkou_b": midpoint(senkou_b)}


#: indicator type -> pandas implementation
PANDAS_INDICATORS: dict[str, Callable[..., Out]] = {
    "rsi": rsi, "sma": sma, "ema": ema_, "wma": wma, "macd": macd, "bbands": bbands, "bbwidth": bbwidth,
    "atr": atr, "adx": adx, "stochastic": stochastic, "williamsr": williamsr, "cci": cci, "mfi": mfi,
    "roc": roc, "momentum": momentum, "obv": obv, "adline": adline, "aroon": aroon,
    "parabolicsar": parabolicsar, "donchian": donchian, "keltner": keltner, "supertrend": supertrend,
    "vwap": vwap, "cmf": cmf, "zscore": zscore, "distancefromma": distancefromma,
    "volumeratio": volumeratio, "rvi": rvi, "fisher": fisher, "squeeze": squeeze, "ichimoku": ichimoku,
}


def compute(type_name: str, df: pd.DataFrame, params: dict) -> Out:
    """Run the pandas implementation of ``type_name`` with registry-style ``params``."""
    kwargs = {("source_" if k == "source" else k): v for k, v in params.items()}
    return PANDAS_INDICATORS[type_name](df, **kwargs)
