"""Classification metrics in plain numpy, equal to scikit-learn's with ``zero_division=0``.

Classes are the integers ``0 .. n_classes-1`` (BUY = 0, HOLD = 1, SELL = 2). The confusion
matrix and the per-class arrays always cover every class; macro and weighted averages, like
scikit-learn's defaults, average over the classes that occur in ``y_true`` or ``y_pred``
(a class absent from both would otherwise add a meaningless 0 to a macro average).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..features.labels import CLASS_NAMES

__all__ = [
    "accuracy",
    "class_balance",
    "classification_metrics",
    "confusion_matrix",
    "precision_recall_f1",
]


def _check(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(np.int64, copy=False).reshape(-1)
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name}: expected class ids in 0..{n_classes - 1}, got {sorted(set(y.tolist()))[:10]}")
    return y_true, y_pred


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int = 3) -> np.ndarray:
    """Counts of shape ``(n_classes, n_classes)``: rows are true classes, columns predictions."""
    y_true, y_pred = _check(y_true, y_pred, n_classes)
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions (NaN for empty input)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int = 3) -> dict[str, Any]:
    """Per-class, macro and weighted precision, recall and F1 (``zero_division=0``).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``support`` (per class, length ``n_classes``) and
        ``{precision,recall,f1}_{macro,weighted}`` floats.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes=n_classes)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * tp, support + predicted)
    present = (support + predicted) > 0
    out: dict[str, Any] = {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
    }
    total = support.sum()
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(values[present].mean()) if present.any() else 0.0
        out[f"{name}_weighted"] = float((values * support).sum() / total) if total else 0.0
    return out


def class_balance(y: np.ndarray, *, n_classes: int = 3) -> dict[str, dict[str, float]]:
    """Count and fraction of each class, keyed by class name (``BUY``, ``HOLD``, ``SELL``)."""
    y = np.asarray(y).astype(np.int64, copy=False).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"expected class ids in 0..{n_classes - 1}, got {sorted(set(y.tolist()))[:10]}")
    counts = np.bincount(y, minlength=n_classes)
    names = CLASS_NAMES if n_classes == len(CLASS_NAMES) else tuple(str(c) for c in range(n_classes))
    return {
        "counts": {names[c]: int(counts[c]) for c in range(n_classes)},
        "fractions": {names[c]: (float(counts[c] / y.size) if y.size else 0.0) for c in range(n_classes)},
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, n_classes: int = 3) -> dict[str, Any]:
    """Every metric of this module in one JSON-safe dict.

    Keys: ``n``, ``accuracy`` (None for empty input), ``precision``/``recall``/``f1``/``support``
    per class, ``{precision,recall,f1}_{macro,weighted}``, ``confusion_matrix`` (nested lists,
    rows = true class), ``class_names`` and ``class_balance`` of ``y_true``.
    """
    y_true, y_pred = _check(y_true, y_pred, n_classes)
    acc = accuracy(y_true, y_pred)
    out: dict[str, Any] = {"n": int(y_true.size), "accuracy": acc if y_true.size else None}
    out.update(precision_recall_f1(y_true, y_pred, n_classes=n_classes))
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, n_classes=n_classes).tolist()
    out["class_names"] = list(CLASS_NAMES) if n_classes == len(CLASS_NAMES) else [str(c) for c in range(n_classes)]
    out["class_balance"] = class_balance(y_true, n_classes=n_classes)
    return out
