"""Live = backtest, proven: `serve` started as a user starts it, `paper` replaying bars through the
client, and `record` + the SPEC §8 backtest on the same window giving the same rows and the
same backtest."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import httpx
import numpy as np
import polars as pl
import pytest

import fuzzyvec as fv
from fuzzyvec.cli.main import main
from fuzzyvec.run import build_parser

from .conftest import REPO_ROOT, SAMPLE_DIR
from .live_helpers import EXAMPLE, TOKEN, example_bundle, free_port, serve_subprocess, venue_yaml

BARS = SAMPLE_DIR / "BTCUSDT_5m.parquet"
START, END = "2023-06-01T00:00", "2023-06-01T20:00"  # 241 bars of the bundled BTCUSDT year


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-logs")


@pytest.fixture(scope="module")
def server(logs):
    """`python -m fuzzyvec.run serve BUNDLE` on the default data: the bundled sample year."""
    with serve_subprocess(str(example_bundle()), logs=logs) as url:
        yield url


@pytest.fixture
def venue(tmp_path, server, monkeypatch):
    monkeypatch.setenv("FUZZYVEC_API_TOKEN", TOKEN)
    return venue_yaml(tmp_path / "venue.yaml", f"{server}/v1/predictions")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """`record` on the same window: the prediction file the service must reproduce."""
    out = tmp_path_factory.mktemp("record") / "pred.csv"
    rc = main(["record", str(EXAMPLE), "--model", str(example_bundle()), "--out", str(out),
               "--start", START, "--end", END])
    assert rc == 0
    return out


def test_paper_replay_equals_record_row_for_row_and_backtest(venue, recorded, tmp_path, capsys):
    rec = pl.read_csv(recorded)
    assert rec.height == 241 and rec["signal"].n_unique() >= 1
    threshold = float(np.median(rec["confidence"].to_numpy()))  # some rows act, some do not
    out = tmp_path / "paper"
    capsys.readouterr()
    rc = main(["paper", "--api", str(venue), "--bars", str(BARS), "--symbol", "BTCUSDT", "--start", START,
               "--end", END, "--out", str(out), "--signal-threshold", str(threshold), "--fees", "0.0005", "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "metrics.json", "predictions.csv",
                                                     "report.html", "trades.csv"]
    paper = pl.read_csv(out / "predictions.csv")
    assert paper.columns[:5] == ["timestamp", "signal", "confidence", "stop_loss", "take_profit"]
    # row for row: timestamps, signals and stops exactly, confidences to rounding
    assert paper.select("timestamp", "signal", "stop_loss", "take_profit").equals(
        rec.select("timestamp", "signal", "stop_loss", "take_profit"))
    np.testing.assert_allclose(paper["confidence"].to_numpy(), rec["confidence"].to_numpy(), rtol=0, atol=1e-12)
    # and the backtest: paper's metrics are those of `predictions` on record's file, same bars
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["paper"]["degraded"] == 0 and metrics["paper"]["http_requests"] == 241
    assert metrics["paper"]["bars"] == 241 and len(metrics["paper"]["model_versions"]) == 1
    bars = fv.load_ohlcv(BARS)
    window = bars.filter(pl.col("timestamp").is_between(fv.load_predictions(recorded)["timestamp"].min(),
                                                         fv.load_predictions(recorded)["timestamp"].max()))
    ref = fv.backtest_predictions(window, fv.load_predictions(recorded), signal_threshold=threshold, fees=0.0005)
    assert ref.stats["trades"] > 0
    for key in ("final_equity", "total_return", "trades", "bars", "exposure", "fees_paid", "max_drawdown"):
        assert metrics[key] == pytest.approx(ref.stats[key], rel=1e-12), key
    assert printed["final_equity"] == metrics["final_equity"]
    assert pl.read_csv(out / "trades.csv").height == ref.trades.height


def test_paper_with_the_service_down_degrades_to_neutral(tmp_path):
    dead = venue_yaml(tmp_path / "dead.yaml", f"http://127.0.0.1:{free_port()}/v1/predictions",
                      timeout_seconds=0.2, retry_attempts=1, retry_backoff_seconds=0, cache_ttl_seconds=0)
    bars = tmp_path / "bars.parquet"
    pl.read_parquet(BARS).slice(50_000, 40).write_parquet(bars)
    env = {**os.environ, "FUZZYVEC_API_TOKEN": TOKEN, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "paper", "--api", str(dead), "--bars", str(bars),
                        "--symbol", "BTCUSDT", "--out", str(tmp_path / "out"), "--quiet"],
                       cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "39 degraded to neutral" in r.stdout
    preds = pl.read_csv(tmp_path / "out" / "predictions.csv")
    assert preds.height == 39 and (preds["signal"] == "neutral").all() and (preds["confidence"] == 0).all()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["trades"] == 0 and metrics["paper"]["degraded"] == 39
    assert "cannot connect" in next(iter(metrics["paper"]["degraded_reasons"]))


def test_paper_refuses_a_bad_venue_file(tmp_path, capsys):
    v = venue_yaml(tmp_path / "v.yaml", "http://127.0.0.1:1/v1/predictions")
    v.write_text(v.read_text().replace("cache_ttl_seconds", "cache_tll_seconds"))
    rc = main(["paper", "--api", str(v), "--bars", str(BARS), "--symbol", "BTCUSDT"])
    err = capsys.readouterr().err
    assert rc == 2 and "request_config.cache_tll_seconds: unknown key" in err and "cache_ttl_seconds" in err


def test_the_served_process_logs_requests_without_the_token(server, logs):
    with httpx.Client(base_url=server) as c:
        c.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": "2023-06-01T00:05:00Z"},
               headers={"Authorization": f"Bearer {TOKEN}"})
        c.post("/v1/predictions", json={"symbol": "BTCUSDT"}, headers={"Authorization": "Bearer nope"})
    want = {(200, "BTCUSDT"), (401, None)}
    deadline = time.monotonic() + 10
    while True:  # the server writes its access line after the answer: wait for both lines
        text = (logs / "serve.err").read_text()
        lines = [json.loads(x) for x in text.splitlines() if x.startswith('{"event": "access"')]
        if {(x["status"], x["symbol"]) for x in lines[-2:]} == want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {(x["status"], x["symbol"]) for x in lines[-2:]} == want
    assert TOKEN not in text and "nope" not in text and "Traceback" not in text
    assert "serving v3_test_example/" in (logs / "serve.out").read_text()


def test_the_readme_shows_serve_curl_paper_in_three_commands(server):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Live mode", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [ln for ln in block.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 3, commands
    serve, curl, paper = (shlex.split(c.split(" &")[0]) for c in commands)
    parser = build_parser()
    assert serve[:4] == ["python", "-m", "fuzzyvec.run", "serve"] and parser.parse_args(serve[3:]).command == "serve"
    assert paper[:4] == ["python", "-m", "fuzzyvec.run", "paper"] and parser.parse_args(paper[3:]).command == "paper"
    # the curl request, sent to the test server: the answer of the contract
    assert curl[0] == "curl"
    body = json.loads(curl[curl.index("-d") + 1])
    headers = dict(h.split(": ", 1) for h in (curl[i + 1] for i, a in enumerate(curl) if a == "-H"))
    assert headers["Authorization"] == "Bearer $FUZZYVEC_API_TOKEN"
    r = httpx.post(f"{server}/v1/predictions", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["timestamp"] == body["timestamp"]
    for key in r.json():  # the README's example answer shows the whole contract
        assert f'"{key}":' in section, key
    # and its paper line uses the shipped venue file, which loads as is
    from fuzzyvec.live.client import load_venue

    venue = load_venue(REPO_ROOT / paper[paper.index("--api") + 1])
    assert venue.endpoints.predictions == "http://127.0.0.1:8000/v1/predictions"


def test_the_live_benchmark_quick_run(tmp_path):
    """`benchmarks/run.py --quick --only live`: the section's code paths run and print their tables."""
    md = tmp_path / "live.md"
    r = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--quick", "--only", "live",
                        "--markdown", str(md)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    for header in ("== Prediction service: 40 sequential requests", "== Prediction service: throughput",
                   "request latency p50 (BTC year, sequential)"):
        assert header in r.stdout, header
    assert "#### Prediction service: throughput" in md.read_text(encoding="utf-8")
