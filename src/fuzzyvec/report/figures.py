"""Plotly figures of a run (SPEC §7, Reports); :mod:`fuzzyvec.report.html` puts them in ``report.html``.

This module only *draws* what it is given: bars, trades, equity, features, metrics and the
training history. It computes no positions, signals or trades.

- :func:`price_figure` - candlesticks with trade entry/exit markers,
- :func:`equity_figure` - equity curve(s) and percent drawdown,
- :func:`membership_figure` - fuzzy memberships over time, one subplot per fuzzy set × timeframe,
- :func:`confusion_figure` - the test confusion matrix (counts and row percentages),
- :func:`training_figure` - loss and accuracy per epoch with the best epoch marked.

Long series are thinned for display only (the data are untouched): candlesticks are
aggregated to at most ``max_candles`` candles (said in the title) and lines keep each
bucket's first, last, minimum and maximum points, so peaks and troughs survive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

__all__ = [
    "confusion_figure",
    "equity_figure",
    "membership_figure",
    "price_figure",
    "training_figure",
]

TEMPLATE = "plotly_white"
GREEN, RED, GREY = "#2ca02c", "#d62728", "#7f7f7f"
MAX_CANDLES = 5_000
MAX_POINTS = 5_000
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _x(ts: pl.Series) -> list[str]:
    """Timestamps as compact UTC strings plotly reads as dates."""
    if isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_zone is not None:
        ts = ts.dt.convert_time_zone("UTC")
    return ts.dt.strftime("%Y-%m-%d %H:%M:%S").to_list()


def _f64(s: pl.Series | Sequence[Any]) -> np.ndarray:
    if isinstance(s, pl.Series):
        return s.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return np.array([np.nan if v is None else v for v in s], dtype=np.float64)


def _decimate(max_points: int, *series: np.ndarray) -> np.ndarray:
    """Row indices to draw: all rows, or per bucket the first/last and each series' min/max."""
    n = len(series[0]) if series else 0
    if n <= max_points or not series:
        return np.arange(n)
    buckets = max(1, max_points // (2 + 2 * len(series)))
    size = math.ceil(n / buckets)
    pad = buckets * size - n
    starts = np.arange(buckets) * size
    idx = [starts, np.minimum(starts + size - 1, n - 1), np.array([n - 1])]
    for y in series:
        y = np.concatenate([np.asarray(y, np.float64), np.full(pad, np.nan)]).reshape(buckets, size)
        nan = np.isnan(y)
        idx.append(starts + np.where(nan, np.inf, y).argmin(axis=1))
        idx.append(starts + np.where(nan, -np.inf, y).argmax(axis=1))
    out = np.unique(np.concatenate(idx))
    return out[out < n]


def _pick(frames: pl.DataFrame | Mapping[str, pl.DataFrame], symbol: str | None) -> tuple[pl.DataFrame, str | None]:
    """One symbol's frame from a frame or a ``{symbol: frame}`` mapping."""
    if isinstance(frames, pl.DataFrame):
        if "symbol" in frames.columns:
            symbol = symbol if symbol is not None else frames["symbol"][0]
            return frames.filter(pl.col("symbol") == symbol), symbol
        return frames, symbol
    if symbol is None:
        if len(frames) != 1:
            raise ValueError(f"several symbols {list(frames)}: pass symbol=")
        symbol = next(iter(frames))
    if symbol not in frames:
        raise KeyError(f"symbol {symbol!r} not in {list(frames)}")
    return frames[symbol], symbol


def _aggregate_ohlc(bars: pl.DataFrame, k: int) -> pl.DataFrame:
    """Consecutive groups of ``k`` bars as one candle (first open, max high, min low, last close)."""
    return (
        bars.with_row_index("_row")
        .group_by(pl.col("_row") // k, maintain_order=True)
        .agg(pl.col("timestamp").first(), pl.col("open").first(), pl.col("high").max(),
             pl.col("low").min(), pl.col("close").last())
    )


def _pct(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.2f} %"


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def price_figure(
    bars: pl.DataFrame | Mapping[str, pl.DataFrame],
    trades: pl.DataFrame | None,
    symbol: str | None = None,
    *,
    max_candles: int = MAX_CANDLES,
) -> go.Figure:
    """Candlesticks with trade entries and exits.

    Parameters
    ----------
    bars:
        OHLC bars (``timestamp, open, high, low, close``) of one symbol, or ``{symbol: bars}``.
    trades:
        The backtest's trades frame (``direction, entry_time, exit_time, entry_price,
        exit_price, pnl, return, exit_reason``; rows of other symbols are ignored when it has
        a ``symbol`` column and ``symbol`` is known). ``None`` draws bars only.
    symbol:
        Which symbol to draw (needed when ``bars`` maps several).
    max_candles:
        Above this many bars, consecutive bars are merged into at most ``max_candles``
        candles for display (the title says so); markers keep their exact time and price.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: ``price`` (candlestick), ``long entry`` (▲ green), ``short entry`` (▼ red),
        ``exit (profit)`` / ``exit (loss)`` (✕, by P&L sign); the marker traces hold one
        point per trade.
    """
    frame, symbol = _pick(bars, symbol)
    n = frame.height
    k = max(1, math.ceil(n / max_candles)) if max_candles > 0 else 1
    shown = _aggregate_ohlc(frame, k) if k > 1 else frame
    note = f"{n:,} bars" + (f", shown as {shown.height:,} candles of {k} bars" if k > 1 else "")
    fig = go.Figure(go.Candlestick(
        x=_x(shown["timestamp"]), open=shown["open"].to_numpy(), high=shown["high"].to_numpy(),
        low=shown["low"].to_numpy(), close=shown["close"].to_numpy(), name="price",
        increasing_line_color="#26a69a", decreasing_line_color="#ef5350", showlegend=False,
    ))
    if trades is not None and trades.height:
        if symbol is not None and "symbol" in trades.columns:
            trades = trades.filter(pl.col("symbol") == symbol)
        pnl = _f64(trades["pnl"])
        ret = _f64(trades["return"]) if "return" in trades.columns else np.full(trades.height, np.nan)
        reason = trades["exit_reason"].to_list() if "exit_reason" in trades.columns else [""] * trades.height
        custom = np.column_stack([pnl, 100 * ret, np.array(reason, dtype=object),
                                  np.array(trades["direction"].to_list(), dtype=object)])
        for side, symbol_name, colour in (("long", "triangle-up", GREEN), ("short", "triangle-down", RED)):
            m = (trades["direction"] == side).to_numpy()
            fig.add_trace(go.Scatter(
                x=_x(trades["entry_time"].filter(pl.Series(m))), y=_f64(trades["entry_price"])[m],
                mode="markers", name=f"{side} entry", customdata=custom[m],
                marker={"symbol": symbol_name, "color": colour, "size": 11, "line": {"width": 1, "color": "black"}},
                hovertemplate=("%{customdata[3]} entry<br>%{x}<br>price %{y:,.4f}<br>"
                               "trade P&L %{customdata[0]:,.2f} (%{customdata[1]:.2f} %)<extra></extra>"),
            ))
        for label, m, colour in (("exit (profit)", pnl > 0, GREEN), ("exit (loss)", ~(pnl > 0), RED)):
            fig.add_trace(go.Scatter(
                x=_x(trades["exit_time"].filter(pl.Series(m))), y=_f64(trades["exit_price"])[m],
                mode="markers", name=label, customdata=custom[m],
                marker={"symbol": "x", "color": colour, "size": 9, "line": {"width": 1, "color": "black"}},
                hovertemplate=("%{customdata[3]} exit (%{customdata[2]})<br>%{x}<br>price %{y:,.4f}<br>"
                               "P&L %{customdata[0]:,.2f} (%{customdata[1]:.2f} %)<extra></extra>"),
            ))
    title = f"{symbol + ' ' if symbol else ''}price and trades ({note})"
    fig.update_layout(title=title, template=TEMPLATE, height=520, xaxis_rangeslider_visible=False,
                      xaxis_title="time (UTC)", yaxis_title="price", hovermode="closest",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    return fig


def equity_figure(equity: pl.DataFrame, stats: pl.DataFrame | None = None, *,
                  max_points: int = MAX_POINTS, baselines: Mapping[str, Any] | None = None) -> go.Figure:
    """Equity curve(s) and the percent drawdown below each curve's running peak.

    Parameters
    ----------
    equity:
        ``timestamp`` then one equity column per symbol (the backtest's ``equity`` frame).
    stats:
        Optional stats frame (``symbol``, ``total_return``, ``max_drawdown`` ...): shown in the
        legend names.
    max_points:
        Longer curves are thinned for display, keeping each bucket's extremes.
    baselines:
        Optional ``{symbol: Baselines}`` (:func:`fuzzyvec.backtest.baselines.baselines`): the
        symbol's buy-and-hold equity (dashed) and the 5–95 % band of its random-entry series
        are drawn under its curve.

    Returns
    -------
    plotly.graph_objects.Figure
        Row 1: one equity line per symbol (over buy-and-hold and the random band when given);
        row 2: one drawdown line (%, ≤ 0) per symbol.
    """
    cols = [c for c in equity.columns if c != "timestamp"]
    info: dict[str, str] = {}
    if stats is not None and "symbol" in stats.columns:
        for row in stats.iter_rows(named=True):
            info[str(row["symbol"])] = (f" ({_pct(row.get('total_return'))}, "
                                        f"max DD {_pct(row.get('max_drawdown'))})")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.68, 0.32])
    palette = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    for i, col in enumerate(cols):
        eq = _f64(equity[col])
        peak = np.fmax.accumulate(np.where(np.isnan(eq), -np.inf, eq))
        dd = np.where(np.isfinite(peak) & (peak > 0), 100.0 * (eq / peak - 1.0), np.nan)
        idx = _decimate(max_points, eq, dd)
        x = _x(equity["timestamp"].gather(idx))
        colour = palette[i % len(palette)]
        base = (baselines or {}).get(col)
        if base is not None:
            band = base.band
            bx = _x(band["timestamp"])
            n_rand = base.random.get("n_series", 0)
            if n_rand:
                fig.add_trace(go.Scatter(x=bx, y=_f64(band["p95"]), mode="lines", line={"width": 0}, legendgroup=col,
                                         showlegend=False, hoverinfo="skip"), row=1, col=1)
                fig.add_trace(go.Scatter(x=bx, y=_f64(band["p5"]), mode="lines", line={"width": 0}, fill="tonexty",
                                         fillcolor="rgba(127,127,127,0.18)", legendgroup=col,
                                         name=f"{col} random entries, 5-95 % ({n_rand:,} series)",
                                         hovertemplate="random 5 %%: %{y:,.2f}<extra></extra>"), row=1, col=1)
            fig.add_trace(go.Scatter(x=bx, y=_f64(band["buy_and_hold"]), mode="lines", legendgroup=col,
                                     name=f"{col} buy and hold ({_pct(base.buy_and_hold.get('total_return'))})",
                                     line={"color": "#7f7f7f", "width": 1, "dash": "dash"},
                                     hovertemplate="buy and hold %{y:,.2f}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=eq[idx], mode="lines", name=f"{col}{info.get(col, '')}", legendgroup=col,
                                 line={"color": colour, "width": 1.5},
                                 hovertemplate=f"{col}<br>%{{x}}<br>equity %{{y:,.2f}}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=dd[idx], mode="lines", name=f"{col} drawdown", legendgroup=col,
                                 showlegend=False, fill="tozeroy", line={"color": colour, "width": 1},
                                 hovertemplate=f"{col}<br>%{{x}}<br>drawdown %{{y:.2f}} %<extra></extra>"),
                      row=2, col=1)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown (%)", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(title="Equity and drawdown", template=TEMPLATE, height=560, hovermode="x unified",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    return fig


def membership_figure(features: pl.DataFrame, schema: Any, symbol: str | None = None,
                      last_n: int | None = None, *, max_points: int = MAX_POINTS) -> go.Figure:
    """Fuzzy memberships over time: one subplot per fuzzy set × timeframe, a line per membership.

    Parameters
    ----------
    features:
        The feature frame (``timestamp`` [``symbol``] then feature columns).
    schema:
        The :class:`~fuzzyvec.features.frame.FeatureSchema` (``resolve_features(spec)``): only its
        lag-0 ``fuzzy`` features are drawn.
    symbol:
        Which symbol's rows (default: the first) when ``features`` has a ``symbol`` column.
    last_n:
        Draw only the last ``last_n`` rows.
    max_points:
        Longer series are thinned for display, keeping each bucket's extremes.

    Returns
    -------
    plotly.graph_objects.Figure
        One line per lag-0 fuzzy column, named by its membership; y axes span [0, 1].
    """
    frame, symbol = _pick(features, symbol)
    if last_n is not None:
        frame = frame.tail(last_n)
    groups: dict[tuple[str, str], list[Any]] = {}
    for f in schema.features:
        if f.kind == "fuzzy" and f.lag == 0:
            groups.setdefault((f.timeframe, f.source), []).append(f)
    if not groups:
        fig = go.Figure()
        fig.update_layout(title="Memberships (the strategy has no fuzzy inputs)", template=TEMPLATE, height=200)
        return fig
    keys = list(groups)
    fig = make_subplots(rows=len(keys), cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.3 / len(keys)),
                        subplot_titles=[f"{tf} {src}" for tf, src in keys])
    palette = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
    for r, key in enumerate(keys, start=1):
        feats = groups[key]
        ys = [_f64(frame[f.name]) for f in feats]
        idx = _decimate(max_points, *ys)
        x = _x(frame["timestamp"].gather(idx))
        for j, (f, y) in enumerate(zip(feats, ys, strict=True)):
            fig.add_trace(go.Scatter(x=x, y=y[idx], mode="lines", name=f"{f.membership}",
                                     legendgroup=f"{key}", legendgrouptitle_text=f"{key[0]} {key[1]}" if j == 0 else None,
                                     line={"color": palette[j % len(palette)], "width": 1.2},
                                     hovertemplate=f"{f.name}<br>%{{x}}<br>μ = %{{y:.3f}}<extra></extra>"),
                          row=r, col=1)
        fig.update_yaxes(range=[-0.02, 1.02], title_text="μ", row=r, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=len(keys), col=1)
    where = f" of {symbol}" if symbol else ""
    fig.update_layout(title=f"Fuzzy memberships{where} ({frame.height:,} bars)", template=TEMPLATE,
                      height=140 + 170 * len(keys), hovermode="x unified", legend={"groupclick": "toggleitem"})
    return fig


def confusion_figure(metrics: Mapping[str, Any], split: str = "test") -> go.Figure:
    """Annotated heatmap of a confusion matrix (rows = true class, columns = predicted).

    Parameters
    ----------
    metrics:
        The bundle's metrics (``{"test": {"confusion_matrix", "class_names", "accuracy"...}}``)
        or one split's dict itself.
    split:
        Which split to draw when ``metrics`` holds several.

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap whose ``z`` is the matrix of counts; each cell reads the count and its
        percentage of the row (the recall of the true class on the diagonal).
    """
    m = metrics if "confusion_matrix" in metrics else metrics[split]
    cm = np.asarray(m["confusion_matrix"], dtype=np.int64)
    names = list(m.get("class_names") or [str(i) for i in range(cm.shape[0])])
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    text = [[f"{cm[i, j]:,}<br>{pct[i, j]:.1f} %" for j in range(cm.shape[1])] for i in range(cm.shape[0])]
    fig = go.Figure(go.Heatmap(
        z=cm.tolist(), x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        customdata=pct.round(2).tolist(), name="confusion", colorbar={"title": {"text": "count"}},
        hovertemplate="true %{y}, predicted %{x}<br>%{z:,} rows (%{customdata:.1f} % of true %{y})<extra></extra>",
    ))
    acc = m.get("accuracy")
    extra = f" - accuracy {acc:.3f}" if isinstance(acc, float) and math.isfinite(acc) else ""
    if m.get("f1_macro") is not None:
        extra += f", macro F1 {m['f1_macro']:.3f}"
    fig.update_layout(title=f"Confusion matrix ({split}, {int(cm.sum()):,} rows){extra}", template=TEMPLATE,
                      height=480, width=None, xaxis_title="predicted", yaxis_title="true",
                      yaxis={"autorange": "reversed", "scaleanchor": "x"}, xaxis={"side": "bottom"})
    return fig


def training_figure(history: Sequence[Mapping[str, Any]], best_epoch: int | None = None) -> go.Figure:
    """Train/validation loss and accuracy per epoch, the best epoch marked.

    Parameters
    ----------
    history:
        Per-epoch records (``epoch, train_loss, train_accuracy, val_loss, val_accuracy``).
    best_epoch:
        The epoch whose weights were kept; default: the lowest validation loss.

    Returns
    -------
    plotly.graph_objects.Figure
        Left: train and validation loss; right: train and validation accuracy; a star on the
        best epoch's validation loss and a dashed line through both panels.
    """
    epochs = np.array([r.get("epoch", i + 1) for i, r in enumerate(history)], dtype=np.int64)

    def col(key: str) -> np.ndarray:
        return _f64([r.get(key) for r in history])

    val_loss = col("val_loss")
    if best_epoch is None and np.isfinite(val_loss).any():
        best_epoch = int(epochs[np.nanargmin(val_loss)])
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "accuracy"], horizontal_spacing=0.1)
    for c, metric in ((1, "loss"), (2, "accuracy")):
        for split, colour, dash in (("train", "#1f77b4", "solid"), ("val", "#ff7f0e", "dash")):
            fig.add_trace(go.Scatter(x=epochs, y=col(f"{split}_{metric}"), mode="lines+markers",
                                     name=f"{'validation' if split == 'val' else 'train'} {metric}",
                                     line={"color": colour, "dash": dash}), row=1, col=c)
    if best_epoch is not None and len(history):
        hit = np.flatnonzero(epochs == best_epoch)
        y = float(val_loss[hit[0]]) if hit.size else float("nan")
        fig.add_trace(go.Scatter(x=[best_epoch], y=[y], mode="markers", name=f"best epoch ({best_epoch})",
                                 marker={"symbol": "star", "size": 15, "color": "gold",
                                         "line": {"width": 1, "color": "black"}}), row=1, col=1)
        for c in (1, 2):
            fig.add_vline(x=best_epoch, line_dash="dot", line_color=GREY, row=1, col=c)
    fig.update_xaxes(title_text="epoch", dtick=max(1, math.ceil(len(history) / 20)))
    fig.update_layout(title=f"Training curves ({len(history)} epochs)", template=TEMPLATE, height=440,
                      hovermode="x unified")
    return fig
