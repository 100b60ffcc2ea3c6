"""Seed conformance and rough edges (issue 18): each case was reproduced on main before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

import fuzzyvec as fv
from fuzzyvec.model.bundle import load_bundle
from fuzzyvec.nb.labels import forward_return_labels_1d_nb, zigzag_labels_1d_nb, zigzag_pivots_1d_nb
from fuzzyvec.research.pipeline import fit

from .conftest import REPO_ROOT, STRATEGIES_DIR
from .test_cli import run_cli

E2E = STRATEGIES_DIR / "v3_e2e_test.yaml"
WINDOW = ("--start", "2017-03-01", "--end", "2017-06-30")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    r = run_cli("train", str(E2E), "--models-dir", str(models), "--quiet", *WINDOW)
    assert r.returncode == 0, r.stderr
    (folder,) = list((models / "v3_e2e_test").iterdir())
    return folder


# ---------------------------------------------------------------------------------------------
# 1. metadata in the v3 shape; 3. no machine paths
# ---------------------------------------------------------------------------------------------


def test_bundle_metadata_has_the_v3_keys_downstream_checks_read(bundle_dir):
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    # the checks of the original design, as they were written
    assert meta["strategy_version"] == "3.0"
    assert "fuzzy_sets" in meta and "indicators" in meta and "nn_inputs" in meta
    assert meta["indicators"] == {"rsi_14": {"type": "rsi", "period": 14, "source": "close"}}
    assert meta["fuzzy_sets"]["rsi_14"]["indicator"] == "rsi_14"
    assert meta["fuzzy_sets"]["rsi_14"]["oversold"] == {"type": "triangular", "parameters": [0.0, 20.0, 40.0]}
    raw = yaml.safe_load(E2E.read_text())
    assert meta["nn_inputs"] == raw["nn_inputs"]  # the list as written
    assert meta["resolved_features"] == ["1h_rsi_14_oversold", "1h_rsi_14_neutral", "1h_rsi_14_overbought"]


def test_an_older_bundle_without_the_v3_keys_still_loads(bundle_dir, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for f in bundle_dir.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    meta = json.loads((old / "metadata.json").read_text())
    for key in ("strategy_version", "indicators", "fuzzy_sets", "nn_inputs"):
        meta.pop(key)
    meta["strategy_file"] = str(E2E)  # bundles of format 1.0 recorded the path
    (old / "metadata.json").write_text(json.dumps(meta))
    b = load_bundle(old)
    assert b.feature_names == load_bundle(bundle_dir).feature_names


def test_bundles_carry_no_machine_paths(bundle_dir):
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    digest = __import__("hashlib").sha256(E2E.read_bytes()).hexdigest()
    assert meta["strategy_file"] == {"name": "v3_e2e_test.yaml", "sha256": digest}
    roots = {str(REPO_ROOT), str(bundle_dir.parent.parent), str(Path.home()), "/tmp", os.getcwd()}
    for f in ("metadata.json", "metrics.json"):
        text = (bundle_dir / f).read_text()
        for root in roots:
            assert root not in text, (f, root)


# ---------------------------------------------------------------------------------------------
# 2. train --dry-run; degenerate labels and models (issue 17, item 5)
# ---------------------------------------------------------------------------------------------


def test_train_dry_run_shows_what_would_be_computed(tmp_path):
    r = run_cli("train", str(STRATEGIES_DIR / "v3_test_example.yaml"), "--dry-run", "--models-dir", str(tmp_path),
                "--start", "2023-03-01", "--end", "2023-03-20")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "dry run" in out and not list(tmp_path.iterdir())  # nothing trained, nothing written
    for text in ("indicators", "rsi_14", "period=14", "macd_12_26_9", "fuzzy sets", "rsi_fast",
                 "oversold (triangular)", "resolved features, in order", "5m_rsi_fast_oversold", "label balance",
                 "train", "validation", "test", "BUY", "SELL"):
        assert text in out, text
    j = run_cli("train", str(STRATEGIES_DIR / "v3_test_example.yaml"), "--dry-run", "--json",
                "--start", "2023-03-01", "--end", "2023-03-20")
    data = json.loads(j.stdout)
    ind = {i["id"]: i for i in data["indicators"]}
    assert ind["macd_12_26_9"]["timeframes"] == ["1h"] and ind["rsi_14"]["params"]["period"] == 14
    assert data["features"] == list(fv.resolve_features(fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")).names)
    bal = data["label_balance"]
    for split in ("train", "validation", "test"):
        assert sum(bal[split]["class_counts"].values()) == bal[split]["rows"] > 0
        assert sum(bal[split]["class_shares"].values()) == pytest.approx(1.0)


def test_degenerate_labels_and_models_are_flagged(bundle_dir, tmp_path):
    metrics = json.loads((bundle_dir / "metrics.json").read_text())
    warnings = metrics["warnings"]
    assert any("has no BUY" in w or "has no SELL" in w for w in warnings), warnings
    assert any("the model predicts HOLD" in w for w in warnings), warnings
    r = run_cli("train", str(E2E), "--dry-run", *WINDOW)
    assert "warning:" in r.stderr and "labels" in r.stderr
    b = run_cli("backtest", str(E2E), "--model", str(bundle_dir), "--out", str(tmp_path), "--end", "2017-08-31")
    assert b.returncode == 0, b.stderr
    assert "made 0 trades" in b.stderr and "the model predicts HOLD" in b.stderr
    (run,) = list(tmp_path.iterdir())
    assert any("0 trades" in w for w in json.loads((run / "metrics.json").read_text())["warnings"])


# ---------------------------------------------------------------------------------------------
# 4. train --resume with changed settings
# ---------------------------------------------------------------------------------------------


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    raw = yaml.safe_load(E2E.read_text())
    raw["model"]["training"].update(epochs=2, checkpoint_every=1)
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(raw, sort_keys=False))
    models = tmp_path / "models"
    ckpt = models / "v3_e2e_test" / "checkpoint.pt"
    spec = fv.load_strategy(first)
    data = fv.load_strategy_data(spec, start="2017-03-01", end="2017-06-30")
    fit(spec, data, checkpoint_path=ckpt)  # an interrupted run leaves its checkpoint behind
    assert ckpt.exists()
    raw["model"]["training"]["learning_rate"] = 0.05
    raw["indicators"]["rsi_14"]["period"] = 21
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw, sort_keys=False))
    r = run_cli("train", str(changed), "--resume", "--models-dir", str(models), "--quiet", *WINDOW)
    assert r.returncode == 2, r.stderr
    assert "cannot resume" in r.stderr and "Traceback" not in r.stderr
    assert "model.training.learning_rate: checkpoint 0.001, strategy 0.05" in r.stderr
    assert "indicators.rsi_14.period: checkpoint 14, strategy 21" in r.stderr and "--restart" in r.stderr
    ok = run_cli("train", str(first), "--resume", "--models-dir", str(models), "--quiet", *WINDOW)
    assert ok.returncode == 0, ok.stderr  # the same settings resume
    fit(spec, data, checkpoint_path=ckpt)
    fresh = run_cli("train", str(changed), "--restart", "--models-dir", str(models), "--quiet", *WINDOW)
    assert fresh.returncode == 0, fresh.stderr
    both = run_cli("train", str(changed), "--restart", "--resume", "--models-dir", str(models), *WINDOW)
    assert both.returncode == 2 and "exclude each other" in both.stderr


# ---------------------------------------------------------------------------------------------
# 5. an unreachable Ray cluster
# ---------------------------------------------------------------------------------------------


def test_an_unreachable_ray_cluster_exits_2_quickly(tmp_path):
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:9"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "batch", str(E2E), "--executor", "ray",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 2, r.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in r.stderr and "--executor local" in r.stderr
    assert "Traceback" not in r.stderr and elapsed < 30


# ---------------------------------------------------------------------------------------------
# 6. threshold ties in the label kernels
# ---------------------------------------------------------------------------------------------


def test_a_reversal_of_exactly_the_threshold_confirms_the_pivot():
    close = np.array([100, 100.5, 100.5, 100, 99, 100.0])
    assert 100.5 / 100 - 1 < 0.005  # the rounded ratio misses it
    idx, kind = zigzag_pivots_1d_nb(close, 0.005)
    # low at 100 (bar 0) confirmed by 100.5; high 100.5 (bar 1) confirmed by 99; low 99 (bar 4) by 100
    assert idx.tolist() == [0, 1, 4] and kind.tolist() == [-1, 1, -1]
    labels = zigzag_labels_1d_nb(close, 0.005, 10)
    # bars between the high at 1 and the low at 4 fall (SELL = 2); pivots HOLD; after the last: none
    assert labels.tolist() == [1, 1, 2, 2, 1, -1]
    # a drop of exactly the threshold confirms a high too: 200 -> 199 is exactly 0.5 %
    idx, kind = zigzag_pivots_1d_nb(np.array([199.0, 200.0, 199.0, 200.0]), 0.005)
    assert idx.tolist() == [0, 1, 2] and kind.tolist() == [-1, 1, -1]


def test_forward_returns_of_exactly_the_threshold_are_hold():
    close = np.array([100.0, 100.5, 100.0, 99.5, 101.0])
    assert forward_return_labels_1d_nb(close, 1, 0.005).tolist() == [1, 1, 1, 0, -1]


# ---------------------------------------------------------------------------------------------
# 7. pandas-written CSV files
# ---------------------------------------------------------------------------------------------


def test_load_ohlcv_reads_a_pandas_written_csv(tmp_path, eurusd_1h):
    import pandas as pd

    df = eurusd_1h.head(50).to_pandas().set_index("timestamp")
    df.index.name = None
    df.columns = [c.capitalize() for c in df.columns]
    path = tmp_path / "pandas.csv"
    df.to_csv(path)
    assert path.read_text().splitlines()[0] == ",Open,High,Low,Close,Volume"
    bars = fv.load_ohlcv(path, timeframe="1h")
    assert bars.equals(eurusd_1h.head(50))
    # backtesting.py's own sample files: daily bars with date-only stamps
    goog = Path(__import__("backtesting").__file__).parent / "test" / "GOOG.csv"
    daily = fv.load_ohlcv(goog, timeframe="1d")
    assert daily.height == len(pd.read_csv(goog)) and str(daily["timestamp"][0]) == "2004-08-19 00:00:00+00:00"
    # an unnamed first column of numbers is an index, not time: a clear error
    df.reset_index(drop=True).to_csv(tmp_path / "index.csv")
    with pytest.raises(fv.DataError, match="no name and holds"):
        fv.load_ohlcv(tmp_path / "index.csv")


# ---------------------------------------------------------------------------------------------
# 8. console text
# ---------------------------------------------------------------------------------------------


def test_backtest_console_text_reads_well(bundle_dir, tmp_path):
    r = run_cli("backtest", str(E2E), "--model", str(bundle_dir), "--out", str(tmp_path), "--start", "2017-06-01",
                "--end", "2017-08-31")
    assert r.returncode == 0, r.stderr
    assert "backtesting v3_e2e_test on the bars from 2017-06-01 00:00 UTC ..." in r.stdout
    assert " on from " not in r.stdout
    assert "total return" in r.stdout and " %" in r.stdout  # returns shown as percentages
    frame = pl.read_csv(next(tmp_path.iterdir()) / "trades.csv")
    assert frame.height == 0
