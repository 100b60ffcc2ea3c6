"""onnx.py and the price-only extractor: the bundle export (onnxruntime equals torch to 1e-5 at
any batch size), the extractor (nb/windows.py kernels vs pandas, zero-copy windows, no
look-ahead) and the registry (a mismatched model is refused or replaced by a real fallback,
never by zeros)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnxruntime as ort
import pandas as pd
import polars as pl
import pytest
import torch

import fuzzyvec as fv
from fuzzyvec.errors import BundleError
from fuzzyvec.model.onnx import (
    PRICE_FEATURE_NAMES,
    IncompatibleModelError,
    ModelRegistry,
    OnnxRunner,
    export_onnx,
    read_model_metadata,
)
from fuzzyvec.model.price import (
    PriceModel,
    PriceModelConfig,
    complete_windows,
    export_price_model,
    price_feature_array,
    price_features,
    price_windows,
)
from fuzzyvec.nb.windows import complete_rows_nb, minmax_normalize_1d_nb, rolling_minmax_1d_nb

from .conftest import STRATEGIES_DIR

# ---------------------------------------------------------------------------------------------
# the bundle export
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_export(tmp_path_factory):
    """A real bundle (v3_e2e_test, 2 epochs), its exported pair, and 1000 real feature rows."""
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    data = fv.load_strategy_data(spec)
    bundle = fv.fit(spec, data, epochs=2)
    X = fv.select_features(fv.build_features(spec, data), bundle.feature_names, dtype=np.float64)
    rows = X[np.isfinite(X).all(axis=1)][:1000].astype(np.float32)
    out = tmp_path_factory.mktemp("mlp_onnx")
    return bundle, export_onnx(bundle, out), rows


def _torch_probs(bundle, rows: np.ndarray) -> np.ndarray:
    return fv.predict_proba(bundle, pl.DataFrame(rows.astype(np.float64), schema=list(bundle.feature_names)))


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_onnxruntime_equals_torch_at_any_batch_size(mlp_export, batch):
    bundle, path, rows = mlp_export
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"features": rows[:batch]})[0]
    assert got.shape == (batch, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, _torch_probs(bundle, rows[:batch]), rtol=0, atol=1e-5)


def test_graph_inputs_outputs_and_metadata(mlp_export):
    bundle, path, _ = mlp_export
    assert path.name == "v3_e2e_test.onnx"  # default name: the strategy's
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.type) == ("features", "tensor(float)")
    assert isinstance(inp.shape[0], str) and inp.shape[1] == bundle.feature_count  # dynamic batch
    assert out.name == "probabilities" and out.shape[1] == 3
    meta = json.loads((path.parent / "v3_e2e_test_metadata.json").read_text())
    assert meta["sequence_length"] == 1
    assert meta["feature_count"] == bundle.feature_count
    assert meta["feature_names"] == list(bundle.feature_names)
    assert meta["price_normalization"] == "feature_transform"
    assert meta["normalization_params"]["applied_in_graph"] is True
    assert meta["normalization_params"]["offset"] == bundle.transform.offset.tolist()
    assert meta["normalization_params"]["scale"] == bundle.transform.scale.tolist()
    assert meta["classes"] == ["BUY", "HOLD", "SELL"]
    assert meta["source"]["schema_sha256"] == bundle.schema_sha256
    assert read_model_metadata(path)["onnx_sha256"] == meta["onnx_sha256"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["v3_e2e_test.onnx", "v3_e2e_test_metadata.json"]


def test_nan_rows_give_nan_probabilities_like_predict_proba(mlp_export):
    bundle, path, rows = mlp_export
    x = rows[:4].copy()
    x[1, 0] = np.nan
    got = OnnxRunner(path).run(x)
    assert np.isnan(got[1]).all() and np.isfinite(got[[0, 2, 3]]).all()
    np.testing.assert_allclose(got, _torch_probs(bundle, x), atol=1e-5)


def test_export_from_a_saved_bundle_records_its_path(mlp_export, tmp_path):
    bundle, _, rows = mlp_export
    folder = fv.save_bundle(bundle, tmp_path / "bundle")
    path = export_onnx(folder, tmp_path / "out", name="clf")
    meta = read_model_metadata(path)
    assert meta["source"]["bundle_path"] == str(folder) and meta["name"] == "clf"
    np.testing.assert_allclose(OnnxRunner(path).run(rows[:50]), _torch_probs(bundle, rows[:50]), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the rolling kernels and the price-only features
# ---------------------------------------------------------------------------------------------


def _series_with_gaps(n: int = 500, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=n)) + 100
    x[40:60] = 7.0                      # a flat stretch
    x[[5, 200, 201, 350]] = np.nan      # NaN rows
    return x


@pytest.mark.parametrize("window", [1, 2, 3, 17, 120, 499, 500, 501])
def test_rolling_minmax_matches_pandas(window):
    x = _series_with_gaps()
    lo, hi = rolling_minmax_1d_nb(x, window)
    s = pd.Series(x)
    np.testing.assert_array_equal(lo, s.rolling(window).min().to_numpy())
    np.testing.assert_array_equal(hi, s.rolling(window).max().to_numpy())


@pytest.mark.parametrize("window", [2, 20, 120])
def test_minmax_normalize_matches_pandas_formula(window):
    x = _series_with_gaps()
    s = pd.Series(x)
    lo, hi = s.rolling(window).min(), s.rolling(window).max()
    ref = ((s - lo) / (hi - lo)).where(hi != lo, 0.5).where(lo.notna()).to_numpy()
    got = minmax_normalize_1d_nb(x, window)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert ((got[~np.isnan(got)] >= 0) & (got[~np.isnan(got)] <= 1)).all()
    assert (got[40 + window - 1:60][: max(0, 21 - window)] == 0.5).all()  # flat window


def test_price_features_columns_warmup_and_values(btc_5m):
    bars = btc_5m.head(1000)
    f = price_features(bars, normalization_window=120)
    assert f.columns == ["timestamp", *PRICE_FEATURE_NAMES]
    assert PRICE_FEATURE_NAMES == ("close_normalized", "volume_normalized", "high_normalized",
                                   "low_normalized", "open_normalized")
    arr = f.select(PRICE_FEATURE_NAMES).to_numpy()
    assert np.isnan(arr[:119]).all() and np.isfinite(arr[119:]).all()
    close = bars["close"].to_numpy()
    t = 500
    w = close[t - 119:t + 1]
    assert f["close_normalized"][t] == pytest.approx((close[t] - w.min()) / (w.max() - w.min()), abs=1e-15)


def test_price_features_never_see_the_future(btc_5m):
    bars = btc_5m.head(1500)
    full = price_features(bars, normalization_window=60)
    for k in (61, 700, 1499):
        part = price_features(bars.head(k), normalization_window=60)
        assert part.equals(full.head(k))


def test_price_windows_are_zero_copy_float32_views(btc_5m):
    arr = price_feature_array(price_features(btc_5m.head(600)))
    assert arr.dtype == np.float32 and arr.flags.c_contiguous and arr.shape == (600, 5)
    win = price_windows(arr, 120)
    assert win.shape == (481, 120, 5) and win.dtype == np.float32
    assert np.shares_memory(win, arr) and not win.flags.writeable
    np.testing.assert_array_equal(win[0], arr[:120])
    np.testing.assert_array_equal(win[300], arr[300:420])
    assert price_windows(arr[:50], 120).shape == (0, 120, 5)
    ok = complete_windows(arr, 120)
    assert ok.shape == (481,)
    assert not ok[:119].any() and ok[119:].all()  # the first complete window ends at row 238


def test_complete_rows_matches_the_sliding_window_reference():
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(300, 5)).astype(np.float32)
    arr[rng.integers(0, 300, 12), rng.integers(0, 5, 12)] = np.nan
    for length in (1, 4, 30, 300, 301):
        ref = ~np.isnan(np.lib.stride_tricks.sliding_window_view(arr, (length, 5))).any(axis=(-1, -2, -3)) \
            if length <= 300 else np.zeros(0, bool)
        np.testing.assert_array_equal(complete_rows_nb(arr, length), ref)


# ---------------------------------------------------------------------------------------------
# the runner and the registry
# ---------------------------------------------------------------------------------------------


def _untrained(sequence_length: int, seed: int) -> PriceModel:
    torch.manual_seed(seed)
    return PriceModel(PriceModelConfig(sequence_length=sequence_length, hidden=8)).eval()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, mlp_export):
    """price_120 (fits the default extractor), price_60 (sequence_length 60), the classifier."""
    folder = tmp_path_factory.mktemp("registry")
    export_price_model(_untrained(120, 1), folder, "price_120")
    export_price_model(_untrained(60, 2), folder, "price_60")
    export_onnx(mlp_export[0], folder, name="classifier")
    return folder


@pytest.fixture(scope="module")
def windows_120(btc_5m):
    arr = price_feature_array(price_features(btc_5m.head(600)))
    return price_windows(arr, 120)[200:264]


def test_registry_discovers_models_and_renames(model_folder, windows_120):
    reg = ModelRegistry(model_folder)
    assert reg.names == ("classifier", "price_120", "price_60")
    runner = reg.get("price_120")
    assert isinstance(runner, OnnxRunner) and runner.input_shape == (120, 5)
    out = runner.run(windows_120)
    assert out.shape == (64,) and np.isfinite(out).all()
    renamed = ModelRegistry(model_folder, names={"price_120": "main"})
    assert "main" in renamed and "price_120" not in renamed
    np.testing.assert_array_equal(renamed.get("main").run(windows_120), out)
    with pytest.raises(BundleError, match="no model named 'nope'"):
        reg.get("nope")
    with pytest.raises(BundleError, match="no model file for 'ghost'"):
        ModelRegistry(model_folder, names={"ghost": "x"})


def test_mismatched_model_is_refused_with_both_numbers(model_folder):
    reg = ModelRegistry(model_folder)
    with pytest.raises(IncompatibleModelError) as exc:
        reg.get("price_60")
    assert str(exc.value) == ("model 'price_60' expects sequence_length 60 and feature_count 5, "
                              "the extractor produces 120 and 5")
    with pytest.raises(IncompatibleModelError, match="expects sequence_length 1 and feature_count 3, "
                                                     "the extractor produces 120 and 5"):
        reg.get("classifier")
    # configured for 60-row windows, the 120-row model is the one refused
    with pytest.raises(IncompatibleModelError, match=r"expects sequence_length 120 .* produces 60 and 5"):
        ModelRegistry(model_folder, sequence_length=60).get("price_120")
    # another normalisation window: refused too
    with pytest.raises(IncompatibleModelError, match="window 120, the extractor produces 'rolling_minmax' with window 60"):
        ModelRegistry(model_folder, normalization_window=60).get("price_120")


def test_fallback_gives_real_predictions_with_a_warning(model_folder, windows_120):
    reg = ModelRegistry(model_folder, fallback="price_120")
    with pytest.warns(UserWarning, match="model 'price_60' expects sequence_length 60.*fallback model 'price_120'"):
        runner = reg.get("price_60")
    assert runner.name == "price_120"
    out = runner.run(windows_120)
    assert np.isfinite(out).all() and np.ptp(out) > 0  # not a constant stand-in
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.get("price_120") is runner   # a compatible model: no warning
    with pytest.raises(IncompatibleModelError, match="sequence_length 60"):
        ModelRegistry(model_folder, fallback="price_60")  # an incompatible fallback is refused up front


def test_runner_refuses_wrong_window_shapes(model_folder, windows_120):
    runner = ModelRegistry(model_folder).get("price_120")
    with pytest.raises(IncompatibleModelError, match=r"expects inputs of shape \(batch, 120, 5\), got \(64, 60, 5\)"):
        runner.run(windows_120[:, :60])
    assert runner.run(windows_120[:0]).shape == (0,)


def test_missing_or_stale_metadata_is_refused(model_folder, tmp_path):
    import shutil

    for suffix in (".onnx", "_metadata.json"):
        shutil.copy(model_folder / f"price_120{suffix}", tmp_path / f"a{suffix}")
    shutil.copy(model_folder / "price_120.onnx", tmp_path / "lonely.onnx")
    shutil.copy(model_folder / "price_60.onnx", tmp_path / "stale.onnx")            # other weights ...
    shutil.copy(model_folder / "price_120_metadata.json", tmp_path / "stale_metadata.json")  # ... old metadata
    reg = ModelRegistry(tmp_path)
    assert reg.names == ("a", "lonely", "stale")
    with pytest.raises(IncompatibleModelError, match=r"no metadata file lonely_metadata\.json"):
        reg.get("lonely")
    with pytest.raises(IncompatibleModelError, match=r"onnx_sha256 does not match stale\.onnx"):
        reg.get("stale")
    with pytest.warns(UserWarning, match="fallback model 'a'"):
        assert ModelRegistry(tmp_path, fallback="a").get("stale").name == "a"


def test_cli_export_onnx_writes_the_pair_and_checks_parity(mlp_export, tmp_path):
    from .test_cli import run_cli

    bundle, _, rows = mlp_export
    folder = fv.save_bundle(bundle, tmp_path / "bundle")
    proc = run_cli("export-onnx", str(folder), "--out", str(tmp_path / "onnx"), "--name", "mlp", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["onnx"] == str(tmp_path / "onnx" / "mlp.onnx") and out["feature_count"] == bundle.feature_count
    assert out["sequence_length"] == 1 and out["max_abs_diff_vs_torch"] <= 1e-5
    np.testing.assert_allclose(OnnxRunner(out["onnx"]).run(rows[:20]), _torch_probs(bundle, rows[:20]), atol=1e-5)

    bad = run_cli("export-onnx", str(tmp_path / "no_such_bundle"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no_such_bundle" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
