"""Feature schema and feature frames.

``resolve_features(spec)`` gives the ordered :class:`FeatureSchema` — the contract between
training and inference — and ``build_features(spec, data)`` computes the frame it describes:
``timestamp`` (base timeframe), then exactly the schema's columns in order (after ``symbol``
for multi-symbol strategies).

Order: ``nn_inputs`` order, then timeframes in the entry's order, then memberships in YAML
order; ``include_price_context`` appends ``{base}_return_1`` to the block; lag copies follow
block by block (``_lag1``, ``_lag2``, ...).

This module never imports :mod:`fuzzyvec.features.labels`: features may not see the future.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from ..errors import SchemaMismatchError
from ..strategy.grammar import Strategy
from ..strategy.registry import get_indicator_spec
from ..timeframes import parse_timeframe, timeframe_seconds

__all__ = [
    "FeatureSchema",
    "FeatureSpec",
    "SchemaDiff",
    "align_to_base",
    "build_features",
    "parse_feature_name",
    "resolve_features",
    "select_features",
]


@dataclass(frozen=True)
class FeatureSpec:
    """How one feature column is made; its ``name`` encodes all of it."""

    name: str
    timeframe: str
    kind: Literal["fuzzy", "raw", "price"]
    source: str  # fuzzy set id, indicator reference, or "return_1"
    membership: str | None = None
    lag: int = 0
    normalization: str = "none"

    @property
    def base_name(self) -> str:
        """The name without the ``_lag{k}`` suffix."""
        return self.name if self.lag == 0 else self.name[: -len(f"_lag{self.lag}")]


@dataclass(frozen=True)
class SchemaDiff:
    """Differences between an expected and an actual list of feature names."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    reordered: tuple[tuple[str, int, int], ...] = ()  # (name, expected position, actual position)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.unexpected or self.reordered)

    def describe(self, limit: int = 10) -> str:
        """A human-readable account of the differences."""
        parts = []
        for label, items in (("missing", self.missing), ("unexpected", self.unexpected)):
            if items:
                shown = ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
                parts.append(f"{len(items)} {label}: {shown}")
        if self.reordered:
            shown = ", ".join(f"{n} (expected #{e}, found #{a})" for n, e, a in self.reordered[:limit])
            more = f" and {len(self.reordered) - limit} more" if len(self.reordered) > limit else ""
            parts.append(f"{len(self.reordered)} reordered: {shown}{more}")
        return "; ".join(parts) if parts else "identical"


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered feature names and how each is made, with a sha256 of the order.

    Attributes
    ----------
    features:
        One :class:`FeatureSpec` per column, in model-input order.
    warmup:
        Leading NaN bars of each timeframe's indicator outputs (per timeframe).
    base_timeframe:
        The timeframe of the frame's rows.
    """

    features: tuple[FeatureSpec, ...]
    warmup: Mapping[str, int] = field(default_factory=dict)
    base_timeframe: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def sha256(self) -> str:
        """Hash of the ordered names: equal hashes mean identical columns in identical order."""
        return schema_hash(self.names)

    @property
    def warmup_base_bars(self) -> int:
        """Leading base-timeframe rows that cannot have every feature (upper bound)."""
        if not self.features:
            return 0
        base_s = timeframe_seconds(self.base_timeframe)
        lags = max(f.lag for f in self.features)
        rows = 0
        for tf, lb in self.warmup.items():
            ratio = timeframe_seconds(tf) // base_s
            # a higher-timeframe value first exists when bar #lb of that timeframe completes
            rows = max(rows, (lb + 1) * ratio - 1)
        return rows + lags

    def compare(self, other: FeatureSchema | Sequence[str]) -> SchemaDiff:
        """Compare with another schema or list of names (``self`` is the expected one)."""
        return compare_names(self.names, other.names if isinstance(other, FeatureSchema) else tuple(other))

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "sha256": self.sha256,
            "base_timeframe": self.base_timeframe,
            "warmup": dict(self.warmup),
            "normalization": {f.name: f.normalization for f in self.features if f.kind == "raw"},
        }


def schema_hash(names: Sequence[str]) -> str:
    """sha256 of the JSON list of names (order matters)."""
    return hashlib.sha256(json.dumps(list(names)).encode()).hexdigest()


def compare_names(expected: Sequence[str], actual: Sequence[str]) -> SchemaDiff:
    """Missing, unexpected and reordered names of ``actual`` relative to ``expected``."""
    exp_set, act_set = set(expected), set(actual)
    missing = tuple(n for n in expected if n not in act_set)
    unexpected = tuple(n for n in actual if n not in exp_set)
    common_e = [n for n in expected if n in act_set]
    common_a = [n for n in actual if n in exp_set]
    pos_e = {n: i for i, n in enumerate(expected)}
    pos_a = {n: i for i, n in enumerate(actual)}
    reordered = tuple((n, pos_e[n], pos_a[n]) for n, m in zip(common_e, common_a, strict=True) if n != m)
    return SchemaDiff(missing, unexpected, reordered)


# ---------------------------------------------------------------------------------------------
# resolving
# ---------------------------------------------------------------------------------------------


def _ref_lookback(spec: Strategy, ref: str) -> int:
    ind_id, _, output = ref.partition(".")
    cfg = spec.indicators[ind_id]
    ispec = get_indicator_spec(cfg.type)
    lbs = ispec.lookbacks(cfg.params)
    return lbs[output or ispec.outputs[0]]


def resolve_features(spec: Strategy) -> FeatureSchema:
    """The ordered feature schema a strategy produces (no data needed).

    Returns
    -------
    FeatureSchema
        Names per SPEC §3.3: ``{tf}_{fuzzy_set}_{membership}``, ``{tf}_{indicator_ref}_raw``,
        ``{base}_return_1``; lag copies ``_lag{k}`` block by block.
    """
    block: list[FeatureSpec] = []
    warmup: dict[str, int] = {tf: 0 for tf in spec.timeframes}
    for item in spec.nn_inputs:
        for tf in spec.input_timeframes(item):
            if item.fuzzy_set is not None:
                fs = spec.fuzzy_sets[item.fuzzy_set]
                warmup[tf] = max(warmup[tf], _ref_lookback(spec, fs.indicator))
                for m in fs.memberships:
                    block.append(FeatureSpec(f"{tf}_{item.fuzzy_set}_{m}", tf, "fuzzy", item.fuzzy_set, m))
            else:
                ref = item.raw_indicator
                assert ref is not None
                warmup[tf] = max(warmup[tf], _ref_lookback(spec, ref))
                block.append(FeatureSpec(f"{tf}_{ref}_raw", tf, "raw", ref, None, 0, item.norm))
    base = spec.base_timeframe
    if spec.model.features.include_price_context:
        block.append(FeatureSpec(f"{base}_return_1", base, "price", "return_1"))
        warmup[base] = max(warmup[base], 1)
    feats = list(block)
    for k in range(1, spec.model.features.lookback_periods):
        feats += [
            FeatureSpec(f"{f.name}_lag{k}", f.timeframe, f.kind, f.source, f.membership, k, f.normalization)
            for f in block
        ]
    warmup = {tf: warmup[tf] for tf in spec.timeframes if any(f.timeframe == tf for f in block)}
    return FeatureSchema(tuple(feats), warmup, base)


def parse_feature_name(name: str, spec: Strategy | None = None) -> FeatureSpec:
    """Parse a feature name back into how it was made.

    Without ``spec`` a fuzzy name's set/membership split is ambiguous (ids may contain
    ``_``); the membership is then the text after the last ``_``.
    """
    tf, sep, rest = name.partition("_")
    if not sep:
        raise ValueError(f"not a feature name: {name!r}")
    timeframe_seconds(tf)
    lag = 0
    head, lsep, k = rest.rpartition("_lag")
    if lsep and k.isdigit():
        rest, lag = head, int(k)
    if rest == "return_1":
        return FeatureSpec(name, tf, "price", "return_1", None, lag)
    if rest.endswith("_raw"):
        return FeatureSpec(name, tf, "raw", rest[: -len("_raw")], None, lag)
    if spec is not None:
        for fid, fs in spec.fuzzy_sets.items():
            for m in fs.memberships:
                if rest == f"{fid}_{m}":
                    return FeatureSpec(name, tf, "fuzzy", fid, m, lag)
        raise ValueError(f"{name!r} is not a feature of strategy {spec.name!r}")
    fid, _, m = rest.rpartition("_")
    return FeatureSpec(name, tf, "fuzzy", fid, m, lag)


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------


def _timeframe_block(spec: Strategy, schema: FeatureSchema, tf: str, bars: pl.DataFrame) -> dict[str, np.ndarray]:
    """Lag-0 columns of one timeframe, computed on that timeframe's bars."""
    from ..nb.sources import simple_return_1d_nb
    from .indicators import indicator_arrays

    cache: dict[str, dict[str, np.ndarray]] = {}

    def ref_values(ref: str) -> np.ndarray:
        ind_id, _, output = ref.partition(".")
        if ind_id not in cache:
            cfg = spec.indicators[ind_id]
            cache[ind_id] = indicator_arrays(get_indicator_spec(cfg.type), bars, cfg.params)
        outs = cache[ind_id]
        return outs[output] if output else next(iter(outs.values()))

    cols: dict[str, np.ndarray] = {}
    for f in schema.features:
        if f.lag or f.timeframe != tf:
            continue
        if f.kind == "fuzzy":
            fs = spec.fuzzy_sets[f.source]
            m = fs.memberships[f.membership]  # type: ignore[index]
            from ..strategy.registry import get_membership_spec

            kern = get_membership_spec(m.type).kernel_function()
            cols[f.name] = kern(ref_values(fs.indicator), np.asarray(m.parameters, dtype=np.float64))
        elif f.kind == "raw":
            cols[f.name] = ref_values(f.source)
        else:
            cols[f.name] = simple_return_1d_nb(bars["close"].to_numpy().astype(np.float64))
    return cols


def align_to_base(base_ts: pl.Series, base_tf: str, frame: pl.DataFrame, tf: str) -> pl.DataFrame:
    """As-of join of a higher-timeframe frame onto base bars, on completion times.

    A base bar opening at ``t`` (complete at ``t + d``) sees the latest ``tf`` row whose bar
    completed at ``T + D <= t + d``. Rows before the first completed bar are NaN; nothing is
    filled backward. ``frame`` has ``timestamp`` (open times) plus value columns.
    """
    d, big_d = parse_timeframe(base_tf), parse_timeframe(tf)
    left = pl.DataFrame({"_complete": base_ts + d})
    right = frame.with_columns((pl.col("timestamp") + big_d).alias("_complete")).drop("timestamp")
    joined = left.join_asof(right, on="_complete", strategy="backward")
    value_cols = [c for c in joined.columns if c != "_complete"]
    return joined.select(pl.col(value_cols).fill_null(math.nan))


def _symbol_frame(spec: Strategy, schema: FeatureSchema, frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    base_tf = spec.base_timeframe
    base = frames[base_tf]
    parts: list[pl.DataFrame] = [base.select("timestamp")]
    for tf in spec.timeframes:
        if not any(f.timeframe == tf for f in schema.features):
            continue
        cols = _timeframe_block(spec, schema, tf, frames[tf])
        block = pl.DataFrame(cols, schema={k: pl.Float64 for k in cols})
        if tf != base_tf:
            block = align_to_base(base["timestamp"], base_tf, block.with_columns(frames[tf]["timestamp"]), tf)
        parts.append(block)
    wide = pl.concat(parts, how="horizontal")
    lag0 = [f.name for f in schema.features if f.lag == 0]
    lagged = [pl.col(f.base_name).shift(f.lag, fill_value=math.nan).alias(f.name) for f in schema.features if f.lag]
    return wide.select("timestamp", *lag0, *lagged).select("timestamp", *schema.names)


def build_features(spec: Strategy, data: Mapping[str, Mapping[str, pl.DataFrame]] | pl.DataFrame) -> pl.DataFrame:
    """Compute the feature frame of a strategy.

    Parameters
    ----------
    spec:
        A loaded strategy (or a path, loaded for you).
    data:
        ``{symbol: {timeframe: bars}}`` from :func:`fuzzyvec.load_strategy_data`, or, for a
        single-symbol single-timeframe strategy, the bars themselves.

    Returns
    -------
    polars.DataFrame
        ``timestamp`` (base timeframe; then ``symbol`` for multi-symbol strategies) followed by
        exactly the schema's columns, in order, Float64. Warm-up rows are NaN.
    """
    from ..strategy.load import load_strategy

    spec = load_strategy(spec, warn=False)
    if isinstance(data, pl.DataFrame):
        if len(spec.symbols) != 1 or len(spec.timeframes) != 1:
            raise ValueError("pass {symbol: {timeframe: bars}} for multi-symbol or multi-timeframe strategies")
        data = {spec.symbols[0]: {spec.base_timeframe: data}}
    schema = resolve_features(spec)
    out = []
    for sym in spec.symbols:
        if sym not in data:
            raise KeyError(f"no bars for symbol {sym!r}; got {list(data)}")
        missing = [tf for tf in spec.timeframes if tf not in data[sym]]
        if missing:
            raise KeyError(f"no {missing[0]} bars for {sym}; got {list(data[sym])}")
        frame = _symbol_frame(spec, schema, data[sym])
        if len(spec.symbols) > 1:
            frame = frame.insert_column(1, pl.lit(sym).alias("symbol"))
        out.append(frame)
    return out[0] if len(out) == 1 else pl.concat(out, how="vertical")


def select_features(frame: pl.DataFrame, schema: FeatureSchema | Sequence[str], *,
                    dtype: Any = np.float32) -> np.ndarray:
    """Model inputs from a frame, picked by name in schema order (never by position).

    Other columns are ignored. Raises :class:`SchemaMismatchError` naming every missing column.
    """
    names = schema.names if isinstance(schema, FeatureSchema) else tuple(schema)
    present = set(frame.columns)
    missing = [n for n in names if n not in present]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise SchemaMismatchError(
            f"feature frame lacks {len(missing)} of the {len(names)} schema column(s): {shown}"
        )
    if not names:
        return np.empty((frame.height, 0), dtype=dtype)
    return frame.select(names).to_numpy().astype(dtype, copy=False)
