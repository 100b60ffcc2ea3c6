"""The model bundle: saving (atomically) and loading — the only place that reads torch files.

A bundle is a folder, ``models/{strategy}/{run_id}/``, holding

* ``model.pt`` — the MLP's state dict, CPU tensors only (never a pickled module);
* ``metadata.json`` — everything needed to rebuild and trust the model: ``format_version``,
  ``resolved_features`` (ordered), ``schema_sha256``, ``feature_count``, ``architecture``,
  ``transform`` (scaler and raw-normalisation statistics), ``class_encoding``, ``versions``,
  ``created_at``, plus the keys the caller supplies (:data:`CALLER_METADATA_KEYS`);
* ``metrics.json`` — training and evaluation metrics.

Every torch file is read by one private function, :func:`_torch_load`, which calls the
torch loader with ``map_location="cpu"`` and ``weights_only=True``: a model saved on a GPU
or Apple-silicon machine loads on a CPU-only one, and a file carrying any pickled object
other than tensors and plain containers is refused without running it.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import platform
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from enum import Enum
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BundleError
from ..features.frame import schema_hash
from ..features.labels import CLASS_NAMES
from ..features.transform import FeatureTransform
from ..io_utils import atomic_dir, atomic_write
from .mlp import MLP, MLPConfig

__all__ = [
    "CALLER_METADATA_KEYS",
    "CLASS_ENCODING",
    "FORMAT_VERSION",
    "ModelBundle",
    "bundle_metadata",
    "load_bundle",
    "load_checkpoint",
    "save_bundle",
    "save_checkpoint",
]

#: Version of the bundle layout; :func:`load_bundle` refuses any other.
FORMAT_VERSION = 1

MODEL_FILE = "model.pt"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"

#: Metadata keys the caller (the pipeline) must supply to :func:`save_bundle`.
CALLER_METADATA_KEYS: tuple[str, ...] = (
    "strategy",          # the strategy as loaded (dict or the pydantic Strategy)
    "labels",            # the label configuration
    "symbols",           # training symbols
    "timeframes",        # timeframes used
    "date_ranges",       # train / validation / test date ranges
    "data_fingerprint",  # fingerprint of the input data
    "training",          # training summary: history, best epoch, epochs run, early stop, ...
)

#: Metadata keys :func:`save_bundle` derives from the bundle itself (a caller value must agree).
DERIVED_METADATA_KEYS: tuple[str, ...] = (
    "format_version", "resolved_features", "schema_sha256", "feature_count", "architecture",
    "transform", "class_encoding",
)

#: Metadata keys :func:`save_bundle` fills when the caller did not (kept when re-saving).
DEFAULT_METADATA_KEYS: tuple[str, ...] = ("created_at", "versions")

CLASS_ENCODING: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}


# ---------------------------------------------------------------------------------------------
# the one torch loader
# ---------------------------------------------------------------------------------------------


def _torch_load(path: Path) -> Any:
    """Read a torch file safely: CPU storages, tensors and plain containers only.

    Raises
    ------
    BundleError
        If the file is missing, unreadable, or contains pickled objects other than tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise BundleError(f"{path}: refused: {path.name} contains pickled objects other than tensors "
                          f"({_unpickling_reason(exc)})") from None
    except RuntimeError as exc:
        if "weights only" in str(exc).lower():
            raise BundleError(f"{path}: refused: {path.name} contains pickled objects other than tensors "
                              f"({_unpickling_reason(exc)})") from None
        raise BundleError(f"{path}: unreadable torch file ({str(exc).splitlines()[0][:300]})") from None
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: unreadable torch file ({type(exc).__name__}: {exc})") from None


def _unpickling_reason(exc: BaseException) -> str:
    """The specific line of torch's long weights-only error message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        low = ln.lower()
        if "unsupported" in low or "global" in low or "operand" in low:
            return ln[:300]
    return (lines[-1] if lines else type(exc).__name__)[:300]


# ---------------------------------------------------------------------------------------------
# the bundle
# ---------------------------------------------------------------------------------------------


def _expected_shapes(config: MLPConfig) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of the MLP a config describes (built on the meta device: no memory, no RNG)."""
    with torch.device("meta"):
        net = MLP(config)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _describe(config: MLPConfig) -> str:
    return " → ".join(str(w) for w in (config.n_features, *config.hidden_layers, config.n_classes))


def _check_state_dict(state: Any, config: MLPConfig, where: str) -> dict[str, torch.Tensor]:
    """The state dict if its keys and tensor shapes match ``config``; else BundleError."""
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise BundleError(f"{where}: expected a state dict of named tensors, got {type(state).__name__}")
    expected = _expected_shapes(config)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise BundleError(f"{where}: tensors do not match the architecture ({_describe(config)}): "
                          f"missing {missing or 'none'}, unexpected {unexpected or 'none'}")
    for k, shape in expected.items():
        got = tuple(state[k].shape)
        if got != shape:
            raise BundleError(f"{where}: tensor {k} has shape {got} but the architecture "
                              f"({_describe(config)}) expects {shape}")
        if not state[k].is_floating_point():
            raise BundleError(f"{where}: tensor {k} has dtype {state[k].dtype}, expected floating point")
    return {k: state[k] for k in expected}


@dataclass
class ModelBundle:
    """A trained model with everything needed to use it safely.

    Attributes
    ----------
    model_config:
        Rebuilds the network (stored as ``architecture``).
    state_dict:
        The network's weights (CPU tensors).
    feature_names:
        Model inputs in order — the feature schema's names.
    schema_sha256:
        sha256 of ``feature_names`` (checked against the names).
    transform:
        The fitted transform applied between the feature frame and the network.
    metadata:
        Everything else (see :data:`CALLER_METADATA_KEYS`); after :func:`save_bundle` or
        :func:`load_bundle` it is the full content of ``metadata.json``.
    metrics:
        Training and evaluation metrics (``metrics.json``).
    path:
        The bundle folder, once saved or when loaded.
    """

    model_config: MLPConfig
    state_dict: dict[str, torch.Tensor]
    feature_names: tuple[str, ...]
    schema_sha256: str
    transform: FeatureTransform
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.feature_names = tuple(self.feature_names)
        if len(set(self.feature_names)) != len(self.feature_names):
            raise BundleError("feature_names contains duplicates")
        if schema_hash(self.feature_names) != self.schema_sha256:
            raise BundleError(f"schema_sha256 {self.schema_sha256!r} is not the hash of feature_names "
                              f"({schema_hash(self.feature_names)!r})")
        if self.model_config.n_features != len(self.feature_names):
            raise BundleError(f"the architecture takes {self.model_config.n_features} inputs but there are "
                              f"{len(self.feature_names)} feature names")
        if self.transform.names != self.feature_names:
            raise BundleError("the transform's feature names differ from feature_names")
        self.state_dict = _check_state_dict(self.state_dict, self.model_config, "state_dict")
        if self.path is not None:
            self.path = Path(self.path)

    @property
    def feature_count(self) -> int:
        return len(self.feature_names)

    def model(self) -> MLP:
        """A fresh :class:`~fuzzyvec.model.mlp.MLP` with the bundle's weights, in eval mode."""
        net = MLP(self.model_config)
        net.load_state_dict(self.state_dict)
        return net.eval()


# ---------------------------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    """Plain JSON values: containers recursively, numpy scalars, dates, paths, pydantic models;
    non-finite floats become None (the files stay strict JSON)."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Enum):
        return _jsonable(obj.value)
    if hasattr(obj, "model_dump"):  # pydantic
        return _jsonable(obj.model_dump(mode="json"))
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable({k: getattr(obj, k) for k in obj.__dataclass_fields__})
    return str(obj)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _versions() -> dict[str, str | None]:
    from .. import __version__

    def dist(name: str) -> str | None:
        try:
            return importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            return None

    return {"fuzzyvec": __version__, "torch": torch.__version__, "numba": dist("numba"),
            "numpy": np.__version__, "polars": dist("polars"), "python": platform.python_version()}


def bundle_metadata(bundle: ModelBundle) -> dict[str, Any]:
    """The full ``metadata.json`` content of a bundle: the caller's keys plus the derived ones.

    Raises
    ------
    BundleError
        If a key of :data:`CALLER_METADATA_KEYS` is missing, or the caller's metadata gives a
        derived key (:data:`DERIVED_METADATA_KEYS`) a value that disagrees with the bundle.
    """
    caller = _jsonable(dict(bundle.metadata))
    missing = [k for k in CALLER_METADATA_KEYS if k not in caller]
    if missing:
        raise BundleError(f"cannot save the bundle: metadata lacks {', '.join(missing)} "
                          f"(required: {', '.join(CALLER_METADATA_KEYS)})")
    derived = _jsonable({
        "format_version": FORMAT_VERSION,
        "resolved_features": list(bundle.feature_names),
        "schema_sha256": bundle.schema_sha256,
        "feature_count": bundle.feature_count,
        "architecture": bundle.model_config.to_dict(),
        "transform": bundle.transform.to_dict(),
        "class_encoding": CLASS_ENCODING,
    })
    clash = [k for k in DERIVED_METADATA_KEYS if k in caller and caller[k] != derived[k]]
    if clash:
        raise BundleError(f"cannot save the bundle: metadata key(s) {', '.join(clash)} disagree with the "
                          f"bundle's own values; leave them out, save_bundle fills them")
    defaults = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "versions": _versions()}
    out = {**derived, **{k: caller.get(k, v) for k, v in defaults.items()}}
    out.update({k: v for k, v in caller.items() if k not in out})
    return out


def save_bundle(bundle: ModelBundle, folder: str | os.PathLike) -> Path:
    """Write a bundle folder atomically.

    ``model.pt`` (state dict of CPU tensors), ``metadata.json`` (see :func:`bundle_metadata`)
    and ``metrics.json`` are written into a temporary sibling folder that is renamed to
    ``folder`` only when all three are complete; on any error nothing is left behind.

    Parameters
    ----------
    bundle:
        The bundle; its ``metadata`` must hold :data:`CALLER_METADATA_KEYS`. On success its
        ``path`` is set to ``folder`` and its ``metadata`` to what was written.
    folder:
        The bundle folder to create (e.g. ``models/{strategy}/{run_id}``); must not exist.

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    folder = Path(folder)
    meta = bundle_metadata(bundle)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in bundle.state_dict.items()}
    if folder.exists():
        raise BundleError(f"{folder} already exists; bundles are never overwritten (choose a new run id)")
    with atomic_dir(folder) as tmp:
        torch.save(state, tmp / MODEL_FILE)
        _write_json(tmp / METADATA_FILE, meta)
        _write_json(tmp / METRICS_FILE, bundle.metrics)
    bundle.path = folder
    bundle.metadata = meta
    return folder


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_bundle(path: str | os.PathLike) -> ModelBundle:
    """Load and verify a bundle folder.

    Checks, each failing with a :class:`~fuzzyvec.errors.BundleError` that names the reason:
    the three files exist; the JSON parses; ``format_version`` is :data:`FORMAT_VERSION`; every
    required metadata key is present; ``schema_sha256`` is the hash of ``resolved_features``
    (edited names or hash are refused); ``feature_count == len(resolved_features)``; the
    architecture and the transform agree with the features; ``model.pt`` holds only tensors
    and their shapes match the architecture.

    Parameters
    ----------
    path:
        The bundle folder.

    Returns
    -------
    ModelBundle
        With CPU tensors, whatever device the model was saved from.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"{folder}: no bundle folder there")
    absent = [f for f in (MODEL_FILE, METADATA_FILE, METRICS_FILE) if not (folder / f).is_file()]
    if absent:
        raise BundleError(f"{folder}: incomplete bundle, missing {', '.join(absent)}")
    meta_path = folder / METADATA_FILE
    meta = _read_json(meta_path)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{meta_path}: format_version {version!r} is not supported; this fuzzyvec reads "
                          f"format {FORMAT_VERSION} (retrain, or use the fuzzyvec version that wrote it)")
    missing = [k for k in (*DERIVED_METADATA_KEYS, *DEFAULT_METADATA_KEYS, *CALLER_METADATA_KEYS) if k not in meta]
    if missing:
        raise BundleError(f"{meta_path}: missing metadata key(s) {', '.join(missing)}")
    names = meta["resolved_features"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BundleError(f"{meta_path}: resolved_features must be a list of feature names")
    if len(set(names)) != len(names):
        raise BundleError(f"{meta_path}: resolved_features contains duplicate names")
    if schema_hash(names) != meta["schema_sha256"]:
        raise BundleError(f"{meta_path}: schema sha256 mismatch: resolved_features hash to {schema_hash(names)} "
                          f"but schema_sha256 is {meta['schema_sha256']!r} (the file was edited)")
    if meta["feature_count"] != len(names):
        raise BundleError(f"{meta_path}: feature_count is {meta['feature_count']!r} but resolved_features "
                          f"lists {len(names)} features")
    try:
        config = MLPConfig.from_dict(meta["architecture"])
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{meta_path}: invalid architecture: {exc}") from None
    if config.n_features != len(names):
        raise BundleError(f"{meta_path}: feature count mismatch: the architecture takes {config.n_features} "
                          f"inputs but resolved_features lists {len(names)}")
    if config.n_classes != len(CLASS_NAMES):
        raise BundleError(f"{meta_path}: the architecture has {config.n_classes} outputs, expected "
                          f"{len(CLASS_NAMES)} ({', '.join(CLASS_NAMES)})")
    if meta["class_encoding"] != CLASS_ENCODING:
        raise BundleError(f"{meta_path}: class_encoding {meta['class_encoding']} differs from {CLASS_ENCODING}")
    try:
        transform = FeatureTransform.from_dict(meta["transform"])
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{meta_path}: invalid transform: {exc}") from None
    if list(transform.names) != names:
        raise BundleError(f"{meta_path}: the transform's feature names differ from resolved_features")
    metrics = _read_json(folder / METRICS_FILE)
    state = _check_state_dict(_torch_load(folder / MODEL_FILE), config, str(folder / MODEL_FILE))
    return ModelBundle(model_config=config, state_dict=state, feature_names=tuple(names),
                       schema_sha256=meta["schema_sha256"], transform=transform, metadata=meta,
                       metrics=metrics, path=folder)


# ---------------------------------------------------------------------------------------------
# training checkpoints
# ---------------------------------------------------------------------------------------------

_PLAIN = (torch.Tensor, bool, int, float, str, type(None))


def _check_plain(obj: Any, where: str = "state") -> None:
    """Raise TypeError unless ``obj`` is tensors and plain values in lists/tuples/dicts."""
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str | int):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; only str and int keys are saved")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: a {type(obj).__name__} cannot be saved; checkpoints hold tensors and plain values only")


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a training state from ``train_model(on_checkpoint=...)`` atomically.

    Parameters
    ----------
    state:
        Tensors, numbers, strings, bools, None, lists and dicts only (checked).
    path:
        Destination file; replaced atomically if it exists.
    """
    _check_plain(state)
    return atomic_write(Path(path), lambda p: torch.save(dict(state), p))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training state written by :func:`save_checkpoint` (CPU tensors, no code run).

    Raises
    ------
    BundleError
        If the file is missing, unreadable, or holds anything but tensors and plain values.
    """
    state = _torch_load(Path(path))
    if not isinstance(state, dict):
        raise BundleError(f"{path}: expected a training-state dict, got {type(state).__name__}")
    return state
