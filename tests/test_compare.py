"""``compare NEW --baseline OLD``, the model-swap gate (SPEC §15), run as a user types it.

Two tiny bundles of one strategy (2 epochs, different seeds) are trained once; the command is
then run in subprocesses: exit 0 when NEW returns at least OLD's (minus --tolerance), 1 when it
is worse, 2 for unusable input.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, STRATEGIES_DIR


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.run([sys.executable, "-m", "fuzzyvec.run", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Bundles ``a`` and ``b`` (same data, seeds 1 and 2) and ``short`` (trained on less data)."""
    import fuzzyvec as fv

    root = tmp_path_factory.mktemp("compare")
    text = (STRATEGIES_DIR / "v3_e2e_test.yaml").read_text(encoding="utf-8")
    # a zigzag small enough for BUY/SELL labels and a threshold low enough to trade
    text = text.replace("confidence_threshold: 0.6", "confidence_threshold: 0.34")
    text = text.replace("zigzag_threshold: 0.02", "zigzag_threshold: 0.004")
    path = root / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    spec = fv.load_strategy(path, warn=False)
    out = {}
    for name, seed, end in (("a", 1, None), ("b", 2, None), ("short", 1, "2017-09-30")):
        bundle = fv.fit(spec, fv.load_strategy_data(spec, end=end), epochs=2, seed=seed)
        out[name] = fv.save_bundle(bundle, root / name)
    return out


def _compare(new: Path, old: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    r = run_cli("compare", str(new), "--baseline", str(old), "--random", "100", "--json", *extra)
    assert "Traceback" not in r.stderr, r.stderr
    return r, (json.loads(r.stdout) if r.returncode in (0, 1) else {})


def test_the_worse_model_fails_and_the_better_passes(bundles):
    r_ab, ab = _compare(bundles["a"], bundles["b"])
    r_ba, ba = _compare(bundles["b"], bundles["a"])
    ret_a, ret_b = ab["new"]["total_return"], ab["old"]["total_return"]
    assert ret_a != ret_b and ba["new"]["total_return"] == ret_b and ba["old"]["total_return"] == ret_a
    assert ab["new"]["symbols"]["EURUSD"]["trades"] > 0 and ab["old"]["symbols"]["EURUSD"]["trades"] > 0
    better, worse = (r_ab, r_ba) if ret_a > ret_b else (r_ba, r_ab)
    assert better.returncode == 0 and worse.returncode == 1
    assert (ab if r_ab is better else ba)["passed"] is True and (ba if r_ab is better else ab)["passed"] is False
    # both are backtested on the bundles' common test split
    meta = json.loads((bundles["a"] / "metadata.json").read_text())["date_ranges"]["test"]
    assert ab["window"]["source"] == "test split"
    assert ab["window"]["start"].replace("T", " ") == meta["start"] and ab["window"]["end"].replace("T", " ") == meta["end"]
    # a tolerance just above the gap lets the worse one through, one just below does not
    gap = abs(ret_a - ret_b)
    worse_new, worse_old = ((bundles["b"], bundles["a"]) if ret_a > ret_b else (bundles["a"], bundles["b"]))
    assert _compare(worse_new, worse_old, "--tolerance", f"{gap * 1.01}")[0].returncode == 0
    assert _compare(worse_new, worse_old, "--tolerance", f"{gap * 0.99}")[0].returncode == 1


def test_a_bundle_compared_with_itself_passes_with_the_json_keys(bundles):
    r, out = _compare(bundles["a"], bundles["a"])
    assert r.returncode == 0
    assert set(out) == {"passed", "exit_code", "difference", "tolerance", "window", "n_random", "new", "old",
                        "warnings"}
    assert out["passed"] is True and out["exit_code"] == 0 and out["difference"] == 0.0 and out["n_random"] == 100
    sym = out["new"]["symbols"]["EURUSD"]
    assert {"total_return", "sharpe", "max_drawdown", "trades", "exposure", "p_value", "percentile"} <= set(sym)
    assert 1 / 101 <= sym["p_value"] <= 1 and 0 <= sym["percentile"] <= 100  # vs 100 random-entry series
    assert out["new"] == {**out["old"]}  # the same model on the same bars gives the same numbers


def test_table_output_and_explicit_window(bundles):
    r = run_cli("compare", str(bundles["a"]), "--baseline", str(bundles["short"]), "--random", "0",
                "--start", "2017-11-01", "--end", "2017-12-15")
    assert r.returncode in (0, 1), r.stderr
    assert "p-value vs random entries" in r.stdout and "2017-11-01" in r.stdout and "--start/--end" in r.stdout
    assert ("NEW passes" in r.stdout) == (r.returncode == 0)


def test_unusable_input_exits_2(bundles, tmp_path):
    cases = {
        "missing bundle": (tmp_path / "nope", bundles["a"], (), "no bundle folder"),
        "disjoint windows": (bundles["a"], bundles["short"], (), "test periods differ"),
        "no bars in the window": (bundles["a"], bundles["b"], ("--start", "2030-01-01"), "fewer than 2 bars"),
    }
    broken = tmp_path / "broken"
    shutil.copytree(bundles["b"], broken)
    (broken / "metadata.json").write_text("{not json", encoding="utf-8")
    cases["corrupt metadata.json"] = (bundles["a"], broken, (), "not valid JSON")
    other = tmp_path / "other_symbol"  # the same model, its stored strategy moved to another symbol
    shutil.copytree(bundles["b"], other)
    meta = json.loads((other / "metadata.json").read_text(encoding="utf-8"))
    meta["strategy"]["training_data"]["symbols"]["symbol"] = "BTCUSDT"
    (other / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    cases["different symbols"] = (bundles["a"], other, (), "trade different symbols")
    for what, (new, old, extra, message) in cases.items():
        r = run_cli("compare", str(new), "--baseline", str(old), "--random", "0", *extra)
        assert r.returncode == 2, (what, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and message in r.stderr, (what, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (what, r.stderr)
