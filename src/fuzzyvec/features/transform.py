"""The fitted transform between a feature frame and the model.

The feature frame never depends on which rows are present (SPEC §3.3): raw indicator
values appear unnormalised. Everything *fitted* — the per-input ``normalization`` of raw
inputs and the optional ``scale_features`` standardisation — is learnt here from the
training rows only, composed into one per-column affine map ``x' = (x - offset) / scale``
and stored in the model bundle.

Steps, in order (both fitted on the training rows):

1. raw-input normalisation per :attr:`FeatureSpec.normalization <fuzzyvec.features.frame.FeatureSpec>`:
   ``zscore``: ``(x - mean) / std``; ``minmax``: ``(x - min) / (max - min)``; ``none``: identity.
   A lag copy (``..._raw_lag{k}``) uses the statistics of its lag-0 column, so the same raw
   value maps to the same number whatever its lag. Fuzzy memberships and price context are
   not normalised in this step.
2. if ``scale_features``: every column standardised with the training mean and std of its
   step-1 output.

A zero (or non-finite) std or range gives scale 1, so a constant column is only shifted.
Statistics ignore NaN (population std, ``ddof=0``, like scikit-learn's ``StandardScaler``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .frame import FeatureSchema

__all__ = ["FeatureTransform", "fit_transform"]


@dataclass(frozen=True, eq=False)
class FeatureTransform:
    """A per-column affine map ``x' = (x - offset) / scale`` fitted on training rows.

    Attributes
    ----------
    names:
        Feature names, in model-input order (the schema's order).
    offset, scale:
        float64 arrays, one value per feature (read-only).
    steps:
        What was fitted, for the bundle metadata: one dict per step with its statistics.
    """

    names: tuple[str, ...]
    offset: np.ndarray
    scale: np.ndarray
    steps: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        offset = np.array(self.offset, dtype=np.float64).reshape(-1)
        scale = np.array(self.scale, dtype=np.float64).reshape(-1)
        if not (len(names) == offset.size == scale.size):
            raise ValueError(
                f"FeatureTransform: {len(names)} names but {offset.size} offsets and {scale.size} scales"
            )
        if not (np.isfinite(offset).all() and np.isfinite(scale).all()) or (scale == 0).any():
            raise ValueError("FeatureTransform: offsets and scales must be finite and scales non-zero")
        offset.setflags(write=False)
        scale.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "steps", tuple(dict(s) for s in self.steps))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureTransform):
            return NotImplemented
        return (self.names == other.names and np.array_equal(self.offset, other.offset)
                and np.array_equal(self.scale, other.scale) and self.steps == other.steps)

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def is_identity(self) -> bool:
        """True when the transform changes nothing."""
        return bool((self.offset == 0).all() and (self.scale == 1).all())

    @classmethod
    def identity(cls, names: Sequence[str]) -> FeatureTransform:
        """A transform that leaves every column unchanged."""
        n = len(names)
        return cls(tuple(names), np.zeros(n), np.ones(n), ())

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Transform model inputs (columns in :attr:`names` order).

        Parameters
        ----------
        X:
            Array of shape ``(n, len(names))``.

        Returns
        -------
        numpy.ndarray
            float32 array of the same shape; NaN stays NaN.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.names):
            raise ValueError(f"expected an array of shape (n, {len(self.names)}), got {X.shape}")
        out = (X.astype(np.float64, copy=False) - self.offset) / self.scale
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe representation for the bundle metadata (floats round-trip exactly)."""
        return {
            "names": list(self.names),
            "offset": [float(v) for v in self.offset],
            "scale": [float(v) for v in self.scale],
            "steps": [dict(s) for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureTransform:
        """Inverse of :meth:`to_dict`."""
        missing = [k for k in ("names", "offset", "scale") if k not in data]
        if missing:
            raise ValueError(f"transform: missing key(s) {', '.join(missing)}")
        return cls(tuple(data["names"]), np.asarray(data["offset"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64), tuple(data.get("steps", ())))


def _nan_stats(col: np.ndarray) -> tuple[float, float, float, float]:
    """mean, std (ddof=0), min, max of the finite values; NaN when there are none."""
    finite = col[np.isfinite(col)]
    if finite.size == 0:
        return (np.nan,) * 4
    return float(finite.mean()), float(finite.std()), float(finite.min()), float(finite.max())


def _safe_scale(s: float) -> float:
    return s if np.isfinite(s) and s > 0 else 1.0


def _safe_offset(o: float) -> float:
    return o if np.isfinite(o) else 0.0


def fit_transform(X_train: np.ndarray, schema: FeatureSchema, *, scale_features: bool) -> FeatureTransform:
    """Fit the feature transform on the training rows.

    Parameters
    ----------
    X_train:
        Training rows only, shape ``(n, len(schema))``, columns in schema order (as returned by
        :func:`fuzzyvec.features.frame.select_features`). Validation and test rows must not be passed.
    schema:
        The feature schema; each raw input's :attr:`normalization` decides step 1.
    scale_features:
        Standardise every column after step 1 (the strategy's ``model.features.scale_features``).

    Returns
    -------
    FeatureTransform
        The composed affine map with a description of each fitted step.
    """
    X = np.asarray(X_train, dtype=np.float64)
    names = schema.names
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"X_train: expected shape (n, {len(names)}) in schema order, got {X.shape}")
    n_feat = len(names)
    index = {n: i for i, n in enumerate(names)}
    offset = np.zeros(n_feat)
    scale = np.ones(n_feat)
    steps: list[dict[str, Any]] = []

    # step 1: raw-input normalisation; lag copies reuse their lag-0 column's statistics
    norm_stats: dict[str, dict[str, Any]] = {}
    for j, spec in enumerate(schema.features):
        method = spec.normalization if spec.kind == "raw" else "none"
        if method == "none":
            continue
        if method not in ("zscore", "minmax"):
            raise ValueError(f"{spec.name}: unknown normalization {method!r}; expected none, minmax or zscore")
        source = spec.base_name if spec.base_name in index else spec.name
        mean, std, lo, hi = _nan_stats(X[:, index[source]])
        if method == "zscore":
            offset[j], scale[j] = _safe_offset(mean), _safe_scale(std)
            stats = {"mean": mean, "std": std}
        else:
            offset[j], scale[j] = _safe_offset(lo), _safe_scale(hi - lo)
            stats = {"min": lo, "max": hi}
        norm_stats[spec.name] = {"method": method, "fitted_on": source, **_finite_or_none(stats)}
    if norm_stats:
        steps.append({"step": "normalization", "features": norm_stats})

    # step 2: standardise the step-1 output; compose (x - o1)/s1 then (. - m)/s into one map
    if scale_features:
        Z = (X - offset) / scale
        means = np.empty(n_feat)
        stds = np.empty(n_feat)
        for j in range(n_feat):
            means[j], stds[j], _, _ = _nan_stats(Z[:, j])
        m = np.array([_safe_offset(v) for v in means])
        s = np.array([_safe_scale(v) for v in stds])
        offset = offset + m * scale
        scale = scale * s
        steps.append({"step": "scale_features", "mean": [_none_if_nan(v) for v in means],
                      "std": [_none_if_nan(v) for v in stds]})
    return FeatureTransform(tuple(names), offset, scale, tuple(steps))


def _none_if_nan(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _finite_or_none(stats: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _none_if_nan(v) for k, v in stats.items()}
