"""fuzzyvec: vectorised research toolkit for fuzzy-neural trading strategies.

One YAML strategy drives the whole chain: bars -> indicators -> fuzzy memberships ->
feature frame -> labels -> MLP -> decisions -> backtest (one numba engine; vectorbt analytics).

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
from .backtest.engine import BacktestResult, backtest
from .backtest.sweep import SweepResult, sweep
from .errors import BundleError, DataError, FuzzyvecError, SchemaMismatchError, StrategyError
from .features.membership import membership
from .research.search import SearchResult, search

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY: dict[str, str] = {
    "load_strategy": "strategy.load",
    "Strategy": "strategy.grammar",
    "load_ohlcv": "data.bars",
    "load_strategy_data": "data.files",
    "resample": "data.bars",
    "sample_data_dir": "data.files",
    "resolve_features": "features.frame",
    "build_features": "features.frame",
    "select_features": "features.frame",
    "FeatureSchema": "features.frame",
    "compute_indicator": "features.indicators",
    "register_indicator": "strategy.registry",
    "indicator_types": "strategy.registry",
    "strategy_summary": "features.summary",
    "make_labels": "features.labels",
    "fit": "research.pipeline",
    "evaluate": "research.pipeline",
    "ModelBundle": "model.bundle",
    "load_bundle": "model.bundle",
    "save_bundle": "model.bundle",
    "predict_proba": "model.predict",
    "decide": "backtest.decision",
    "decide_step": "backtest.decision",
    "check_lookahead": "research.lookahead",
    "backtest_predictions": "backtest.predictions",
    "load_predictions": "backtest.predictions",
    "export_onnx": "model.onnx",
    "OnnxRunner": "model.onnx",
    "ModelRegistry": "model.onnx",
    "IncompatibleModelError": "model.onnx",
    "price_features": "model.price",
    "price_windows": "model.price",
    "train_price_model": "model.price",
    "export_price_model": "model.price",
    "backtest_price_model": "backtest.predictions",
    "price_model_predictions": "model.price",
    "predictions_from_probs": "backtest.predictions",
    "write_predictions_csv": "backtest.predictions",
    "walk_forward": "research.walkforward",
    "make_executor": "research.executors",
    "run_batch": "research.batch",
    "warmup_check": "features.warmup",
    "unregister_indicator": "strategy.registry",
    "pbo": "backtest.significance",
    "deflated_sharpe": "backtest.significance",
    "baselines_from_result": "backtest.baselines",
    "PredictionClient": "live.client",
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
    "PredictionClient",
    "SchemaMismatchError",
    "SearchResult",
    "Strategy",
    "StrategyError",
    "SweepResult",
    "__version__",
    "backtest",
    "backtest_predictions",
    "backtest_price_model",
    "baselines_from_result",
    "build_features",
    "check_lookahead",
    "compute_indicator",
    "decide",
    "decide_step",
    "deflated_sharpe",
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
    "pbo",
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
