"""fuzzyvec: vectorised research toolkit for fuzzy-neural trading strategies.

One YAML strategy drives the whole chain: bars -> indicators -> fuzzy memberships ->
feature frame -> labels -> MLP -> decisions -> vectorbt backtest.

>>> import fuzzyvec as fv
>>> spec = fv.load_strategy("strategies/v3_test_example.yaml")   # doctest: +SKIP
>>> data = fv.load_strategy_data(spec)                            # doctest: +SKIP
>>> frame = fv.build_features(spec, data)                         # doctest: +SKIP

Heavy dependencies (numba kernels, torch, vectorbt) are imported on first use of the
function that needs them, so ``import fuzzyvec`` is quick.
"""

from __future__ import annotations

import importlib
from typing import Any

# These four functions share their name with their module; importing them eagerly keeps
# ``fv.backtest`` / ``fv.sweep`` / ``fv.membership`` / ``fv.search`` the functions even after the
# submodules are imported. The modules themselves are light (vectorbt and numba load on first call).
from .backtest import BacktestResult, backtest
from .errors import BundleError, DataError, FuzzyvecError, SchemaMismatchError, StrategyError
from .membership import membership
from .search import SearchResult, search
from .sweep import SweepResult, sweep

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY: dict[str, str] = {
    "load_strategy": "strategy_io",
    "Strategy": "strategy",
    "load_ohlcv": "data",
    "load_strategy_data": "data",
    "resample": "data",
    "sample_data_dir": "data",
    "resolve_features": "features",
    "build_features": "features",
    "select_features": "features",
    "FeatureSchema": "features",
    "compute_indicator": "indicators",
    "register_indicator": "registry",
    "indicator_types": "registry",
    "strategy_summary": "summary",
    "make_labels": "labels",
    "fit": "pipeline",
    "evaluate": "pipeline",
    "ModelBundle": "bundle",
    "load_bundle": "bundle",
    "save_bundle": "bundle",
    "predict_proba": "predict",
    "decide": "decision",
    "decide_step": "decision",
    "check_lookahead": "lookahead",
    "backtest_predictions": "predictions",
    "load_predictions": "predictions",
    "export_onnx": "onnx",
    "OnnxRunner": "onnx",
    "ModelRegistry": "onnx",
    "IncompatibleModelError": "onnx",
    "price_features": "price_model",
    "price_windows": "price_model",
    "train_price_model": "price_model",
    "export_price_model": "price_model",
    "backtest_price_model": "price_model",
    "price_model_predictions": "price_model",
    "predictions_from_probs": "predictions",
    "write_predictions_csv": "predictions",
    "walk_forward": "walkforward",
    "make_executor": "executors",
    "run_batch": "batch",
    "warmup_check": "warmup",
    "unregister_indicator": "registry",
}

__all__ = [
    "BacktestResult",
    "BundleError",
    "DataError",
    "FeatureSchema",
    "FuzzyvecError",
    "IncompatibleModelError",
    "ModelBundle",
    "ModelRegistry",
    "OnnxRunner",
    "SchemaMismatchError",
    "SearchResult",
    "Strategy",
    "StrategyError",
    "SweepResult",
    "__version__",
    "backtest",
    "backtest_predictions",
    "backtest_price_model",
    "build_features",
    "check_lookahead",
    "compute_indicator",
    "decide",
    "decide_step",
    "evaluate",
    "export_onnx",
    "export_price_model",
    "fit",
    "indicator_types",
    "load_bundle",
    "load_ohlcv",
    "load_predictions",
    "load_strategy",
    "load_strategy_data",
    "make_executor",
    "make_labels",
    "membership",
    "predict_proba",
    "predictions_from_probs",
    "price_features",
    "price_model_predictions",
    "price_windows",
    "register_indicator",
    "resample",
    "resolve_features",
    "run_batch",
    "sample_data_dir",
    "save_bundle",
    "search",
    "select_features",
    "strategy_summary",
    "sweep",
    "train_price_model",
    "unregister_indicator",
    "walk_forward",
    "warmup_check",
    "write_predictions_csv",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fuzzyvec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
