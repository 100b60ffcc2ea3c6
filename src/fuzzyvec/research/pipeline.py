"""The only place that chains stages: ``fit`` (bars -> bundle) and ``evaluate`` (bundle -> backtest).

Each function is a short straight line through the stage modules, in data-flow order:
bars -> features -> labels -> split -> transform -> train -> bundle, and
bundle + bars -> features -> probabilities -> decisions -> backtest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..errors import DataError, SchemaMismatchError
from ..strategy.grammar import Strategy

__all__ = ["EvaluationResult", "default_run_id", "evaluate", "fit", "fit_and_save", "prepare_training"]


def data_fingerprint(data: Mapping[str, Mapping[str, pl.DataFrame]]) -> dict[str, Any]:
    """sha256 of every bar array, per symbol and timeframe, plus a combined digest."""
    parts: dict[str, Any] = {}
    total = hashlib.sha256()
    for sym, frames in data.items():
        for tf, df in frames.items():
            h = hashlib.sha256()
            for c in ("timestamp", "open", "high", "low", "close", "volume"):
                arr = df[c].to_numpy() if c != "timestamp" else df[c].dt.epoch("us").to_numpy()
                h.update(np.ascontiguousarray(arr).tobytes())
            parts[f"{sym}_{tf}"] = {"bars": df.height, "first": str(df["timestamp"][0]),
                                    "last": str(df["timestamp"][-1]), "sha256": h.hexdigest()}
            total.update(h.digest())
    return {"sha256": total.hexdigest(), "files": parts}


def default_run_id(spec: Strategy) -> str:
    """``YYYYmmdd-HHMMSS-<6 hex of the strategy>``, sortable by creation time."""
    digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:6]
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest}"


@dataclass(frozen=True)
class TrainingSet:
    """What :func:`prepare_training` returns: the split rows, transformed, ready for the loop."""

    dataset: Any  # fuzzyvec.features.dataset.Dataset
    transform: Any  # fuzzyvec.features.transform.FeatureTransform
    X: Mapping[str, np.ndarray]
    y: Mapping[str, np.ndarray]


def prepare_training(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]]) -> TrainingSet:
    """Features + labels -> chronological split with embargo -> transform fitted on train only."""
    from ..features.dataset import SPLITS, build_dataset
    from ..features.transform import fit_transform

    ds = build_dataset(spec, data)
    raw = {name: ds.arrays(name) for name in SPLITS}
    if raw["train"][0].shape[0] == 0:
        raise DataError(
            f"{spec.name}: no training rows after dropping warm-up and unlabelled bars "
            f"(dropped: {dict(ds.dropped)}); load more data or shorten the warm-up/label horizon"
        )
    transform = fit_transform(raw["train"][0], ds.schema, scale_features=spec.model.features.scale_features)
    X = {k: transform.apply(v[0]) for k, v in raw.items()}
    y = {k: v[1] for k, v in raw.items()}
    return TrainingSet(ds, transform, X, y)


def fit(
    spec: Strategy | str | Path,
    data: Mapping[str, Mapping[str, pl.DataFrame]] | None = None,
    *,
    data_dir: Any = None,
    start: Any = None,
    end: Any = None,
    epochs: int | None = None,
    seed: int | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
):
    """Train a strategy's model and return an (unsaved) :class:`~fuzzyvec.model.bundle.ModelBundle`.

    Parameters
    ----------
    spec:
        The strategy (or its path).
    data:
        ``{symbol: {timeframe: bars}}``; loaded with :func:`fuzzyvec.load_strategy_data` (with
        ``data_dir``, ``start``, ``end``) when omitted.
    epochs, seed:
        Override ``model.training.epochs`` / ``model.training.seed``.
    checkpoint_path:
        Write the full training state there every ``checkpoint_every`` epochs (atomically).
    resume:
        Continue from ``checkpoint_path`` if it exists; the result equals an uninterrupted run.
    on_epoch:
        Called with each epoch's record (loss, accuracy, validation loss...).

    Returns
    -------
    ModelBundle
        Weights, feature names and schema hash, the fitted transform, metadata (strategy as
        loaded, labels, split date ranges, data fingerprint, training history) and metrics
        (test accuracy, macro/weighted precision/recall/F1, confusion matrix, class balance).
    """
    from ..data.files import load_strategy_data
    from ..features.dataset import SPLITS
    from ..model.bundle import ModelBundle, load_checkpoint, save_checkpoint
    from ..model.mlp import MLPConfig
    from ..model.train import evaluate_model, train_model
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    if data is None:
        data = load_strategy_data(spec, data_dir=data_dir, start=start, end=end)
    training = spec.model.training
    updates = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    if updates:
        training = training.model_copy(update=updates)
    ts = prepare_training(spec, data)
    config = MLPConfig.from_architecture(spec.model.architecture, len(ts.dataset.schema))
    settings = training_settings(spec, training, ts, data)
    resume_state = None
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        resume_state = load_checkpoint(checkpoint_path)
        check_resume(resume_state.get("settings"), settings, checkpoint_path)
    on_ckpt = ((lambda state: save_checkpoint({**state, "settings": settings}, checkpoint_path))
               if checkpoint_path is not None else None)
    result = train_model(ts.X["train"], ts.y["train"], ts.X["validation"], ts.y["validation"],
                         model_config=config, training=training, on_epoch=on_epoch, on_checkpoint=on_ckpt,
                         resume=resume_state)
    net = result.model()
    evals = {name: evaluate_model(net, ts.X[name], ts.y[name]) for name in SPLITS}
    summary = ts.dataset.summary()
    metrics = {
        "test": evals["test"], "validation": evals["validation"], "train": evals["train"],
        "class_balance": {name: evals[name]["class_balance"] for name in SPLITS},
        "history": result.history, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "warnings": label_warnings(summary) + model_warnings(evals["test"]),
    }
    metadata = {
        "name": spec.name,
        **v3_metadata(spec),
        "strategy": spec.model_dump(mode="json"),
        "strategy_file": strategy_file_record(spec.source_path),
        "description": spec.description, "version": spec.version, "scope": spec.scope,
        "labels": spec.training.labels.model_dump(mode="json"),
        "symbols": list(spec.symbols),
        "timeframes": list(spec.timeframes),
        "base_timeframe": spec.base_timeframe,
        "date_ranges": {name: {k: summary[name][k] for k in ("start", "end", "rows")} for name in SPLITS},
        "split": summary,
        "data_fingerprint": data_fingerprint(data),
        "training": {
            **training.model_dump(mode="json"), "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss, "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early, "restored_best": result.restored_best,
            "class_weights": result.class_weights,
        },
    }
    return ModelBundle(model_config=config, state_dict=result.state_dict, feature_names=ts.dataset.schema.names,
                       schema_sha256=ts.dataset.schema.sha256, transform=ts.transform, metadata=metadata,
                       metrics=metrics)


#: a model that predicts one class on at least this share of the test bars is flagged
ONE_CLASS_SHARE = 0.98


def label_warnings(summary: Mapping[str, Any]) -> list[str]:
    """Degenerate labels: a split without BUY or without SELL labels (``Dataset.summary()``)."""
    from ..features.dataset import SPLITS

    out = []
    for name in SPLITS:
        counts = summary[name]["class_counts"]
        missing = [c for c in ("BUY", "SELL") if counts.get(c, 0) == 0]
        if missing and summary[name]["rows"]:
            out.append(f"the {name} split ({summary[name]['rows']:,} rows) has no {' and no '.join(missing)} labels "
                       f"(class counts {counts}): the model cannot learn or be tested on that side; "
                       "lower the label threshold or use more data")
    return out


def model_warnings(test: Mapping[str, Any]) -> list[str]:
    """A degenerate model: it predicts one class on (nearly) every test bar."""
    from ..features.labels import CLASS_NAMES

    cm = test.get("confusion_matrix")
    if not cm:
        return []
    predicted = np.asarray(cm, dtype=np.float64).sum(axis=0)
    total = predicted.sum()
    if total == 0:
        return []
    top = int(np.argmax(predicted))
    share = predicted[top] / total
    if share >= ONE_CLASS_SHARE:
        what = "on every test bar" if share == 1.0 else f"on {share:.1%} of the test bars"
        return [f"the model predicts {CLASS_NAMES[top]} {what}: it is degenerate (a backtest will make "
                f"{'no' if CLASS_NAMES[top] == 'HOLD' else 'one-sided'} trades); check the label balance"]
    return []


def training_settings(spec: Strategy, training: Any, ts: TrainingSet, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a training run depends on, as plain data (stored in its checkpoints).

    A checkpoint may only be resumed by a run with exactly these settings: the training
    section (epochs and seed overrides included), the architecture, labels and split, the
    resolved features in order, and the fingerprint of the input data.
    """
    v3 = v3_metadata(spec)
    return {
        "indicators": v3["indicators"], "fuzzy_sets": v3["fuzzy_sets"], "nn_inputs": v3["nn_inputs"],
        "model.training": training.model_dump(mode="json"),
        "model.architecture": spec.model.architecture.model_dump(mode="json"),
        "model.features": spec.model.features.model_dump(mode="json"),
        "training.labels": spec.training.labels.model_dump(mode="json"),
        "training.data_split": spec.training.data_split.model_dump(mode="json"),
        "resolved_features": list(ts.dataset.schema.names),
        "data_fingerprint": data_fingerprint(data),
    }


def _differences(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for k in dict.fromkeys([*old, *new]):
            out += _differences(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if path == "resolved_features" and old != new:
        gone = [f for f in old or [] if f not in (new or [])]
        added = [f for f in new or [] if f not in (old or [])]
        what = ", ".join(x for x in (f"checkpoint only: {gone}" if gone else "",
                                     f"strategy only: {added}" if added else "") if x) or "same names, other order"
        return [f"resolved_features differ ({what})"]
    if path == "data_fingerprint" and old != new:
        return ["data_fingerprint: the input bars differ from the checkpoint's"]
    return [] if old == new else [f"{path}: checkpoint {old!r}, strategy {new!r}"]


def check_resume(saved: Mapping[str, Any] | None, settings: Mapping[str, Any], path: Any) -> None:
    """Refuse to resume a checkpoint whose run had other settings (the result would claim settings
    its first epochs never used). Raises :class:`~fuzzyvec.errors.StrategyError` naming each difference."""
    from ..errors import StrategyError

    if saved is None:
        raise StrategyError(f"{path}: this checkpoint does not record its training settings, so resuming it "
                            "cannot be checked; start fresh with --restart")
    diffs = _differences(saved, settings, "")
    if diffs:
        raise StrategyError(f"{path}: cannot resume: the strategy changed since the checkpoint was written: "
                            + "; ".join(diffs) + ". Undo the change, or start fresh with --restart")


def strategy_file_record(path: str | Path | None) -> dict[str, Any] | None:
    """The strategy file as a bundle records it: its file name and the sha256 of its bytes.

    No directory: a bundle names no path of the machine that trained it.
    """
    if not path:
        return None
    p = Path(path)
    digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return {"name": p.name, "sha256": digest}


def v3_metadata(spec: Strategy) -> dict[str, Any]:
    """The strategy's sections in the version 3 YAML shape, for the top level of ``metadata.json``.

    ``strategy_version`` ("3.0"), ``indicators`` (``{id: {type, ...params}}``), ``fuzzy_sets``
    (``{id: {indicator, <membership>: {type, parameters}}}``) and ``nn_inputs`` (the list as
    written, without unset keys) — what downstream checks of the original design read
    (``meta["strategy_version"] == "3.0"``, ``"fuzzy_sets" in meta``).
    """
    dumped = spec.model_dump(mode="json")
    indicators = {i: {"type": d["type"], **d["params"]} for i, d in dumped["indicators"].items()}
    fuzzy_sets = {f: {"indicator": d["indicator"], **d["memberships"]} for f, d in dumped["fuzzy_sets"].items()}
    nn_inputs = [{k: v for k, v in item.items() if v is not None} for item in dumped["nn_inputs"]]
    return {"strategy_version": spec.version, "indicators": indicators, "fuzzy_sets": fuzzy_sets,
            "nn_inputs": nn_inputs}


def fit_and_save(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]] | None = None, *,
                 models_dir: str | Path = "models", run_id: str | None = None, resume: bool = False,
                 **kwargs: Any):
    """:func:`fit`, checkpointing to ``{models_dir}/{name}/checkpoint.pt``, then save the bundle to
    ``{models_dir}/{name}/{run_id}/`` (atomically). The checkpoint is removed once the bundle exists."""
    from ..model.bundle import save_bundle

    root = Path(models_dir) / spec.name
    ckpt = root / "checkpoint.pt"
    if not resume and ckpt.exists():
        ckpt.unlink()
    bundle = fit(spec, data, checkpoint_path=ckpt, resume=resume, **kwargs)
    rid = run_id or default_run_id(spec)
    folder = root / rid
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{rid}-{n}"
    save_bundle(bundle, folder)
    ckpt.unlink(missing_ok=True)
    return bundle


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationResult:
    """Features, probabilities, positions and the backtest of a bundle on bars."""

    features: pl.DataFrame
    probs: Mapping[str, np.ndarray]
    positions: Mapping[str, np.ndarray]
    bars: Mapping[str, pl.DataFrame]
    backtest: Any  # fuzzyvec.backtest.engine.BacktestResult


def bundle_strategy(bundle: Any) -> Strategy:
    """The strategy stored in a bundle's metadata, validated, with the bundle's features.

    Bundles record no machine paths (``strategy_file`` is the file's name and sha256), so a
    relative ``data.dir`` of the stored strategy cannot be resolved: pass the data folder
    (``--data``) where the strategy's own folder mattered. An older bundle that recorded the
    strategy file's path keeps resolving against it.

    Raises
    ------
    BundleError
        No strategy in the metadata.
    StrategyError, SchemaMismatchError
        The stored strategy is invalid, or resolves to other features than the bundle's.
    """
    from ..errors import BundleError
    from ..strategy.load import strategy_from_dict

    where = f"{bundle.path}/metadata.json" if getattr(bundle, "path", None) is not None else "<bundle metadata>"
    raw = bundle.metadata.get("strategy")
    if not isinstance(raw, Mapping):
        raise BundleError(f"{where}: no strategy stored in the bundle")
    spec = strategy_from_dict(raw, source=f"{where} (strategy)")
    source = bundle.metadata.get("strategy_file")
    if isinstance(source, str) and source:  # bundles before format 1.1 recorded the path
        spec._source_path = source
    check_bundle_features(spec, bundle)
    return spec


def check_bundle_features(spec: Strategy, bundle: Any) -> None:
    """Refuse a bundle whose features (order included) differ from what ``spec`` resolves to."""
    from ..features.frame import resolve_features

    schema = resolve_features(spec)
    diff = schema.compare(bundle.feature_names)
    if not diff.equal or schema.sha256 != bundle.schema_sha256:
        where = f" ({bundle.path})" if getattr(bundle, "path", None) else ""
        raise SchemaMismatchError(
            f"the model bundle{where} was trained on different features than strategy {spec.name!r} "
            f"resolves to: {diff.describe()}. Retrain, or use the strategy the bundle was trained with"
        )


def evaluate(
    spec: Strategy | str | Path,
    bundle: Any,
    data: Mapping[str, Mapping[str, pl.DataFrame]] | None = None,
    *,
    data_dir: Any = None,
    start: Any = None,
    end: Any = None,
    **backtest_overrides: Any,
) -> EvaluationResult:
    """Bundle + bars -> features -> probabilities -> positions -> backtest (the engine kernel).

    Features are computed on all bars given (warm-up history included); the backtest covers
    bars opening at or after ``start`` (default: all bars) up to ``end``.

    Raises
    ------
    SchemaMismatchError
        If the bundle's features (names or order) differ from the strategy's.
    """
    from ..backtest.decision import decide
    from ..backtest.engine import backtest as run_backtest
    from ..data.bars import to_utc_datetime
    from ..data.files import load_strategy_data
    from ..features.frame import build_features
    from ..model.bundle import ModelBundle, load_bundle
    from ..model.predict import predict_proba
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle)
    check_bundle_features(spec, bundle)
    if data is None:
        data = load_strategy_data(spec, data_dir=data_dir, end=end)
    features = build_features(spec, data)
    probs_all = predict_proba(bundle, features)
    base = spec.base_timeframe
    start_dt = to_utc_datetime(start, what="start") if start is not None else None
    end_dt = to_utc_datetime(end, what="end") if end is not None else None
    allow_short = spec.backtest.direction != "longonly"
    probs, positions, bars = {}, {}, {}
    for sym in spec.symbols:
        mask = (features["symbol"] == sym).to_numpy() if "symbol" in features.columns else np.ones(features.height, bool)
        ts = features["timestamp"].filter(pl.Series(mask))
        keep = np.ones(ts.len(), bool)
        if start_dt is not None:
            keep &= (ts >= start_dt).to_numpy()
        if end_dt is not None:
            keep &= (ts <= end_dt).to_numpy()
        if keep.sum() < 2:
            raise DataError(f"{sym}: fewer than 2 bars to backtest between {start_dt} and {end_dt}")
        p = probs_all[mask][keep]
        probs[sym] = p
        positions[sym] = decide(p, spec.decisions, allow_short=allow_short)
        bars[sym] = data[sym][base].filter(pl.Series(keep))
    result = run_backtest(bars, positions, config=spec.backtest, timeframe=base, **backtest_overrides)
    return EvaluationResult(features, probs, positions, bars, result)
