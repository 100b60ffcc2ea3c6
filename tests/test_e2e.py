"""End-to-end: the real commands in subprocesses, like a user types them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import torch

import fuzzyvec as fv

from .conftest import REPO_ROOT, STRATEGIES_DIR
from .test_cli import run_cli

EXAMPLE = str(STRATEGIES_DIR / "v3_test_example.yaml")
E2E = str(STRATEGIES_DIR / "v3_e2e_test.yaml")
# a short slice of the bundled BTCUSDT year keeps these runs quick
SLICE = ("--start", "2023-03-01", "--end", "2023-04-15")


def _bundle_dirs(models: Path, name: str) -> list[Path]:
    return sorted(p for p in (models / name).iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def trained_example(tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("models")
    r = run_cli("train", EXAMPLE, *SLICE, "--models-dir", str(models), "--epochs", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    (bundle,) = _bundle_dirs(models, "v3_test_example")
    assert f"bundle written to {bundle}" in r.stdout
    return bundle


def test_train_writes_bundle_with_metadata(trained_example):
    meta = json.loads((trained_example / "metadata.json").read_text())
    spec = fv.load_strategy(EXAMPLE)
    schema = fv.resolve_features(spec)
    assert meta["resolved_features"] == list(schema.names)
    assert meta["schema_sha256"] == schema.sha256
    assert meta["feature_count"] == 22
    assert meta["strategy"]["name"] == "v3_test_example"
    assert meta["labels"] == {"source": "zigzag", "zigzag_threshold": 0.01, "label_lookahead": 48}
    assert meta["symbols"] == ["BTCUSDT"] and meta["timeframes"] == ["5m", "1h"]
    assert set(meta["date_ranges"]) == {"train", "validation", "test"}
    assert meta["data_fingerprint"]["sha256"]
    assert meta["versions"]["torch"].startswith("2.13")
    steps = {s["step"]: s for s in meta["transform"]["steps"]}
    assert set(steps) == {"normalization"}  # scale_features: false; the raw RSI's zscore is stored
    assert "5m_rsi_14_raw" in json.dumps(steps["normalization"])
    metrics = json.loads((trained_example / "metrics.json").read_text())
    assert {"accuracy", "f1_macro", "f1_weighted", "confusion_matrix"} <= set(metrics["test"])
    assert len(metrics["history"]) == 3


def test_train_twice_gives_identical_weights(tmp_path):
    for _ in range(2):
        r = run_cli("train", E2E, "--models-dir", str(tmp_path), "--quiet")
        assert r.returncode == 0, r.stderr
    a, b = _bundle_dirs(tmp_path, "v3_e2e_test")
    sa = fv.load_bundle(a).state_dict
    sb = fv.load_bundle(b).state_dict
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = run_cli("train", E2E, "--models-dir", str(tmp_path), "--quiet", "--seed", "7")
    assert c.returncode == 0
    sc = fv.load_bundle(_bundle_dirs(tmp_path, "v3_e2e_test")[-1]).state_dict
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_train_dry_run_shows_split(tmp_path):
    r = run_cli("train", EXAMPLE, *SLICE, "--dry-run", "--models-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "would train v3_test_example: 22 features, labels zigzag" in r.stdout
    for split in ("train", "validation", "test"):
        assert split in r.stdout
    assert not (tmp_path / "v3_test_example").exists()


def test_backtest_with_model_has_no_feature_mismatch(trained_example, tmp_path):
    r = run_cli("backtest", EXAMPLE, "--model", str(trained_example), "--out", str(tmp_path), *SLICE)
    assert r.returncode == 0, r.stderr
    (run,) = list(tmp_path.iterdir())
    for f in ("report.html", "metrics.json", "trades.csv", "equity.csv"):
        assert (run / f).is_file(), f
    metrics = json.loads((run / "metrics.json").read_text())
    stats = metrics["backtest"]["BTCUSDT"]
    for key in ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                "profit_factor", "expectancy", "trades", "exposure", "fees_paid", "buy_and_hold_return"):
        assert key in stats, key
    trades = pl.read_csv(run / "trades.csv")
    assert trades.height == stats["trades"]
    assert "Sharpe" in r.stdout and "total return" in r.stdout
    # the strategy beside its baselines, in metrics.json, on the console and in the report
    base = metrics["baselines"]["BTCUSDT"]
    assert set(base) == {"buy_and_hold", "flat", "random"}
    assert base["flat"]["total_return"] == 0 and base["buy_and_hold"]["trades"] == 1
    rnd = base["random"]
    assert rnd["n_series"] == 1000 and rnd["trades"] == stats["trades"]
    assert 1 / 1001 <= rnd["p_value"]["total_return"] <= 1 and 0 <= rnd["percentile"]["total_return"] <= 100
    assert "buy & hold" in r.stdout and "p-value vs random, return" in r.stdout
    html = (run / "report.html").read_text()
    assert "random entries, 5-95 %" in html and "buy and hold" in html


def test_backtest_refuses_bundle_of_other_features(trained_example, tmp_path):
    text = Path(EXAMPLE).read_text().replace("timeframes: [5m]\n    normalization", "timeframes: all\n    normalization")
    other = tmp_path / "other.yaml"
    other.write_text(text)
    r = run_cli("backtest", str(other), "--model", str(trained_example), "--out", str(tmp_path / "o"), *SLICE)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "different features" in r.stderr and "1h_rsi_14_raw" in r.stderr
    assert not (tmp_path / "o").exists()


def test_backtest_refuses_edited_metadata(trained_example, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(trained_example, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    names = meta["resolved_features"]
    names[0], names[1] = names[1], names[0]  # reorder two features
    (copy / "metadata.json").write_text(json.dumps(meta))
    r = run_cli("backtest", EXAMPLE, "--model", str(copy), "--out", str(tmp_path / "o"), *SLICE)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "resolved_features" in r.stderr and "sha256" in r.stderr


def test_sweep_cli(trained_example, tmp_path):
    r = run_cli("sweep", EXAMPLE, "--model", str(trained_example), "--out", str(tmp_path), *SLICE,
                "--grid", "confidence_threshold=0.4,0.5", "--grid", "sl_stop=0.01,none")
    assert r.returncode == 0, r.stderr
    (run,) = list(tmp_path.iterdir())
    table = pl.read_csv(run / "sweep.csv")
    assert table.height == 4
    assert (run / "heatmap.html").stat().st_size > 10_000
    assert "4 combinations in one engine call" in r.stdout
    assert "dsr" in table.columns and "deflated Sharpe" in r.stdout and "random entries: median" in r.stdout
    summary = json.loads((run / "sweep.json").read_text())
    assert set(summary["best"]["baselines"]) == {"buy_and_hold", "flat", "random"}


def test_sweep_bad_grid_exits_2(trained_example, tmp_path):
    r = run_cli("sweep", EXAMPLE, "--model", str(trained_example), "--grid", "direction=both,longonly", *SLICE)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "direction" in r.stderr


def test_check_lookahead_cli_clean():
    r = run_cli("check-lookahead", E2E, "--cuts", "3")
    assert r.returncode == 0, r.stderr
    assert "no look-ahead" in r.stdout


def test_features_out_writes_frame(tmp_path):
    out = tmp_path / "f.parquet"
    r = run_cli("features", EXAMPLE, "--out", str(out), "--end", "2023-01-10", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    frame = pl.read_parquet(out)
    assert frame.columns == ["timestamp", *fv.resolve_features(fv.load_strategy(EXAMPLE)).names]
    assert info["rows"] == frame.height
    assert frame["timestamp"][-1] == pl.Series(["2023-01-10"]).str.to_datetime(time_zone="UTC")[0]


def test_demo_runs_with_no_arguments(tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=600)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert "demo backtest: v3_test_example" in r.stdout
    assert "buy & hold" in r.stdout and "random (median)" in r.stdout and "p-value vs random" in r.stdout
    (run,) = list((tmp_path / "runs" / "v3_test_example").iterdir())
    for f in ("report.html", "metrics.json", "trades.csv", "bundle/model.pt", "bundle/metadata.json"):
        assert (run / f).is_file(), f
    print(f"demo wall time {elapsed:.1f} s")


def test_train_resume_after_interrupt_matches_uninterrupted(tmp_path):
    """Interrupt `train` (SIGINT) after a checkpoint; `train --resume` ends with identical weights."""
    text = Path(EXAMPLE).read_text().replace("epochs: 20", "epochs: 8\n    checkpoint_every: 2").replace(
        "batch_size: 256", "batch_size: 32").replace("enabled: true", "enabled: false")
    strat = tmp_path / "resume.yaml"
    strat.write_text(text)
    args = ["train", str(strat), "--start", "2023-03-01", "--end", "2023-03-20", "--quiet"]
    ref = run_cli(*args, "--models-dir", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    models = tmp_path / "m"
    env_cmd = [sys.executable, "-m", "fuzzyvec.run", *args, "--models-dir", str(models)]
    proc = subprocess.Popen(env_cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = models / "v3_test_example" / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"training finished before it could be interrupted: {proc.communicate()}")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert ckpt.exists()
    assert not [p for p in (models / "v3_test_example").iterdir() if p.is_dir()]  # no half bundle
    res = run_cli(*args, "--models-dir", str(models), "--resume")
    assert res.returncode == 0, res.stderr
    assert not ckpt.exists()
    a = fv.load_bundle(_bundle_dirs(tmp_path / "ref", "v3_test_example")[0]).state_dict
    b = fv.load_bundle(_bundle_dirs(models, "v3_test_example")[0]).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_record_then_backtest_prediction_file(trained_example, tmp_path, btc_5m):
    """The record stage writes a prediction file from the model; `predictions` backtests it."""
    pred = tmp_path / "pred.csv"
    r = run_cli("record", EXAMPLE, "--model", str(trained_example), "--out", str(pred), *SLICE)
    assert r.returncode == 0, r.stderr
    bars_path = tmp_path / "bars.parquet"
    btc_5m.filter((pl.col("timestamp") >= pl.datetime(2023, 2, 1, time_zone="UTC"))
                  & (pl.col("timestamp") <= pl.datetime(2023, 4, 15, time_zone="UTC"))).write_parquet(bars_path)
    r = run_cli("predictions", str(pred), "--bars", str(bars_path), "--signal-threshold", "0.4",
                "--fees", "0.0005", "--json", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("final_equity", "total_return", "trades", "sharpe", "max_drawdown", "win_rate"):
        assert key in out, key
    api = fv.backtest_predictions(fv.load_ohlcv(bars_path), fv.load_predictions(pred), signal_threshold=0.4,
                                  fees=0.0005)
    assert out["final_equity"] == pytest.approx(api.stats["final_equity"], rel=1e-12)
    assert out["trades"] == api.stats["trades"] > 0
    assert (Path(out["out"]) / "trades.csv").is_file()


def test_predictions_bad_file_exits_2(tmp_path):
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2023-01-01T00:00:00Z,100,101,99,100,1\n"
                    "2023-01-01T00:05:00Z,100,101,99,100,1\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("timestamp,signal,confidence,stop_loss,take_profit\n2023-01-01T00:05:00Z,buy,0.9,99,102\n")
    r = run_cli("predictions", str(pred), "--bars", str(bars))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "row 0" in r.stderr and "2023-01-01 00:05:00" in r.stderr and "'buy'" in r.stderr
