"""Training benchmark: ``fuzzyvec.research.pipeline.fit`` of the example strategy on its bundled data.

Reports the wall time of ``fit`` (features, labels, split, transform, the training loop with
the strategy's own epochs and early stopping, evaluation), the loop's throughput and the test
metrics it reached.

Run: ``python benchmarks/bench_training.py [--quick] [--markdown PATH]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    STRATEGY,
    SectionResult,
    Table,
    best_of,
    fmt_num,
    fmt_time,
    log,
    repeats_for,
)

NAME = "training"
QUICK_START = "2023-12-01"  # --quick trains on December only, for 2 epochs


def run(quick: bool = False) -> SectionResult:
    import torch

    import fuzzyvec as fv
    from fuzzyvec.research.pipeline import fit, prepare_training

    res = SectionResult(NAME)
    t_start = time.perf_counter()
    reps = repeats_for(quick)
    spec = fv.load_strategy(STRATEGY)
    data = fv.load_strategy_data(spec, start=QUICK_START if quick else None)
    epochs = 2 if quick else None
    sym = spec.symbols[0]
    base_rows = data[sym][spec.base_timeframe].height

    log(f"prepare_training on {base_rows:,} {spec.base_timeframe} bars")
    t_prep = best_of(lambda: prepare_training(spec, data), reps)
    ts = prepare_training(spec, data)
    rows = {k: v.shape[0] for k, v in ts.X.items()}
    n_features = ts.X["train"].shape[1]

    log("warm-up fit (1 epoch)")
    fit(spec, data, epochs=1)

    best = None
    for r in range(reps):
        log(f"fit {r + 1}/{reps}")
        stamps: list[float] = []
        t0 = time.perf_counter()
        bundle = fit(spec, data, epochs=epochs, on_epoch=lambda rec, s=stamps: s.append(time.perf_counter()))
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, stamps, t0, bundle)
    assert best is not None
    wall, stamps, t0, bundle = best
    m = bundle.metrics
    epochs_run = int(m["epochs_run"])
    if len(stamps) > 1:  # steady state: epochs 2..N (excludes model set-up before epoch 1)
        epoch_s = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    else:
        epoch_s = stamps[0] - t0
    samples_s = rows["train"] / epoch_s
    test = m["test"]
    arch = spec.model.architecture
    tr = spec.model.training

    t = Table(f"Training: fit({STRATEGY.name}) on the bundled {sym} {spec.base_timeframe} data "
              f"(best of {reps})", ["metric", "value"])
    t.add("bars (base timeframe)", f"{base_rows:,}")
    t.add("rows train / validation / test", f"{rows['train']:,} / {rows['validation']:,} / {rows['test']:,}")
    t.add("features × model", f"{n_features} inputs → {list(arch.hidden_layers)} {arch.activation} → 3")
    t.add("optimizer, batch size", f"{tr.optimizer} lr {tr.learning_rate}, batch {tr.batch_size}")
    t.add("epochs run / configured (best epoch)",
          f"{epochs_run} / {epochs or tr.epochs} (best {m['best_epoch']}, stopped early: {m['stopped_early']})")
    t.add("prepare_training (features, labels, split, transform)", fmt_time(t_prep))
    t.add("fit wall time", fmt_time(wall))
    t.add("time per epoch (train + validation pass)", fmt_time(epoch_s))
    t.add("throughput: epochs/s", fmt_num(1.0 / epoch_s, 2))
    t.add("throughput: training samples/s", f"{samples_s:,.0f}")
    t.add("test accuracy", fmt_num(test["accuracy"], 4))
    t.add("test macro F1", fmt_num(test["f1_macro"], 4))
    t.add("test weighted F1", fmt_num(test["f1_weighted"], 4))
    t.notes += [
        f"torch {torch.__version__}, CPU, 1 intra-op thread (fuzzyvec's default for these small layers); "
        "seeded, so every repeat trains the same weights",
        "throughput counts training rows per epoch; the epoch time also includes the validation pass "
        "(early stopping); measured between the epoch callbacks of the best run",
    ]
    if quick:
        t.notes.append(f"--quick: data from {QUICK_START} only and 2 epochs; metrics are meaningless")
    res.tables.append(t)
    res.target("fit wall time, example strategy (full year)" if not quick else "fit wall time (quick subset)",
               fmt_time(wall), "info", None)
    res.target("training throughput", f"{samples_s:,.0f} samples/s", "info", None)
    res.target("test accuracy / macro F1", f"{test['accuracy']:.3f} / {test['f1_macro']:.3f}", "info", None)
    res.seconds = time.perf_counter() - t_start
    return res


if __name__ == "__main__":
    from common import section_main

    sys.exit(section_main(NAME, run))
