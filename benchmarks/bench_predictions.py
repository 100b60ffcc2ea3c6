"""Predictions benchmarks: prediction-file backtests vs a plain-Python simulator, and ONNX
inference (onnxruntime, CPU) vs torch for the example strategy's MLP and the price model.

- ``fuzzyvec.backtest_predictions`` (SPEC §8) on the bundled BTCUSDT 5m year with a fixed
  pseudo-random prediction file, against ``benchmarks/python_predictions.py`` (the same
  rules as a plain-Python event loop); same final equity (checked to 1e-9).
- Inference throughput of the exported graphs (``fuzzyvec.model.onnx.export_onnx``,
  ``fuzzyvec.model.price.export_price_model``) in onnxruntime against the same networks
  in torch, with the same thread count; outputs checked to agree to 1e-5.

Run: ``python benchmarks/bench_predictions.py [--quick] [--markdown PATH]``.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    STRATEGY,
    SectionResult,
    Table,
    best_of,
    btc_5m_pl,
    fmt_num,
    fmt_ratio,
    fmt_sci,
    fmt_time,
    log,
    realistic_probs,
    repeats_for,
)

NAME = "predictions"
QUICK_BARS = (20_000, 3_000)  # --quick: (first bar, bars) of the prediction backtest (all exit kinds occur)
QUICK_START = "2023-12-01"  # --quick: the MLP trains on December only
QUICK_ROWS = 2_000  # --quick: feature rows / windows of the inference benchmark
SIGNAL_THRESHOLD = 0.65  # backtest_predictions' default
TOLERANCE = 1e-5  # onnxruntime vs torch, max |difference| of the outputs
INFERENCE_REPEATS = 10  # full mode: best of 10 (calls of 10-100 ms are sensitive to other load on the machine)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def _freeze_heap() -> None:
    """Collect, then move every live object to the garbage collector's permanent generation.

    ``best_of`` runs ``gc.collect()`` before each timing; with torch and the ONNX exporter
    loaded, a full collection walks millions of long-lived objects (~0.6 s each).
    Frozen objects are skipped; ``run`` unfreezes them at the end. Nothing timed changes: the
    collector is disabled during the timed calls either way.
    """
    gc.collect()
    gc.freeze()


# ---------------------------------------------------------------------------------------------
# the prediction file
# ---------------------------------------------------------------------------------------------


def prediction_frame(bars: Any, *, seed: int = 21, scale: float = 0.6) -> Any:
    """A fixed pseudo-random prediction file: one row per bar from the second bar on.

    Signal and confidence come from :func:`common.realistic_probs` (AR(1) logits through a
    softmax, so views persist for a while as a model's do): the row of bar ``t`` uses the
    probabilities of bar ``t - 1`` (known at its close), signal = the most likely class
    (BUY → long, HOLD → neutral, SELL → short), confidence = its probability. A long row's
    stop-loss is 0.15-0.6 % below the bar's open and its take-profit 0.2-1 % above (a
    short's mirrored), drawn uniformly; neutral rows leave both empty.
    """
    import polars as pl

    n = bars.height
    p = realistic_probs(n, seed=seed, scale=scale)[:-1]
    cls = p.argmax(axis=1)
    conf = p.max(axis=1)
    direction = np.select([cls == 0, cls == 2], [1.0, -1.0], 0.0)
    rng = np.random.default_rng(seed + 1)
    sl_d, tp_d = rng.uniform(0.0015, 0.006, n - 1), rng.uniform(0.002, 0.01, n - 1)
    o = bars["open"].to_numpy()[1:]
    sl = np.where(direction != 0, o * (1.0 - direction * sl_d), np.nan)
    tp = np.where(direction != 0, o * (1.0 + direction * tp_d), np.nan)
    names = np.array(["short", "neutral", "long"])[direction.astype(np.int64) + 1]
    return pl.DataFrame({
        "timestamp": bars["timestamp"][1:],
        "signal": pl.Series(names.tolist(), dtype=pl.String),
        "confidence": conf,
        "stop_loss": pl.Series(sl).fill_nan(None),
        "take_profit": pl.Series(tp).fill_nan(None),
    })


# ---------------------------------------------------------------------------------------------
# prediction-file backtest: fuzzyvec vs the plain-Python simulator
# ---------------------------------------------------------------------------------------------


def bench_prediction_backtest(res: SectionResult, quick: bool) -> None:
    import python_predictions as pyp

    import fuzzyvec as fv

    reps = repeats_for(quick)
    spec = fv.load_strategy(STRATEGY)
    fees, slippage = spec.backtest.fees, spec.backtest.slippage
    import polars as pl

    bars = btc_5m_pl()
    preds = prediction_frame(bars)
    if quick:
        bars = bars.slice(*QUICK_BARS)
        preds = preds.filter(pl.col("timestamp").is_between(bars["timestamp"][0], bars["timestamp"][-1]))
    n = bars.height
    rows = preds.height
    acting = int(((preds["signal"] != "neutral") & (preds["confidence"] >= SIGNAL_THRESHOLD)).sum())
    log(f"prediction backtest: {rows:,} prediction rows ({acting:,} acting) on {n:,} BTCUSDT 5m bars")
    # n_random=0: the simulation alone, as the plain-Python simulator does it (the baselines are timed below)
    kw = dict(signal_threshold=SIGNAL_THRESHOLD, fees=fees, slippage=slippage, timeframe="5m", n_random=0)

    def fv_run():
        return fv.backtest_predictions(bars, preds, **kw)

    t0 = time.perf_counter()
    result = fv_run()
    t_first = time.perf_counter() - t0
    fv_final = float(result.stats["final_equity"])
    fv_trades = int(result.stats["trades"])
    t_fv = best_of(fv_run, reps)
    t_load = best_of(lambda: fv.load_predictions(preds, bars=bars), reps)
    t_base = best_of(lambda: fv.backtest_predictions(bars, preds, **{**kw, "n_random": 1000}), reps)

    with tempfile.TemporaryDirectory(prefix="fuzzyvec-bench-preds-") as tmp:
        csv_path = fv.write_predictions_csv(preds, Path(tmp) / "predictions.csv")
        csv_final = float(fv.backtest_predictions(bars, csv_path, **kw).stats["final_equity"])
        assert csv_final == fv_final, (csv_final, fv_final)
        t_csv = best_of(lambda: fv.backtest_predictions(bars, csv_path, **kw), reps)

    def py_inputs():
        o, h, lo, c = (bars[k].to_list() for k in ("open", "high", "low", "close"))
        by_bar = pyp.rows_by_bar(bars["timestamp"].dt.epoch("us").to_list(),  # ints: tz-aware datetimes cost 10x
                                 preds["timestamp"].dt.epoch("us").to_list(),
                                 preds["signal"].to_list(), preds["confidence"].to_list(),
                                 preds["stop_loss"].to_list(), preds["take_profit"].to_list())
        return o, h, lo, c, by_bar

    def py_loop(o, h, lo, c, by_bar):
        return pyp.run_predictions(o, h, lo, c, by_bar, threshold=SIGNAL_THRESHOLD, init_cash=10_000.0,
                                   fees=fees, slippage=slippage)

    def py_run():
        return py_loop(*py_inputs())

    ref = py_run()
    inputs = py_inputs()
    t_py = best_of(py_run, reps, warmup=0)
    t_pyloop = best_of(lambda: py_loop(*inputs), reps, warmup=0)

    diff = abs(ref["final_equity"] - fv_final) / abs(fv_final)
    eq = result.equity["equity"].to_numpy()
    curve_diff = float(np.max(np.abs(np.asarray(ref["equity"]) - eq) / np.abs(eq)))
    if diff > 1e-9 or len(ref["trades"]) != fv_trades:
        raise AssertionError(f"fuzzyvec.backtest_predictions and benchmarks/python_predictions.py disagree: final "
                             f"equity {fv_final!r} vs {ref['final_equity']!r} (relative {diff:.3g}), trades "
                             f"{fv_trades} vs {len(ref['trades'])}")
    reasons = {r: int((result.trades["exit_reason"] == r).sum()) for r in ("sl", "tp", "close")}

    t = Table(f"Prediction-file backtest: BTCUSDT 5m, {n:,} bars, {rows:,} prediction rows ({acting:,} acting), "
              f"{fv_trades:,} trades (best of {reps})",
              ["what", "time", "prediction rows/s", "vs fuzzyvec", "final equity"])
    t.add("fuzzyvec.backtest_predictions(bars, frame) (validate, plan, simulate, stats, trades, equity)",
          fmt_time(t_fv), _rate(rows, t_fv), "1.00×", fmt_num(fv_final, 4))
    t.add("  of which load_predictions (validation against the bars)", fmt_time(t_load), "",
          fmt_ratio(t_load / t_fv), "")
    t.add("  with its default baselines (buy-and-hold, flat, 1,000 random-entry series)", fmt_time(t_base),
          _rate(rows, t_base), fmt_ratio(t_base / t_fv), "")
    t.add("fuzzyvec.backtest_predictions(bars, 'predictions.csv') (CSV parsing included)", fmt_time(t_csv),
          _rate(rows, t_csv), fmt_ratio(t_csv / t_fv), fmt_num(csv_final, 4))
    t.add("fuzzyvec: first call in this process (the engine kernel loads from the numba cache)",
          fmt_time(t_first), _rate(rows, t_first), fmt_ratio(t_first / t_fv), "")
    t.add("plain-Python simulator (frames → lists + event loop)", fmt_time(t_py), _rate(rows, t_py),
          fmt_ratio(t_py / t_fv), fmt_num(ref["final_equity"], 4))
    t.add("  its event loop alone (inputs already Python lists)", fmt_time(t_pyloop), _rate(rows, t_pyloop),
          fmt_ratio(t_pyloop / t_fv), "")
    t.add("relative difference of final equity (max over the equity curve)", "", "", "",
          f"{fmt_sci(diff)} ({fmt_sci(curve_diff)})")
    t.notes += [
        ("--quick: bars 20,000 to 22,999 of the year and their rows; " if quick else "")
        + f"prediction file: one row per bar from the 2nd on, fixed seed (benchmarks/bench_predictions.py): "
        f"signal = most likely class of pseudo-random AR(1) probabilities, confidence = its probability; "
        f"long/short rows carry a stop-loss 0.15-0.6 % and a take-profit 0.2-1 % from the bar's open on the "
        f"correct side; a row acts at confidence >= {SIGNAL_THRESHOLD}",
        f"settings: fees {fees}, slippage {slippage} (the example strategy's), init_cash 10,000 USDT; exits: "
        f"{reasons['sl']:,} stop-loss, {reasons['tp']:,} take-profit, {reasons['close']:,} at the close",
        "plain-Python simulator: benchmarks/python_predictions.py, the SPEC §8 rules as one loop over the bars; "
        "timed from the same polars frames (columns to lists, rows matched to bars by epoch-microsecond "
        "timestamp in a dict); it does not "
        "validate the file and computes only the equity curve and the trade list, no stats",
        "the first call's extra time is loading the engine kernel (cache=True) from the numba cache",
        f"checked: same trade count ({fv_trades:,}) and final equity to 1e-9 relative; the CSV path gives the "
        f"same final equity",
    ]
    res.tables.append(t)
    res.target("prediction backtest: plain-Python simulator / fuzzyvec time", fmt_ratio(t_py / t_fv), "info", None)
    res.target("prediction backtest throughput (fuzzyvec, frame input)", f"{rows / t_fv:,.0f} rows/s", "info", None)
    res.target("prediction backtest: final equity vs plain Python, relative difference", fmt_sci(diff), "info",
               None)


# ---------------------------------------------------------------------------------------------
# inference: onnxruntime vs torch
# ---------------------------------------------------------------------------------------------


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _mlp_case(quick: bool, out_dir: Path) -> dict[str, Any]:
    """A tiny bundle of the example strategy, its export, and its finite feature rows."""
    import torch

    import fuzzyvec as fv
    from fuzzyvec.model.onnx import _ProbabilityGraph, export_onnx

    spec = fv.load_strategy(STRATEGY)
    data = fv.load_strategy_data(spec, start=QUICK_START if quick else None)
    epochs = 1 if quick else 2
    log(f"MLP: fit({STRATEGY.name}, epochs={epochs}) and export_onnx")
    bundle = fv.fit(spec, data, epochs=epochs)
    path = export_onnx(bundle, out_dir, name="mlp")
    frame = fv.build_features(spec, data)
    X = fv.select_features(frame, bundle.feature_names, dtype=np.float64)
    rows = np.ascontiguousarray(X[np.isfinite(X).all(axis=1)], dtype=np.float32)
    if quick:
        rows = rows[:QUICK_ROWS]
    graph = _ProbabilityGraph(bundle.model(), bundle.transform.offset, bundle.transform.scale).eval()
    arch = spec.model.architecture
    label = (f"MLP classifier of {STRATEGY.name} ({bundle.feature_count} inputs → {list(arch.hidden_layers)} "
             f"{arch.activation} → 3; transform and softmax in the graph)")

    def proba_frame():
        import polars as pl

        return pl.DataFrame(rows.astype(np.float64), schema=list(bundle.feature_names))

    pframe = proba_frame()
    return {"label": label, "path": path, "inputs": rows, "module": graph, "unit": "feature rows",
            "extra": ("fuzzyvec.predict_proba (torch, float64 transform in numpy)",
                      lambda: fv.predict_proba(bundle, pframe)),
            "torch_in": torch.from_numpy(rows)}


def _price_case(quick: bool, out_dir: Path) -> dict[str, Any]:
    """A price model trained briefly, its export, and the complete windows of the 5m year."""
    import torch

    from fuzzyvec.model.price import (
        complete_windows,
        export_price_model,
        price_feature_array,
        price_features,
        price_windows,
        train_price_model,
    )

    bars = btc_5m_pl()
    train_bars = bars.head(5_000 if quick else 20_000)
    log(f"price model: train_price_model on {train_bars.height:,} bars (1 epoch) and export_price_model")
    model = train_price_model(train_bars, epochs=1, seed=0)
    cfg = model.config
    path = export_price_model(model, out_dir, "price")
    arr = price_feature_array(price_features(bars, normalization_window=cfg.normalization_window))
    view = price_windows(arr, cfg.sequence_length)
    ok = complete_windows(arr, cfg.sequence_length)
    pick = np.flatnonzero(ok)[:QUICK_ROWS] if quick else ok
    windows = np.ascontiguousarray(view[pick])  # one contiguous float32 copy, made before any timing
    label = (f"price model ({cfg.sequence_length}×5 window → {cfg.hidden} relu → 1), "
             f"({windows.shape[0]:,}, {cfg.sequence_length}, 5) float32 windows")
    return {"label": label, "path": path, "inputs": windows, "module": model.eval(),
            "unit": "windows", "extra": None, "torch_in": torch.from_numpy(windows)}


def bench_inference(res: SectionResult, quick: bool) -> None:
    import onnxruntime as ort
    import torch

    from fuzzyvec.model.onnx import OnnxRunner

    reps = 1 if quick else INFERENCE_REPEATS
    threads = torch.get_num_threads()
    t = Table(f"Inference: onnxruntime {ort.__version__} (CPU provider) vs torch {torch.__version__}, "
              f"{threads} threads each (best of {reps})",
              ["model", "engine", "batch", "time", "samples/s", "speed-up vs torch", "max |diff| vs torch"])
    with tempfile.TemporaryDirectory(prefix="fuzzyvec-bench-onnx-") as tmp:
        cases = [("mlp", _mlp_case(quick, Path(tmp))), ("price model", _price_case(quick, Path(tmp)))]
        _freeze_heap()
        for short, case in cases:
            x, xt, module = case["inputs"], case["torch_in"], case["module"]
            n = x.shape[0]
            log(f"inference {short}: {n:,} {case['unit']}")
            sess = _session(case["path"], threads)
            in_name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
            runner = OnnxRunner(case["path"])

            def torch_run(module=module, xt=xt):
                with torch.inference_mode():
                    return module(xt)

            def ort_run(sess=sess, x=x, in_name=in_name, out_name=out_name):
                return sess.run([out_name], {in_name: x})[0]

            ref = torch_run().numpy()
            got = ort_run()
            via_runner = runner.run(x)
            d_ort = float(np.max(np.abs(got.astype(np.float64) - ref)))
            d_runner = float(np.max(np.abs(via_runner.astype(np.float64) - ref)))
            if not (d_ort <= TOLERANCE and d_runner <= TOLERANCE):
                raise AssertionError(f"{short}: onnxruntime differs from torch by {max(d_ort, d_runner):.3g} "
                                     f"(> {TOLERANCE})")
            t_torch = best_of(torch_run, reps)
            t_ort = best_of(ort_run, reps)
            t_runner = best_of(lambda runner=runner, x=x: runner.run(x), reps)
            batch = f"{n:,}"
            t.add(case["label"], "torch (eval, inference_mode, one call)", batch, fmt_time(t_torch),
                  f"{n / t_torch:,.0f}", "1.00×", "—")
            t.add("", "onnxruntime InferenceSession.run (one call)", batch, fmt_time(t_ort), f"{n / t_ort:,.0f}",
                  fmt_ratio(t_torch / t_ort), fmt_sci(d_ort))
            t.add("", "fuzzyvec OnnxRunner.run (chunks of 4,096 rows)", batch, fmt_time(t_runner),
                  f"{n / t_runner:,.0f}", fmt_ratio(t_torch / t_runner), fmt_sci(d_runner))
            if case["extra"] is not None:
                name, fn = case["extra"]
                probs = fn()
                d_extra = float(np.max(np.abs(probs - ref)))
                t_extra = best_of(fn, reps)
                t.add("", name, batch, fmt_time(t_extra), f"{n / t_extra:,.0f}", fmt_ratio(t_torch / t_extra),
                      fmt_sci(d_extra))
            res.target(f"inference {short}: onnxruntime / torch throughput", fmt_ratio(t_torch / t_ort), "info", None)
    t.notes += [
        "torch: the same network as the exported graph (for the MLP, fuzzyvec.model.onnx's export module: float64 "
        "transform, MLP, softmax), eval mode, torch.inference_mode, the whole batch in one call",
        f"onnxruntime: an InferenceSession of the exported .onnx file with intra_op_num_threads={threads} "
        f"(torch.get_num_threads()), the whole batch in one call; OnnxRunner.run is fuzzyvec's runner (default "
        f"session options) as price_model_predictions uses it",
        f"checked: every onnxruntime output equals torch's to {TOLERANCE:g} (max |difference| shown)",
        "models: the MLP from fuzzyvec.fit of the example strategy with "
        + ("1 epoch on December 2023" if quick else "2 epochs on the bundled year")
        + ", its inputs every feature row without a NaN; the price model from train_price_model (1 epoch), "
        "its inputs the complete windows of the bundled BTCUSDT 5m year, copied once to a contiguous array",
        f"machine: {os.cpu_count()} logical CPUs",
    ]
    res.tables.append(t)


def run(quick: bool = False) -> SectionResult:
    res = SectionResult(NAME)
    t0 = time.perf_counter()
    try:
        _freeze_heap()
        bench_prediction_backtest(res, quick)
        bench_inference(res, quick)
    finally:
        gc.unfreeze()
    res.seconds = time.perf_counter() - t0
    return res


if __name__ == "__main__":
    from common import section_main

    sys.exit(section_main(NAME, run))
