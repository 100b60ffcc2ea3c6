"""The real command line, run in subprocesses like a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT, STRATEGIES_DIR
from .test_feature_schema import EXAMPLE_FEATURES

EXAMPLE = str(STRATEGIES_DIR / "v3_test_example.yaml")
E2E = str(STRATEGIES_DIR / "v3_e2e_test.yaml")


def run_cli(*args: str, cwd=None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.run([sys.executable, "-m", "fuzzyvec.run", *args], capture_output=True, text=True,
                          cwd=cwd or REPO_ROOT, env=env, timeout=timeout)


def test_validate_ok():
    r = run_cli("validate", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert f"{EXAMPLE}: valid" in r.stdout
    assert "macd_12_26_9.histogram" in r.stdout  # the output a fuzzy set reads
    assert "features: 22" in r.stdout


def test_validate_json():
    r = run_cli("validate", E2E, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] is True
    assert out["features"] == ["1h_rsi_14_oversold", "1h_rsi_14_neutral", "1h_rsi_14_overbought"]
    assert out["indicators"][0]["type"] == "rsi" and out["indicators"][0]["params"]["period"] == 14
    assert out["warmup_bars"] == {"1h": 14}


def test_features_dry_run_lists_ordered_features():
    r = run_cli("features", EXAMPLE, "--dry-run")
    assert r.returncode == 0, r.stderr
    positions = [r.stdout.index(f"  {n}\n") for n in EXAMPLE_FEATURES]
    assert positions == sorted(positions)
    assert "warm-up: 5m: 19 bars, 1h: 33 bars" in r.stdout
    assert "rsi_fast       rsi_14" in r.stdout  # each fuzzy set and the indicator output it reads


def test_features_dry_run_json():
    r = run_cli("features", EXAMPLE, "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["features"] == EXAMPLE_FEATURES
    assert out["fuzzy_sets"][2] == {
        "id": "macd_momentum", "indicator": "macd_12_26_9.histogram",
        "memberships": [{"name": "negative", "type": "trapezoidal", "parameters": [-1000.0, -1000.0, -5.0, 0.0]},
                        {"name": "positive", "type": "trapezoidal", "parameters": [0.0, 5.0, 1000.0, 1000.0]}],
    }
    # the only warning: MACD on 1h needs more history than history_required (recursive warm-up)
    assert len(out["warnings"]) == 1 and "macd_12_26_9.histogram (macd)" in out["warnings"][0]
    check = {(r["indicator"], r["timeframe"]): r for r in out["warmup_check"]}
    assert check[("bbwidth_20_2", "5m")]["warmup_bars"] == 19  # a window indicator: exactly its lookback
    assert check[("rsi_14", "5m")]["ok"] is True


def test_dry_run_warns_about_unused_indicator(tmp_path):
    text = open(E2E).read().replace("fuzzy_sets:", "  atr_14:\n    type: atr\n    period: 14\n\nfuzzy_sets:")
    p = tmp_path / "unused.yaml"
    p.write_text(text)
    r = run_cli("features", str(p), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "warning: indicators.atr_14: no nn_inputs entry reaches this indicator" in r.stderr


def test_bad_strategy_exits_2_with_one_clear_message(tmp_path):
    text = open(EXAMPLE).read().replace("oversold: [0, 20, 35]", "oversold: [40, 20, 0]")
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = run_cli("validate", str(p))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"error: {p}:32: fuzzy_sets.rsi_fast.oversold.parameters: expected a <= b <= c, got [40, 20, 0]"]


def test_yaml_syntax_error_exits_2(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: [unclosed\n")
    r = run_cli("features", str(p), "--dry-run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "YAML syntax error" in r.stderr and f"{p}:" in r.stderr


@pytest.mark.parametrize("args", [["bogus"], ["validate"], ["features", E2E, "--frobnicate"]])
def test_bad_arguments_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "error:" in r.stderr


def test_missing_strategy_file_exits_2():
    r = run_cli("validate", "does/not/exist.yaml")
    assert r.returncode == 2 and "strategy file not found" in r.stderr and "Traceback" not in r.stderr


def test_bad_data_dir_exits_2(tmp_path):
    r = run_cli("features", E2E, "--data", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no 1h bars for EURUSD" in r.stderr


def test_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("validate", "features", "demo"):
        assert cmd in r.stdout


def test_console_stats_have_one_format_per_kind():
    from fuzzyvec.cli.train import show

    assert show("total_return", 0.19981) == "19.98 %"
    assert show("final_equity", 7368.2961) == "7,368.30"  # money: 2 decimals
    assert show("sharpe", -5.83201) == "-5.832" and show("sharpe", 3.10417) == "3.104"  # ratios: 3
    assert show("trades", 268.0) == "268" and show("trades", 1234) == "1,234"
    assert show("p_value", 0.24076) == "0.241" and show("percentile", 75.6) == "76"
    assert show("sharpe", None) == "-" and show("sharpe", float("nan")) == "-"
    assert show("max_drawdown_duration", "51 days, 3:20:00") == "51 days, 3:20:00"


def test_formatted_stats_in_tables_stay_right_aligned():
    from fuzzyvec.report.console import format_stat, format_table, stat_rows

    assert format_stat("test_start", "2023-03-11 10:40:00+00:00") == "2023-03-11 10:40"
    assert format_stat("sl_stop", None) == "off" and format_stat("oos_total_return", 0.1) == "10.00 %"
    rows = stat_rows([["BTCUSDT", 0.1, 2.5], ["ETHUSDT", -0.123, None]], ["symbol", "total_return", "sharpe"])
    assert rows == [["BTCUSDT", "10.00 %", "2.500"], ["ETHUSDT", "-12.30 %", "-"]]
    lines = format_table(rows, ["symbol", "total_return", "sharpe"]).splitlines()
    body = [ln for ln in lines if ln.strip().startswith(("BTC", "ETH"))]
    assert len({len(ln) for ln in body}) == 1  # numbers end in the same column
    assert body[0].endswith("2.500") and body[1].rstrip().endswith("-")
