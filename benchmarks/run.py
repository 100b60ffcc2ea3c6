"""Run every fuzzyvec benchmark and print one set of tables, ratios measured in the same run.

    python benchmarks/run.py [--quick] [--only kernels,training,backtest,predictions,scale,live] [--markdown PATH]

Sections (each also runs alone: ``python benchmarks/bench_<section>.py [--quick]``):

- ``kernels``: indicators on ~1M bars vs TA-Lib and pandas, memberships vs scikit-fuzzy,
  ``build_features`` vs a pandas implementation of the same frame, cold vs warm start;
- ``training``: ``fit`` of the example strategy (wall time, throughput, test metrics);
- ``backtest``: one full backtest of the BTC year vs a plain Python loop and a per-bar pandas
  loop, vs backtesting.py, a 1,000-combination sweep vs a lean numba limit kernel doing the same
  work, vs vectorbt's native ``from_signals`` + stats and vs separate calls, a fresh process's
  import + first sweep, the demo cold and warm;
- ``predictions``: ``backtest_predictions`` on a prediction file vs a plain-Python simulator,
  and ONNX inference (onnxruntime, CPU) vs torch for the example MLP and the price model;
- ``scale``: walk-forward on 1 vs 2 workers (local pool, Ray), per-task executor overhead,
  1,000- and 100,000-combination sweeps of the BTCUSDT year in one engine call and chunked on a
  pool (time, peak memory); ``--large`` (here or in ``bench_scale.py``) adds 1,000,000
  combinations;
- ``live``: the prediction service (``serve``) over HTTP: request latency p50/p99 over 1,000
  sequential requests on 25,000 bars, the BTC year and 10 × the year, throughput with 8
  concurrent clients, the same requests through ``PredictionClient``.

``--quick`` is the CI smoke run: tiny sizes, one repeat, every code path. Tables go to
stdout, progress to stderr; ``--markdown PATH`` writes the same tables as Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest
import bench_kernels
import bench_live
import bench_predictions
import bench_scale
import bench_training
from common import log, render

SECTIONS = {
    "kernels": bench_kernels.run,
    "training": bench_training.run,
    "backtest": bench_backtest.run,
    "predictions": bench_predictions.run,
    "scale": bench_scale.run,
    "live": bench_live.run,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fuzzyvec benchmarks (ratios against anchors measured in the same run)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a CI smoke run (< 60 s)")
    p.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown to PATH")
    p.add_argument("--large", action="store_true",
                   help="scale section: also run a 1,000,000-combination sweep over the BTCUSDT year (a few minutes)")
    args = p.parse_args(argv)
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")

    t0 = time.perf_counter()
    results = []
    for name in names:
        log(f"section {name}{' (quick)' if args.quick else ''}")
        s0 = time.perf_counter()
        res = SECTIONS[name](args.quick, large=args.large) if name == "scale" else SECTIONS[name](args.quick)
        res.seconds = time.perf_counter() - s0
        results.append(res)
    text, md = render(results, quick=args.quick)
    print(text)
    total = time.perf_counter() - t0
    print(f"\n(total {total:.0f} s: {', '.join(f'{r.name} {r.seconds:.0f} s' for r in results)})")
    if args.markdown:
        Path(args.markdown).write_text(md, encoding="utf-8")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
