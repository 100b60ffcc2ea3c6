"""ONNX (SPEC §9): export, the model registry and the runner.

Every exported model is a pair of files in one folder: ``{name}.onnx`` and
``{name}_metadata.json``. The metadata states what the graph expects and returns
(``sequence_length``, ``feature_count``, ``feature_names``, ``price_normalization``,
``normalization_params``, the graph's ``inputs`` / ``outputs``) and the sha256 of the
``.onnx`` file it describes, so a pair that was half overwritten is detected.

* :func:`export_onnx` exports a trained :class:`~fuzzyvec.model.bundle.ModelBundle`. The graph is
  self-contained: input ``features`` = raw feature rows, float32 ``(batch, feature_count)``
  in ``feature_names`` order (the columns :func:`fuzzyvec.select_features` picks); the
  bundle's fitted transform ``(x - offset) / scale`` (computed in float64, as
  :func:`fuzzyvec.predict_proba` does), the MLP and the softmax are inside; output
  ``probabilities`` float32 ``(batch, 3)`` in class order BUY, HOLD, SELL. A row with a NaN
  feature gives NaN probabilities, as with ``predict_proba``.
* :class:`OnnxRunner` runs one model with onnxruntime on the CPU;
  :class:`ModelRegistry` finds the models of a folder and refuses — with both numbers in
  the message — a model whose inputs disagree with the price-only extractor
  (:data:`PRICE_FEATURE_NAMES`, a sequence length, a normalisation window), never
  returning a constant stand-in output.

The price-only extractor and the price model (features, zero-copy windows, network,
training, its export and its strategy) live in :mod:`fuzzyvec.model.price`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BundleError

__all__ = [
    "METADATA_SUFFIX",
    "PRICE_FEATURE_NAMES",
    "IncompatibleModelError",
    "ModelRegistry",
    "OnnxRunner",
    "compatibility_problems",
    "export_onnx",
    "read_model_metadata",
    "write_model_pair",
]

#: Version of the metadata layout written next to every ``.onnx`` file.
ONNX_FORMAT_VERSION = 1
METADATA_SUFFIX = "_metadata.json"

#: The price-only extractor's columns, in model-input order (SPEC §9): the contract the
#: registry checks models against (:func:`fuzzyvec.model.price.price_features` makes them).
PRICE_FEATURE_NAMES: tuple[str, ...] = (
    "close_normalized", "volume_normalized", "high_normalized", "low_normalized", "open_normalized",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class IncompatibleModelError(BundleError):
    """A model whose inputs disagree with the feature extractor (or whose files disagree)."""


# ---------------------------------------------------------------------------------------------
# writing a model pair
# ---------------------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(METADATA_SUFFIX[:-5]):
        raise ValueError(f"name: expected a file stem of letters, digits, '_', '-', '.' (not ending in "
                         f"'_metadata'), got {name!r}")
    return name


@contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter (optional-dependency log lines, deprecation warnings)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str | None]:
    import onnxruntime

    from .bundle import _versions as bundle_versions

    try:
        import onnx
        onnx_version: str | None = onnx.__version__
    except ImportError:  # pragma: no cover - onnx ships with the exporter
        onnx_version = None
    return {**bundle_versions(), "onnx": onnx_version, "onnxruntime": onnxruntime.__version__}


def write_model_pair(module: nn.Module, example: torch.Tensor, out_dir: str | os.PathLike, name: str,
                     metadata: Mapping[str, Any], *, input_name: str, output_name: str) -> Path:
    """Export ``module`` to ``{out_dir}/{name}.onnx`` with a dynamic batch axis, then its metadata.

    Both files are written atomically (temporary sibling, then rename); the ``.onnx`` file
    first, then ``{name}_metadata.json`` carrying its sha256, so a crash between the two
    leaves a pair the registry refuses rather than one it misreads.

    Parameters
    ----------
    module:
        The graph to export, in eval mode (its mode is restored afterwards).
    example:
        An example input whose axis 0 is the batch (at least 2 rows).
    out_dir, name:
        Destination folder (created) and file stem.
    metadata:
        The model-specific keys; ``format_version``, ``name``, ``onnx_file``,
        ``onnx_sha256``, ``opset``, ``versions`` and ``created_at`` are added.
    input_name, output_name:
        Names of the graph's input and output.

    Returns
    -------
    pathlib.Path
        The ``.onnx`` path.
    """
    from ..io_utils import atomic_write, atomic_write_text
    from .bundle import _jsonable

    name = _check_name(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    was_training = module.training
    batch = torch.export.Dim("batch")
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(module.eval(), (example,), dynamo=True, dynamic_shapes=({0: batch},),
                                        input_names=[input_name], output_names=[output_name],
                                        external_data=False, verbose=False)
    finally:
        module.train(was_training)
    onnx_path = out_dir / f"{name}.onnx"
    atomic_write(onnx_path, lambda p: program.save(p, external_data=False))
    opset = {op.domain or "ai.onnx": int(op.version) for op in program.model_proto.opset_import}
    meta = {
        "format_version": ONNX_FORMAT_VERSION,
        "name": name,
        **metadata,
        "onnx_file": onnx_path.name,
        "onnx_sha256": _sha256(onnx_path),
        "opset": opset,
        "versions": _versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(_jsonable(meta), indent=2, allow_nan=False) + "\n"
    atomic_write_text(out_dir / f"{name}{METADATA_SUFFIX}", text)
    return onnx_path


# ---------------------------------------------------------------------------------------------
# the MLP classifier: bundle -> ONNX
# ---------------------------------------------------------------------------------------------


class _ProbabilityGraph(nn.Module):
    """Raw feature rows -> bundle transform (float64) -> MLP -> softmax probabilities."""

    def __init__(self, net: nn.Module, offset: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("offset", torch.tensor(np.array(offset, dtype=np.float64)))
        self.register_buffer("scale", torch.tensor(np.array(scale, dtype=np.float64)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = ((features.to(torch.float64) - self.offset) / self.scale).to(torch.float32)
        return torch.softmax(self.net(z), dim=-1)


def export_onnx(bundle: Any, out_dir: str | os.PathLike, *, name: str | None = None) -> Path:
    """Export a trained bundle's classifier to ONNX, with its metadata file.

    Parameters
    ----------
    bundle:
        A :class:`~fuzzyvec.model.bundle.ModelBundle` or a bundle folder.
    out_dir:
        Folder to write into (created if needed); existing files of the same name are
        replaced atomically.
    name:
        File stem; defaults to the bundle's strategy name (``metadata["name"]``).

    Returns
    -------
    pathlib.Path
        ``{out_dir}/{name}.onnx``. Next to it, ``{name}_metadata.json`` holds
        ``sequence_length`` (1: one feature row per prediction), ``feature_count``,
        ``feature_names``, ``price_normalization`` (``"feature_transform"``: the bundle's
        affine transform, applied inside the graph), ``normalization_params`` (``offset``
        and ``scale`` in ``feature_names`` order, the formula, ``applied_in_graph: true``),
        ``classes`` (BUY, HOLD, SELL), the graph's ``inputs`` / ``outputs``, and ``source``
        (bundle path, ``schema_sha256``, strategy).

    Raises
    ------
    BundleError
        If no name is given and the bundle has none.
    """
    from ..features.labels import CLASS_NAMES
    from .bundle import CLASS_ENCODING, ModelBundle, load_bundle

    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle)
    if name is None:
        name = bundle.metadata.get("name")
        if not name:
            raise BundleError("export_onnx: the bundle's metadata has no 'name'; pass name=...")
    graph = _ProbabilityGraph(bundle.model(), bundle.transform.offset, bundle.transform.scale)
    n_feat, n_cls = bundle.feature_count, bundle.model_config.n_classes
    example = torch.zeros(2, n_feat, dtype=torch.float32)
    metadata = {
        "model_type": "mlp_classifier",
        "sequence_length": 1,
        "feature_count": n_feat,
        "feature_names": list(bundle.feature_names),
        "price_normalization": "feature_transform",
        "normalization_params": {
            "formula": "(x - offset) / scale",
            "applied_in_graph": True,
            "offset": [float(v) for v in bundle.transform.offset],
            "scale": [float(v) for v in bundle.transform.scale],
        },
        "classes": list(CLASS_NAMES),
        "class_encoding": CLASS_ENCODING,
        "inputs": [{"name": "features", "shape": ["batch", n_feat], "dtype": "float32",
                    "description": "raw feature rows (before the bundle's transform), columns in "
                                   "feature_names order; a NaN feature gives NaN probabilities"}],
        "outputs": [{"name": "probabilities", "shape": ["batch", n_cls], "dtype": "float32",
                     "description": "softmax class probabilities, columns in 'classes' order"}],
        "graph_includes": ["feature_transform", "mlp", "softmax"],
        "source": {"bundle_path": str(bundle.path) if bundle.path is not None else None,
                   "schema_sha256": bundle.schema_sha256, "strategy": bundle.metadata.get("name")},
    }
    return write_model_pair(graph, example, out_dir, name, metadata,
                            input_name="features", output_name="probabilities")


def _positive_int(key: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# reading, checking and running models
# ---------------------------------------------------------------------------------------------


def read_model_metadata(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of ``{stem}.onnx``, read from ``{stem}_metadata.json`` next to it.

    Raises
    ------
    IncompatibleModelError
        If the metadata file is missing, not a JSON object, lacks a required key, or its
        ``onnx_sha256`` is not the hash of the ``.onnx`` file.
    """
    onnx_path = Path(onnx_path)
    meta_path = onnx_path.with_name(onnx_path.stem + METADATA_SUFFIX)
    if not meta_path.is_file():
        raise IncompatibleModelError(f"model {onnx_path.name}: no metadata file {meta_path.name} next to it; "
                                     f"export it with export_onnx or export_price_model")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IncompatibleModelError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise IncompatibleModelError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    required = ("sequence_length", "feature_count", "feature_names", "price_normalization",
                "normalization_params", "onnx_sha256")
    missing = [k for k in required if k not in meta]
    if missing:
        raise IncompatibleModelError(f"{meta_path}: missing key(s) {', '.join(missing)}")
    if meta["onnx_sha256"] != _sha256(onnx_path):
        raise IncompatibleModelError(f"{meta_path}: onnx_sha256 does not match {onnx_path.name} (the pair was "
                                     f"written by different exports); export the model again")
    return meta


def compatibility_problems(meta: Mapping[str, Any], name: str, *, sequence_length: int,
                           normalization_window: int) -> list[str]:
    """Why a model cannot take the price extractor's windows (empty when it can).

    The first check is the one SPEC §9 names: ``sequence_length`` and ``feature_count``
    must equal the extractor's (message: ``model 'x' expects sequence_length 60 and
    feature_count 5, the extractor produces 120 and 5``). Then the feature names and their
    order, and the normalisation (``rolling_minmax`` over the same window).
    """
    seq, count = meta.get("sequence_length"), meta.get("feature_count")
    n_feat = len(PRICE_FEATURE_NAMES)
    if seq != sequence_length or count != n_feat:
        return [f"model '{name}' expects sequence_length {seq} and feature_count {count}, "
                f"the extractor produces {sequence_length} and {n_feat}"]
    problems = []
    if list(meta.get("feature_names", [])) != list(PRICE_FEATURE_NAMES):
        problems.append(f"model '{name}' expects features {meta.get('feature_names')}, the extractor produces "
                        f"{list(PRICE_FEATURE_NAMES)}")
    norm = meta.get("price_normalization")
    params = meta.get("normalization_params") or {}
    win = params.get("window") if isinstance(params, Mapping) else None
    if norm != "rolling_minmax" or win != normalization_window:
        problems.append(f"model '{name}' expects price_normalization {norm!r} with window {win}, the extractor "
                        f"produces 'rolling_minmax' with window {normalization_window}")
    return problems


class OnnxRunner:
    """One ONNX model in an onnxruntime CPU session.

    Parameters
    ----------
    path:
        The ``.onnx`` file.
    metadata:
        Its metadata (read with :func:`read_model_metadata` when omitted).
    name:
        The model's name in messages (default: the file stem).

    Attributes
    ----------
    name, path, metadata:
        As given.
    input_shape:
        The graph input's shape without the batch axis, e.g. ``(120, 5)``.
    """

    def __init__(self, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None, *,
                 name: str | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.name = name or self.path.stem
        self.metadata = dict(metadata) if metadata is not None else read_model_metadata(self.path)
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"model '{self.name}': onnxruntime cannot load {self.path} ({exc})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise IncompatibleModelError(f"model '{self.name}': expected one input and one output, the graph has "
                                         f"{len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = tuple(inputs[0].shape[1:])
        seq, count = self.metadata.get("sequence_length"), self.metadata.get("feature_count")
        expected = (count,) if seq == 1 and len(self.input_shape) == 1 else (seq, count)
        if self.input_shape != expected:
            raise IncompatibleModelError(f"model '{self.name}': the graph takes rows of shape {self.input_shape} "
                                         f"but its metadata says sequence_length {seq} and feature_count {count}")

    @property
    def sequence_length(self) -> int:
        return int(self.metadata["sequence_length"])

    @property
    def feature_count(self) -> int:
        return int(self.metadata["feature_count"])

    def __repr__(self) -> str:
        return f"OnnxRunner({self.name!r}, input (batch, {', '.join(map(str, self.input_shape))}))"

    def run(self, inputs: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
        """Run the model on a batch of inputs.

        Parameters
        ----------
        inputs:
            ``(batch, *input_shape)`` — windows ``(batch, L, 5)`` for a price model, feature
            rows ``(batch, F)`` for a classifier. Any float dtype; zero-copy views are fine:
            chunks of ``batch_size`` rows are copied, one at a time, into one reused float32
            buffer (a C-contiguous float32 input of at most ``batch_size`` rows goes as is).
        batch_size:
            Rows per onnxruntime call (bounds memory).

        Returns
        -------
        numpy.ndarray
            The graph's output for every row, float32, batch on axis 0.

        Raises
        ------
        IncompatibleModelError
            If the inputs' shape disagrees with the graph's (both shapes are named).
        """
        arr = np.asarray(inputs)
        if arr.ndim != len(self.input_shape) + 1 or tuple(arr.shape[1:]) != self.input_shape:
            raise IncompatibleModelError(f"model '{self.name}' expects inputs of shape (batch, "
                                         f"{', '.join(map(str, self.input_shape))}), got {arr.shape}")
        n = arr.shape[0]
        if arr.dtype == np.float32 and arr.flags.c_contiguous and n <= batch_size:
            return self.session.run([self.output_name], {self.input_name: arr})[0]
        direct = arr.dtype == np.float32 and arr.flags.c_contiguous  # slices go as they are
        buf = None if direct else np.empty((min(n, batch_size), *arr.shape[1:]), dtype=np.float32)  # reused
        chunks = []
        for i in range(0, max(n, 1), batch_size):
            k = min(batch_size, n - i)
            if direct:
                part = arr[i:i + k]
            else:
                np.copyto(buf[:k], arr[i:i + k], casting="same_kind")
                part = buf[:k]
            chunks.append(self.session.run([self.output_name], {self.input_name: part})[0])
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


class ModelRegistry:
    """The ONNX price models of a folder, checked against the price-only extractor.

    Every ``*.onnx`` file of ``folder`` (not recursive) is a model; its metadata is
    ``{stem}_metadata.json``. A model is named by its file stem unless ``names`` renames it.

    Parameters
    ----------
    folder:
        The folder to scan.
    names:
        ``{file stem: name}`` renames (every key must be a model of the folder).
    fallback:
        Name of a model to use, with a warning, when the requested one is refused. It must
        exist and be compatible (checked here).
    sequence_length, normalization_window:
        The extractor's configuration the models must match (feature count is 5).

    Raises
    ------
    BundleError
        If the folder does not exist, a ``names`` key matches no model, two models end up
        with the same name, or the fallback is unknown; :class:`IncompatibleModelError` if
        the fallback is itself incompatible.
    """

    def __init__(self, folder: str | os.PathLike, *, names: Mapping[str, str] | None = None,
                 fallback: str | None = None, sequence_length: int = 120,
                 normalization_window: int = 120) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise BundleError(f"model folder {self.folder} does not exist")
        self.sequence_length = _positive_int("sequence_length", sequence_length, minimum=1)
        self.normalization_window = _positive_int("normalization_window", normalization_window, minimum=2)
        stems = {p.stem: p for p in sorted(self.folder.glob("*.onnx")) if p.is_file()}
        names = dict(names or {})
        unknown = sorted(set(names) - set(stems))
        if unknown:
            raise BundleError(f"names: no model file for {', '.join(repr(u) for u in unknown)} in {self.folder} "
                              f"(models: {', '.join(stems) or 'none'})")
        self._paths: dict[str, Path] = {}
        for stem, path in stems.items():
            alias = names.get(stem, stem)
            if alias in self._paths:
                raise BundleError(f"names: two models are named {alias!r} ({self._paths[alias].name} and {path.name})")
            self._paths[alias] = path
        self._runners: dict[str, OnnxRunner] = {}
        self.fallback = fallback
        if fallback is not None:
            if fallback not in self._paths:
                raise BundleError(f"fallback: no model named {fallback!r} in {self.folder} "
                                  f"(models: {', '.join(self._paths) or 'none'})")
            self._load(fallback)

    @property
    def names(self) -> tuple[str, ...]:
        """The model names, sorted by file name."""
        return tuple(self._paths)

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.folder)!r}, models={list(self._paths)}, fallback={self.fallback!r})"

    def _load(self, name: str) -> OnnxRunner:
        """The runner of ``name`` if its files are sound and it fits the extractor; else raise."""
        if name not in self._runners:
            path = self._paths[name]
            meta = read_model_metadata(path)
            problems = compatibility_problems(meta, name, sequence_length=self.sequence_length,
                                              normalization_window=self.normalization_window)
            if problems:
                raise IncompatibleModelError("; ".join(problems))
            self._runners[name] = OnnxRunner(path, meta, name=name)
        return self._runners[name]

    def get(self, name: str) -> OnnxRunner:
        """The runner of model ``name`` (or of the fallback, with a warning, if it is refused).

        Raises
        ------
        BundleError
            If no model has that name.
        IncompatibleModelError
            If the model is refused (the message states its and the extractor's
            ``sequence_length`` and ``feature_count``) and no fallback is configured.
        """
        if name not in self._paths:
            raise BundleError(f"no model named {name!r} in {self.folder} (models: {', '.join(self._paths) or 'none'})")
        try:
            return self._load(name)
        except IncompatibleModelError as exc:
            if self.fallback is None or self.fallback == name:
                raise
            warnings.warn(f"{exc}; using the fallback model '{self.fallback}' instead of '{name}'",
                          UserWarning, stacklevel=2)
            return self._load(self.fallback)
