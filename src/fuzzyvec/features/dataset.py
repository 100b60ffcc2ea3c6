"""Training rows: features joined with labels per symbol, and the chronological split.

Labels are computed per symbol on that symbol's base bars and joined to that symbol's
features on ``timestamp`` (never by truncating arrays to a common length). Rows with any NaN
feature (warm-up) or no label are dropped. The split is chronological by the
``data_split`` fractions, with an embargo of the label horizon (bars) before each boundary
so that no training label window reaches into validation, and no validation label window
into test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ..strategy.grammar import Strategy
from .frame import FeatureSchema, build_features, resolve_features
from .labels import CLASS_NAMES, NO_LABEL, make_labels

__all__ = ["SPLITS", "Dataset", "build_dataset", "split_rows"]

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Dataset:
    """Labelled, split training rows of a strategy.

    Attributes
    ----------
    frame:
        ``timestamp`` [``symbol``] features... ``label`` (Int8) ``split`` (train/validation/test),
        chronological.
    schema:
        The strategy's feature schema.
    features:
        The full feature frame (all bars, before dropping warm-up or unlabelled rows).
    dropped:
        Rows removed, by reason: ``warmup`` (a NaN feature), ``unlabelled``, ``embargo``.
    """

    frame: pl.DataFrame
    schema: FeatureSchema
    features: pl.DataFrame
    dropped: Mapping[str, int]
    embargo_bars: int

    def part(self, name: str) -> pl.DataFrame:
        """Rows of one split (``train``, ``validation`` or ``test``)."""
        return self.frame.filter(pl.col("split") == name)

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of a split: float32 features in schema order and int64 labels."""
        from .frame import select_features

        part = self.part(name)
        return select_features(part, self.schema, dtype=np.float64), part["label"].to_numpy().astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """Row counts, date ranges and class balance per split."""
        out: dict[str, Any] = {"dropped": dict(self.dropped), "embargo_bars": self.embargo_bars}
        for name in SPLITS:
            part = self.part(name)
            counts = [int((part["label"] == c).sum()) for c in range(3)]
            out[name] = {
                "rows": part.height,
                "start": str(part["timestamp"].min()) if part.height else None,
                "end": str(part["timestamp"].max()) if part.height else None,
                "class_counts": dict(zip(CLASS_NAMES, counts, strict=True)),
            }
        return out


def split_rows(ts: np.ndarray, bar: np.ndarray, base_ts: np.ndarray, fractions: tuple[float, float, float],
               horizon: int, cuts: tuple[Any, Any] | None = None) -> tuple[np.ndarray, tuple[Any, Any]]:
    """Assign one symbol's labelled rows to splits; returns codes (0/1/2, -1 = embargoed) and the cuts.

    ``ts`` are the rows' timestamps (sorted), ``bar`` their positions in ``base_ts`` (all base
    bars of the symbol). ``cuts`` (first validation and first test timestamp) are computed
    from the fractions when not given (multi-symbol strategies share the first symbol's).
    """
    n = len(ts)
    if cuts is None:
        n_train = round(fractions[0] * n)
        n_val = round(fractions[1] * n)
        c1 = ts[n_train] if n_train < n else None
        c2 = ts[n_train + n_val] if n_train + n_val < n else None
        cuts = (c1, c2)
    c1, c2 = cuts
    p1 = np.searchsorted(base_ts, c1) if c1 is not None else len(base_ts) + horizon + 1
    p2 = np.searchsorted(base_ts, c2) if c2 is not None else len(base_ts) + horizon + 1
    code = np.full(n, -1, dtype=np.int8)
    code[bar + horizon < p1] = 0
    code[(bar >= p1) & (bar + horizon < p2)] = 1
    code[bar >= p2] = 2
    return code, cuts


def build_dataset(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]]) -> Dataset:
    """Features + labels per symbol, warm-up and unlabelled rows dropped, split with an embargo.

    Returns
    -------
    Dataset
    """
    schema = resolve_features(spec)
    features = build_features(spec, data)
    names = list(schema.names)
    base_tf = spec.base_timeframe
    horizon = spec.label_horizon
    fr = spec.training.data_split
    fractions = (fr.train, fr.validation, fr.test)
    parts = []
    dropped = {"warmup": 0, "unlabelled": 0, "embargo": 0}
    cuts = None
    for sym in spec.symbols:
        bars = data[sym][base_tf]
        feats = features.filter(pl.col("symbol") == sym) if "symbol" in features.columns else features
        labels = make_labels(bars, spec.training.labels).with_row_index("_bar")
        joined = feats.join(labels, on="timestamp", how="left", validate="1:1")
        complete = pl.all_horizontal([pl.col(n).is_not_nan() for n in names]) if names else pl.lit(True)
        warm = joined.filter(~complete)
        dropped["warmup"] += warm.height
        joined = joined.filter(complete)
        unl = joined.filter(pl.col("label").is_null() | (pl.col("label") == NO_LABEL))
        dropped["unlabelled"] += unl.height
        joined = joined.filter(pl.col("label").is_not_null() & (pl.col("label") != NO_LABEL))
        if joined.height == 0:
            parts.append(joined.with_columns(pl.lit(None, dtype=pl.String).alias("split")).drop("_bar"))
            continue
        code, cuts = split_rows(joined["timestamp"].to_numpy(), joined["_bar"].to_numpy().astype(np.int64),
                                bars["timestamp"].to_numpy(), fractions, horizon, cuts)
        dropped["embargo"] += int((code < 0).sum())
        split = np.array([None, *SPLITS], dtype=object)[code.astype(np.int64) + 1]
        joined = joined.with_columns(pl.Series("split", split, dtype=pl.String)).filter(pl.col("split").is_not_null())
        parts.append(joined.drop("_bar"))
    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    frame = frame.sort(["timestamp", "symbol"] if "symbol" in frame.columns else ["timestamp"])
    return Dataset(frame, schema, features, dropped, horizon)
