"""Smoke test of the benchmark suite: ``python benchmarks/run.py --quick`` runs and prints every table.

Benchmarks are not timed tests (SPEC §12): this only checks that every section's code path
runs (exit code 0) and that each section's table is printed. Timings are not asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HEADERS = (
    "== Indicator kernels on",
    "== Membership functions on",
    "== Feature frame of",
    "== Cold vs warm start",
    "== Training: fit(",
    "== One backtest: BTCUSDT 5m",
    "== fuzzyvec vs backtesting.py",
    "== Sweep:",
    "lean numba limit kernel",
    "== A fresh process",
    "== Walk-forward:",
    "== Sweeps over BTCUSDT 5m",
    "== Prediction service:",
    "== Demo wall time",
    "== Prediction-file backtest:",
    "== Inference: onnxruntime",
    "== Summary: targets",
)


def test_benchmarks_quick_run(tmp_path):
    md = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "kernels,training,backtest,predictions,scale,live",
         "--markdown", str(md)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-4000:]
    missing = [h for h in HEADERS if h not in out]
    assert not missing, f"tables missing from the output: {missing}\n{out[-3000:]}"
    text = md.read_text(encoding="utf-8")
    assert "#### Indicator kernels on" in text and "#### Summary: targets" in text
