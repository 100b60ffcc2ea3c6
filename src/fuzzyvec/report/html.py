"""The self-contained ``report.html`` of a run (SPEC §7, Reports).

:func:`write_report` writes one HTML file that opens offline: plotly.js is embedded once in
the ``<head>``, each figure is a ``<section>`` with an ``id``, and the file is written
atomically. :func:`build_report` makes every figure from the pipeline's objects with the
builders of :mod:`fuzzyvec.report.figures` (re-exported here: ``fuzzyvec.report.html.price_figure`` & co.).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs

from ..io_utils import atomic_write_text
from .figures import (
    PLOT_CONFIG,
    _pct,
    _x,
    confusion_figure,
    equity_figure,
    membership_figure,
    price_figure,
    training_figure,
)

__all__ = [
    "build_report",
    "confusion_figure",
    "equity_figure",
    "membership_figure",
    "price_figure",
    "training_figure",
    "write_report",
]


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:1.5em} header p{margin:0;color:#c9ced8}
nav{padding:8px 28px;background:#e8ebf0;font-size:.9em} nav a{margin-right:14px;color:#1d4ed8}
main{padding:8px 28px 40px} section{background:#fff;border-radius:6px;margin:16px 0;padding:10px 14px;
box-shadow:0 1px 3px rgba(0,0,0,.12)} section h2{font-size:1.1em;margin:4px 0 6px}
table.summary{border-collapse:collapse;margin:6px 0 10px;font-size:.92em}
table.summary th,table.summary td{border-bottom:1px solid #e3e6eb;padding:4px 12px;text-align:left}
table.summary td.num{text-align:right;font-variant-numeric:tabular-nums}
#report-errors{background:#fde2e2;color:#8b0000;padding:10px 28px;white-space:pre-wrap}
"""

# Shows any JavaScript error (a figure that failed to render) at the top of the page.
ERROR_HOOK = """
window.__reportErrors=[];
function __showReportErrors(){var d=document.getElementById("report-errors");
 if(d&&window.__reportErrors.length){d.hidden=false;d.textContent=window.__reportErrors.join("\\n");}}
window.addEventListener("error",function(e){window.__reportErrors.push("JavaScript error: "+e.message);__showReportErrors();});
window.addEventListener("unhandledrejection",function(e){window.__reportErrors.push("JavaScript error: "+
 (e.reason&&e.reason.message?e.reason.message:e.reason));__showReportErrors();});
document.addEventListener("DOMContentLoaded",__showReportErrors);
"""


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "figure"
    slug, n = base, 1
    while slug in used:
        n += 1
        slug = f"{base}-{n}"
    used.add(slug)
    return slug


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return "–"
        return f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _cell(v: Any) -> str:
    cls = ' class="num"' if isinstance(v, int | float | np.number) and not isinstance(v, bool) else ""
    return f"<td{cls}>{html.escape(_fmt(v))}</td>"


def _summary_html(summary: Mapping[str, Any] | None) -> str:
    """Scalars as a two-column table; mapping values (e.g. per symbol) as a table with a column per key."""
    if not summary:
        return ""
    scalars = {k: v for k, v in summary.items() if not isinstance(v, Mapping)}
    nested = {k: v for k, v in summary.items() if isinstance(v, Mapping)}
    parts = []
    if scalars:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in scalars.items())
        parts.append(f'<table class="summary">{rows}</table>')
    if nested:
        cols: list[str] = []
        for v in nested.values():
            cols += [str(c) for c in v if str(c) not in cols]
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
        body = "".join(
            f"<tr><th>{html.escape(str(k))}</th>"
            + "".join(_cell({str(a): b for a, b in v.items()}.get(c)) for c in cols) + "</tr>"
            for k, v in nested.items())
        parts.append(f'<table class="summary">{head}{body}</table>')
    return '<section id="summary"><h2>Summary</h2>' + "".join(parts) + "</section>"


def write_report(
    path: str | Path,
    *,
    title: str,
    figures: Mapping[str, go.Figure] | Sequence[go.Figure],
    summary: Mapping[str, Any] | None = None,
    subtitle: str | None = None,
) -> Path:
    """Write one self-contained HTML report (opens offline; plotly.js embedded once).

    Parameters
    ----------
    path:
        The ``.html`` file to write (atomically: a failure leaves no partial file).
    title:
        Page title and header (e.g. the strategy name).
    figures:
        ``{section heading: figure}``, or a list of figures (headings from their titles).
        Each becomes ``<section id=...>`` with the id slugged from the heading
        (``"Price BTCUSDT"`` → ``price-btcusdt``; list items → ``figure-1``, ``figure-2`` ...).
    summary:
        Header table: ``{label: value}``; a mapping value (e.g. ``{symbol: value}``) puts the
        row in a second table with one column per key. Floats are shown with 4 significant
        digits; pass strings for anything pre-formatted (percentages).
    subtitle:
        A line under the title (e.g. the strategy's description).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    named = isinstance(figures, Mapping)
    items = list(figures.items()) if named else [(f"figure {i}", f) for i, f in enumerate(figures, 1)]
    used: set[str] = {"summary", "report-errors"}
    sections, links = [], []
    for heading, fig in items:
        sid = _slug(heading, used)
        div = fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"{sid}-plot", config=PLOT_CONFIG)
        shown = heading if named else (fig.layout.title.text or heading)
        sections.append(f'<section id="{sid}"><h2>{html.escape(str(shown))}</h2>{div}</section>')
        links.append(f'<a href="#{sid}">{html.escape(str(shown))}</a>')
    from .. import __version__

    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<meta name=\"generator\" content=\"fuzzyvec {__version__}\">\n"
        f"<style>{CSS}</style>\n<script type=\"text/javascript\">{ERROR_HOOK}</script>\n"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1>{sub}</header>\n"
        '<div id="report-errors" role="alert" hidden></div>\n'
        f"<nav>{''.join(links)}</nav>\n<main>\n{_summary_html(summary)}\n" + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )

    return atomic_write_text(path, doc)


def build_report(path: str | Path, *, spec: Any, evaluation: Any, bundle: Any,
                 baselines: Mapping[str, Any] | None = None) -> Path:
    """All five figures from the pipeline's objects, written by :func:`write_report`.

    Parameters
    ----------
    path:
        Where to write ``report.html``.
    spec:
        The :class:`~fuzzyvec.strategy.grammar.Strategy`.
    evaluation:
        :func:`fuzzyvec.research.pipeline.evaluate`'s :class:`~fuzzyvec.research.pipeline.EvaluationResult`.
    bundle:
        The :class:`~fuzzyvec.model.bundle.ModelBundle` (metrics and training history).
    baselines:
        Optional ``{symbol: Baselines}``: buy-and-hold and the random-entry band under the equity
        curve, and the random baseline's p-values in the summary.

    Returns
    -------
    pathlib.Path
        ``path``. Sections: ``price-{symbol}`` and ``memberships-{symbol}`` per symbol,
        ``equity``, ``confusion``, ``training``.
    """
    from ..features.frame import resolve_features

    bt = evaluation.backtest
    schema = resolve_features(spec)
    figures: dict[str, go.Figure] = {}
    for sym, bars in evaluation.bars.items():
        figures[f"Price {sym}"] = price_figure(bars, bt.trades, symbol=sym)
    figures["Equity"] = equity_figure(bt.equity, bt.stats, baselines=baselines)
    feats = evaluation.features
    for sym, bars in evaluation.bars.items():
        lo, hi = bars["timestamp"].min(), bars["timestamp"].max()
        rows = feats.filter(pl.col("timestamp").is_between(lo, hi))
        if "symbol" in rows.columns:
            rows = rows.filter(pl.col("symbol") == sym)
        figures[f"Memberships {sym}"] = membership_figure(rows, schema, symbol=sym if "symbol" in rows.columns else None)
    metrics = bundle.metrics or {}
    if metrics.get("test", {}).get("confusion_matrix") is not None:
        figures["Confusion"] = confusion_figure(metrics)
    figures["Training"] = training_figure(metrics.get("history") or [], metrics.get("best_epoch"))

    bm = bt.metrics()
    per_symbol = {
        "Total return": {s: _pct(m.get("total_return")) for s, m in bm.items()},
        "Buy & hold": {s: _pct(m.get("buy_and_hold_return")) for s, m in bm.items()},
        "Sharpe": {s: m.get("sharpe") for s, m in bm.items()},
        "Max drawdown": {s: _pct(m.get("max_drawdown")) for s, m in bm.items()},
        "Trades": {s: m.get("trades") for s, m in bm.items()},
        "Win rate": {s: _pct(m.get("win_rate")) for s, m in bm.items()},
        "Profit factor": {s: m.get("profit_factor") for s, m in bm.items()},
        "Fees paid": {s: m.get("fees_paid") for s, m in bm.items()},
        "Final equity": {s: m.get("final_equity") for s, m in bm.items()},
    }
    if baselines:
        rnd = {s: b.random for s, b in baselines.items()}
        per_symbol["Random entries: median return"] = {s: _pct(r["total_return"]["median"]) for s, r in rnd.items()}
        per_symbol["p-value vs random (return)"] = {s: r["p_value"]["total_return"] for s, r in rnd.items()}
        per_symbol["p-value vs random (Sharpe)"] = {s: r["p_value"]["sharpe"] for s, r in rnd.items()}
    test = metrics.get("test") or {}
    summary: dict[str, Any] = {
        "Strategy": spec.name,
        "Symbols / timeframes": f"{', '.join(spec.symbols)} / {', '.join(spec.timeframes)} (base {spec.base_timeframe})",
    }
    if bt.stats.height:
        start, end = (_x(bt.stats[c].head(1))[0] if isinstance(bt.stats[c].dtype, pl.Datetime)
                      else str(bt.stats[c][0]) for c in ("start", "end"))
        summary["Backtest period (UTC)"] = f"{start} → {end} ({bt.stats['bars'][0]:,} bars)"
    summary["Test accuracy"] = test.get("accuracy")
    summary["Test macro F1"] = test.get("f1_macro")
    if metrics.get("best_epoch") is not None:
        summary["Best epoch"] = f"{metrics['best_epoch']} of {metrics.get('epochs_run') or len(metrics.get('history') or [])}"
    summary.update(per_symbol)
    return write_report(path, title=f"{spec.name} - fuzzyvec report", figures=figures, summary=summary,
                        subtitle=getattr(spec, "description", None) or None)
