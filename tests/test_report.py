"""Report figures and ``report.html`` (SPEC §7, Reports).

Figures are built from real pipeline objects (two months of bundled BTCUSDT 5m bars, two
epochs); the HTML is checked for self-containment, atomic writing and, in headless Debian
chromium, for every figure actually rendering without a JavaScript error.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from plotly.offline import get_plotlyjs

import fuzzyvec as fv
from fuzzyvec.features.frame import resolve_features
from fuzzyvec.report.html import (
    build_report,
    confusion_figure,
    equity_figure,
    membership_figure,
    price_figure,
    training_figure,
    write_report,
)
from fuzzyvec.research.pipeline import evaluate, fit

from .conftest import REPO_ROOT, STRATEGIES_DIR

CHROMIUM = Path("/usr/bin/chromium")
SECTION_IDS = ("summary", "price-btcusdt", "equity", "memberships-btcusdt", "confusion", "training")
FIGURE_IDS = SECTION_IDS[1:]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Strategy, bundle, evaluation (test period) and a written report."""
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    data = fv.load_strategy_data(spec, start="2023-03-01", end="2023-05-01")
    bundle = fit(spec, data, epochs=2)
    ev = evaluate(spec, bundle, data, start=bundle.metadata["date_ranges"]["test"]["start"])
    path = build_report(tmp_path_factory.mktemp("report") / "report.html", spec=spec, evaluation=ev, bundle=bundle)
    return {"spec": spec, "bundle": bundle, "ev": ev, "path": path}


def _points(fig: go.Figure, name: str) -> int:
    return sum(len(t.x) for t in fig.data if t.name == name)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def test_price_figure_has_one_marker_per_trade(run):
    bars, trades = run["ev"].bars["BTCUSDT"], run["ev"].backtest.trades
    assert trades.height > 0
    fig = price_figure(bars, trades, symbol="BTCUSDT")
    candles = [t for t in fig.data if isinstance(t, go.Candlestick)]
    assert len(candles) == 1 and len(candles[0].x) == bars.height  # below the limit: every bar
    n_long = int((trades["direction"] == "long").sum())
    assert _points(fig, "long entry") == n_long
    assert _points(fig, "short entry") == trades.height - n_long
    assert _points(fig, "exit (profit)") + _points(fig, "exit (loss)") == trades.height
    assert _points(fig, "exit (profit)") == int((trades["pnl"] > 0).sum())
    longs = next(t for t in fig.data if t.name == "long entry")
    assert longs.marker.symbol == "triangle-up"
    np.testing.assert_allclose(longs.y, trades.filter(pl.col("direction") == "long")["entry_price"].to_numpy())
    exits = [t for t in fig.data if t.name.startswith("exit")]
    assert all("P&L" in t.hovertemplate and "%{customdata[2]}" in t.hovertemplate for t in exits)
    assert sorted(r for t in exits for r in t.customdata[:, 2]) == sorted(trades["exit_reason"].to_list())
    # a {symbol: bars} mapping with one symbol needs no symbol argument
    assert len(price_figure({"BTCUSDT": bars}, None).data) == 1


def test_price_figure_aggregates_long_series_for_display(btc_5m):
    trades = pl.DataFrame({
        "symbol": ["BTCUSDT", "ETHUSDT"], "direction": ["short", "long"],
        "entry_time": btc_5m["timestamp"].gather([100, 200]), "exit_time": btc_5m["timestamp"].gather([150, 250]),
        "entry_price": [1.0, 2.0], "exit_price": [0.5, 3.0], "pnl": [5.0, 1.0], "return": [0.5, 0.5],
        "exit_reason": ["tp", "signal"],
    })
    fig = price_figure(btc_5m, trades, symbol="BTCUSDT", max_candles=2_000)
    candle = fig.data[0]
    assert len(candle.x) <= 2_000 and "candles of" in fig.layout.title.text
    assert max(candle.high) == btc_5m["high"].max() and min(candle.low) == btc_5m["low"].min()
    assert _points(fig, "short entry") == 1 and _points(fig, "long entry") == 0  # ETHUSDT row ignored
    assert list(next(t for t in fig.data if t.name == "short entry").y) == [1.0]  # exact price kept


def test_equity_figure_curves_and_drawdown(run):
    bt = run["ev"].backtest
    fig = equity_figure(bt.equity, bt.stats)
    assert len(fig.data) == 2  # equity + drawdown for the one symbol
    eq, dd = fig.data
    np.testing.assert_allclose(eq.y, bt.equity["BTCUSDT"].to_numpy())
    assert np.nanmax(dd.y) <= 1e-12
    assert np.nanmin(dd.y) == pytest.approx(-100 * bt.stats["max_drawdown"][0], rel=1e-9)
    assert dd.yaxis == "y2" and "max DD" in eq.name


def test_equity_figure_thins_long_curves_keeping_extremes():
    n = 50_000
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(t0, t0 + timedelta(minutes=5 * (n - 1)), "5m", eager=True, time_zone="UTC")
    y = 1_000 + np.random.default_rng(0).standard_normal(n).cumsum()
    fig = equity_figure(pl.DataFrame({"timestamp": ts, "A": y}), max_points=3_000)
    assert len(fig.data[0].y) <= 3_000
    assert max(fig.data[0].y) == y.max() and min(fig.data[0].y) == y.min()


def test_membership_figure_one_line_per_lag0_fuzzy_column(run):
    schema = resolve_features(run["spec"])
    fuzzy = [f for f in schema.features if f.kind == "fuzzy" and f.lag == 0]
    assert len(fuzzy) == 10 and any(f.kind == "fuzzy" and f.lag == 1 for f in schema.features)
    feats = run["ev"].features
    fig = membership_figure(feats, schema, last_n=1_000)
    assert len(fig.data) == len(fuzzy)
    assert [t.name for t in fig.data] == [f.membership for f in fuzzy]
    assert {t.hovertemplate.split("<br>")[0] for t in fig.data} == {f.name for f in fuzzy}
    assert len(fig.layout.annotations) == len({(f.timeframe, f.source) for f in fuzzy})  # subplot titles
    for t in fig.data:
        assert len(t.x) == 1_000
        y = np.asarray(t.y, dtype=float)
        assert np.nanmin(y) >= 0.0 and np.nanmax(y) <= 1.0
    assert all(list(ax.range) == [-0.02, 1.02] for ax in (fig.layout.yaxis, fig.layout.yaxis4))


def test_confusion_figure_is_the_test_matrix(run):
    metrics = run["bundle"].metrics
    fig = confusion_figure(metrics)
    (hm,) = fig.data
    cm = metrics["test"]["confusion_matrix"]
    assert [list(r) for r in hm.z] == cm
    assert list(hm.x) == list(hm.y) == ["BUY", "HOLD", "SELL"]
    row = np.asarray(cm[0], float)
    assert hm.text[0][0] == f"{cm[0][0]:,}<br>{100 * row[0] / row.sum():.1f} %"
    assert [list(r) for r in confusion_figure(metrics["validation"], split="validation").data[0].z] == \
        metrics["validation"]["confusion_matrix"]


def test_training_figure_curves_and_best_epoch(run):
    m = run["bundle"].metrics
    fig = training_figure(m["history"], m["best_epoch"])
    by_name = {t.name: t for t in fig.data}
    for key, name in (("train_loss", "train loss"), ("val_loss", "validation loss"),
                      ("train_accuracy", "train accuracy"), ("val_accuracy", "validation accuracy")):
        np.testing.assert_allclose(by_name[name].y, [r[key] for r in m["history"]])
    best = by_name[f"best epoch ({m['best_epoch']})"]
    assert list(best.x) == [m["best_epoch"]]
    assert len(fig.layout.shapes) == 2  # the dashed line in both panels
    # default best epoch: the lowest validation loss
    hist = [{"epoch": e, "train_loss": 1.0, "val_loss": v} for e, v in ((1, 0.9), (2, 0.5), (3, 0.7))]
    assert list(training_figure(hist).data[-1].x) == [2]


def test_report_module_computes_no_positions():
    for path in (REPO_ROOT / "src" / "fuzzyvec" / "report").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m.split(".")[0] for m in imported} & {"backtest", "research", "model"}, path


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def test_report_html_is_self_contained(run):
    text = run["path"].read_text(encoding="utf-8")
    js = get_plotlyjs()
    assert text.count(js) == 1 and text.count("* plotly.js v") == 1  # embedded exactly once
    rest = text.replace(js, "")
    assert "cdn.plot.ly" not in rest and not re.search(r"<script[^>]*\bsrc=", rest)
    assert not re.search(r"(src|href)=\"(https?:)?//", rest)
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in text
    assert "v3_test_example" in text and "Total return" in text and "Test accuracy" in text
    assert text.count("Plotly.newPlot(") == len(FIGURE_IDS)


def test_write_report_list_of_figures_and_summary_tables(tmp_path):
    figs = [go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout={"title": "<First & one>"}), go.Figure()]
    path = write_report(tmp_path / "r.html", title="T <x>", figures=figs,
                        summary={"Sharpe": 1.23456, "Trades": 1234, "Return": {"A": "1.00 %", "B": None}})
    text = path.read_text()
    assert '<section id="figure-1">' in text and '<section id="figure-2">' in text
    assert "&lt;First &amp; one&gt;" in text and "<title>T &lt;x&gt;</title>" in text
    assert ">1.235<" in text and ">1,234<" in text and "<th>A</th><th>B</th>" in text and ">1.00 %<" in text


def test_write_report_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    fig = go.Figure(go.Scatter(x=[1], y=[1]))
    real_write_text = Path.write_text

    def half_then_fail(self, data, *args, **kwargs):
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(target, title="t", figures={"a": fig})
    assert list(tmp_path.iterdir()) == []  # neither the report nor a temporary file
    monkeypatch.setattr(Path, "write_text", real_write_text)
    write_report(target, title="old", figures={"a": fig})
    before = target.read_text()
    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError):
        write_report(target, title="new", figures={"a": fig})
    assert target.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["report.html"]


# ---------------------------------------------------------------------------------------------
# browser
# ---------------------------------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # any network request would fail
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_headless_chromium(run, tmp_path):
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is not installed (CI installs Debian chromium via apt in .ci/run)")
    url = run["path"].resolve().as_uri()
    proc = _chromium(tmp_path, "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert dom.count("js-plotly-plot") >= len(FIGURE_IDS)
    # every figure's section holds a rendered plot
    for sid in FIGURE_IDS:
        start = dom.index(f'<section id="{sid}">')
        end = dom.find("</section>", start)
        assert 'class="main-svg"' in dom[start:end], f"figure {sid!r} did not render"
    errors = re.search(r'<div id="report-errors"([^>]*)>(.*?)</div>', dom, re.S)
    assert errors is not None and "hidden" in errors.group(1) and errors.group(2) == "", errors.group(2)
    assert "Uncaught" not in proc.stderr

    png = tmp_path / "report.png"
    shot = _chromium(tmp_path, "--hide-scrollbars", "--window-size=1400,3000", f"--screenshot={png}", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.stat().st_size > 50_000  # a rendered page, not a blank one
