"""The strategy grammar (version 3) as frozen pydantic v2 models, and :func:`load_strategy`.

Every model is ``frozen=True, extra="forbid"``: an unknown or misspelt key is an error naming
its key path. Indicator parameters and membership definitions are validated against the
registries in :mod:`fuzzyvec.strategy.registry`, the same tables that build them. Loading (YAML parsing,
line numbers and error formatting) lives in :mod:`fuzzyvec.strategy.load`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, field_validator, model_validator

from ..timeframes import timeframe_seconds
from .config import (
    ID_RE,
    NAME_RE,
    SYMBOL_RE,
    BacktestConfig,
    DecisionConfig,
    Int,
    KeyedError,
    ModelConfig,
    Timeframe,
    TrainingConfig,
    UtcDatetime,
    _Model,
)
from .registry import get_indicator_spec, get_membership_spec

__all__ = [
    "BacktestConfig",
    "DataConfig",
    "DecisionConfig",
    "FuzzySetConfig",
    "IndicatorConfig",
    "KeyedError",
    "MembershipConfig",
    "ModelConfig",
    "NNInput",
    "Strategy",
    "TrainingConfig",
]


# ---------------------------------------------------------------------------------------------
# training_data and data
# ---------------------------------------------------------------------------------------------


class SingleSymbol(_Model):
    mode: Literal["single"]
    symbol: str

    @field_validator("symbol")
    @classmethod
    def _sym(cls, v: str) -> str:
        if not SYMBOL_RE.match(v):
            raise ValueError(f"expected a symbol of letters, digits, '.', '_' or '-', got {v!r}")
        return v


class MultiSymbol(_Model):
    mode: Literal["multi_symbol"]
    list: tuple[str, ...]

    @field_validator("list")
    @classmethod
    def _syms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2:
            raise ValueError(f"multi_symbol needs at least two symbols (use mode: single), got {list(v)!r}")
        for s in v:
            if not SYMBOL_RE.match(s):
                raise ValueError(f"expected symbols of letters, digits, '.', '_' or '-', got {s!r}")
        dup = sorted({s for s in v if v.count(s) > 1})
        if dup:
            raise ValueError(f"duplicate symbol {dup[0]!r} in {list(v)!r}")
        return v


class Timeframes(_Model):
    """``{mode: single, timeframe}``, ``{mode: single, list: [tf], base_timeframe}`` or
    ``{mode: multi_timeframe, list, base_timeframe}``."""

    mode: Literal["single", "multi_timeframe"]
    timeframe: Timeframe | None = None
    list: tuple[Timeframe, ...] | None = None
    base_timeframe: Timeframe | None = None

    @model_validator(mode="after")
    def _check(self) -> Timeframes:
        if self.mode == "single":
            if self.timeframe is not None and self.list is not None:
                raise KeyedError("list", "give either timeframe or list with mode: single, not both")
            if self.timeframe is None and self.list is None:
                raise KeyedError("timeframe", "missing: mode: single needs timeframe (or list: [tf])")
            if self.list is not None and len(self.list) != 1:
                raise KeyedError(
                    "list", f"mode: single takes exactly one timeframe, got {list(self.list)!r} "
                    "(use mode: multi_timeframe)"
                )
            tf = self.timeframe or self.list[0]  # type: ignore[index]
            if self.base_timeframe is not None and self.base_timeframe != tf:
                raise KeyedError("base_timeframe", f"expected {tf!r} (the only timeframe), got {self.base_timeframe!r}")
            return self
        if self.timeframe is not None:
            raise KeyedError("timeframe", "mode: multi_timeframe takes list and base_timeframe, not timeframe")
        if self.list is None or len(self.list) < 2:
            raise KeyedError("list", f"mode: multi_timeframe needs at least two timeframes, got {self.list!r}")
        dup = sorted({t for t in self.list if self.list.count(t) > 1})
        if dup:
            raise KeyedError("list", f"duplicate timeframe {dup[0]!r} in {list(self.list)!r}")
        if self.base_timeframe is None:
            raise KeyedError("base_timeframe", "missing: mode: multi_timeframe needs base_timeframe")
        if self.base_timeframe not in self.list:
            raise KeyedError(
                "base_timeframe", f"{self.base_timeframe!r} is not in list {list(self.list)!r}"
            )
        smallest = min(self.list, key=timeframe_seconds)
        if self.base_timeframe != smallest:
            raise KeyedError(
                "base_timeframe",
                f"must be the smallest timeframe of the list ({smallest!r}), got {self.base_timeframe!r}",
            )
        secs = {t: timeframe_seconds(t) for t in self.list}
        base = secs[self.base_timeframe]
        bad = [t for t in self.list if secs[t] % base]
        if bad:
            raise KeyedError(
                "list", f"{bad[0]!r} is not a whole multiple of base_timeframe {self.base_timeframe!r}"
            )
        return self

    @property
    def resolved(self) -> tuple[str, ...]:
        """The timeframes in their listed order."""
        return (self.timeframe,) if self.timeframe is not None else tuple(self.list or ())

    @property
    def base(self) -> str:
        return self.base_timeframe or self.resolved[0]




class TrainingData(_Model):
    symbols: Annotated[SingleSymbol | MultiSymbol, Field(discriminator="mode")]
    timeframes: Timeframes
    history_required: Int = Field(0, ge=0)
    start_date: UtcDatetime = None
    end_date: UtcDatetime = None

    @model_validator(mode="after")
    def _dates(self) -> TrainingData:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise KeyedError(
                "end_date", f"end_date {self.end_date.date()} is before start_date {self.start_date.date()}"
            )
        return self


class DataConfig(_Model):
    """Where bars come from: ``{dir}/{SYMBOL}_{timeframe}.{format}``.

    ``dir`` defaults to the bundled sample data; relative paths are resolved against the
    strategy file's folder.
    """

    dir: str | None = None
    format: Literal["parquet", "csv"] | None = None
    resample_from: Timeframe | None = None


# ---------------------------------------------------------------------------------------------
# indicators and fuzzy sets
# ---------------------------------------------------------------------------------------------


class IndicatorConfig(_Model):
    """``{type: rsi, period: 14, ...}``: params are validated by the indicator registry."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, raw: Any) -> Any:
        if isinstance(raw, IndicatorConfig):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"expected a mapping with a type key, got {raw!r}")
        raw = dict(raw)
        if "type" not in raw:
            raise KeyedError("type", "missing: every indicator needs a type (for example type: rsi)")
        t = raw.pop("type")
        if "params" in raw and isinstance(raw["params"], dict) and len(raw) == 1:
            raw = dict(raw["params"])
        try:
            spec = get_indicator_spec(t)
        except KeyError as exc:
            raise KeyedError("type", str(exc.args[0])) from None
        try:
            params = spec.resolve_params(raw)
        except ValueError as exc:
            key, _, msg = str(exc).partition(": ")
            raise KeyedError(key, msg) from None
        return {"type": spec.type, "params": params}

    @property
    def outputs(self) -> tuple[str, ...]:
        return get_indicator_spec(self.type).outputs


class MembershipConfig(_Model):
    """One membership function: ``{type, parameters}`` (``[a, b, c]`` is triangular shorthand)."""

    type: str = "triangular"
    parameters: tuple[float, ...]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, list | tuple):
            if len(raw) != 3:
                raise ValueError(
                    f"a list is shorthand for triangular [a, b, c] and needs 3 numbers, got {list(raw)!r}; "
                    "write {type: trapezoidal, parameters: [a, b, c, d]} for other types"
                )
            raw = {"type": "triangular", "parameters": list(raw)}
        if not isinstance(raw, dict):
            raise ValueError(f"expected [a, b, c] or {{type, parameters}}, got {raw!r}")
        raw = dict(raw)
        t = raw.get("type", "triangular")
        try:
            spec = get_membership_spec(t)
        except KeyError as exc:
            raise KeyedError("type", str(exc.args[0])) from None
        raw["type"] = spec.type
        if "parameters" not in raw:
            raise KeyedError("parameters", f"missing: {spec.type} needs parameters {list(spec.param_names)}")
        try:
            raw["parameters"] = spec.validate(raw["parameters"])
        except ValueError as exc:
            raise KeyedError("parameters", str(exc)) from None
        return raw


class FuzzySetConfig(_Model):
    """``{indicator: ref, <membership>: definition, ...}``; membership order is feature order."""

    indicator: str
    memberships: dict[str, MembershipConfig]

    @model_validator(mode="before")
    @classmethod
    def _split(cls, raw: Any) -> Any:
        if isinstance(raw, FuzzySetConfig):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"expected a mapping with indicator and memberships, got {raw!r}")
        raw = dict(raw)
        if "indicator" not in raw:
            raise KeyedError("indicator", "missing: a fuzzy set needs indicator: <indicator_id>")
        ind = raw.pop("indicator")
        if not isinstance(ind, str):
            raise KeyedError("indicator", f"expected an indicator reference, got {ind!r}")
        if "memberships" in raw and isinstance(raw["memberships"], dict) and len(raw) == 1:
            raw = dict(raw["memberships"])
        if not raw:
            raise ValueError("a fuzzy set needs at least one membership, e.g. low: [0, 20, 40]")
        for name in raw:
            if not isinstance(name, str) or not ID_RE.match(name):
                raise KeyedError(str(name), "membership names use letters, digits and '_' only")
        return {"indicator": ind, "memberships": raw}


class NNInput(_Model):
    """``{fuzzy_set, timeframes}`` or ``{raw_indicator, timeframes, normalization}``."""

    fuzzy_set: str | None = None
    raw_indicator: str | None = None
    timeframes: Literal["all"] | tuple[Timeframe, ...] = "all"
    normalization: Literal["none", "minmax", "zscore"] | None = None

    @model_validator(mode="after")
    def _one(self) -> NNInput:
        if (self.fuzzy_set is None) == (self.raw_indicator is None):
            raise ValueError("each nn_inputs item needs exactly one of fuzzy_set or raw_indicator")
        if self.fuzzy_set is not None and self.normalization is not None:
            raise KeyedError(
                "normalization",
                f"normalization is allowed only with raw_indicator (fuzzy memberships are already "
                f"in [0, 1]), got {self.normalization!r}",
            )
        if isinstance(self.timeframes, tuple) and not self.timeframes:
            raise KeyedError("timeframes", "expected 'all' or a non-empty list of timeframes, got []")
        return self

    @property
    def source(self) -> str:
        return self.fuzzy_set if self.fuzzy_set is not None else self.raw_indicator  # type: ignore[return-value]

    @property
    def norm(self) -> str:
        return self.normalization or "none"


# ---------------------------------------------------------------------------------------------
# the strategy
# ---------------------------------------------------------------------------------------------


def _version(v: Any) -> str:
    v = str(v)
    if not re.match(r"^3(\.\d+)*$", v):
        raise ValueError(f"this is the version 3 grammar; expected '3.0', got {v!r}")
    return v


class Strategy(_Model):
    """A whole experiment, as loaded from one YAML file."""

    name: str
    description: str = ""
    version: Annotated[str, BeforeValidator(_version)] = "3.0"
    scope: Literal["universal", "symbol_group", "symbol_specific"] = "universal"
    training_data: TrainingData
    data: DataConfig = DataConfig()
    indicators: dict[str, IndicatorConfig]
    fuzzy_sets: dict[str, FuzzySetConfig]
    nn_inputs: tuple[NNInput, ...]
    model: ModelConfig
    decisions: DecisionConfig
    training: TrainingConfig
    backtest: BacktestConfig = BacktestConfig()

    _source_path: str | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"expected letters, digits, '_' or '-' only, got {v!r}")
        return v

    @field_validator("indicators", "fuzzy_sets")
    @classmethod
    def _ids(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k in v:
            if not ID_RE.match(k):
                raise KeyedError(k, f"ids use letters, digits and '_' only (no dots), got {k!r}")
        if not v:
            raise ValueError("expected at least one entry, got an empty mapping")
        return v

    @field_validator("nn_inputs")
    @classmethod
    def _inputs(cls, v: tuple[NNInput, ...]) -> tuple[NNInput, ...]:
        if not v:
            raise ValueError("expected at least one input, got an empty list")
        return v

    @model_validator(mode="after")
    def _cross(self) -> Strategy:
        for fid, fs in self.fuzzy_sets.items():
            msg = self.check_indicator_ref(fs.indicator)
            if msg:
                raise KeyedError(("fuzzy_sets", fid, "indicator"), msg)
        tfs = self.timeframes
        seen: dict[tuple[str, str], int] = {}
        for i, item in enumerate(self.nn_inputs):
            if item.fuzzy_set is not None and item.fuzzy_set not in self.fuzzy_sets:
                raise KeyedError(
                    ("nn_inputs", i, "fuzzy_set"),
                    f"unknown fuzzy set {item.fuzzy_set!r}; defined: {', '.join(self.fuzzy_sets)}",
                )
            if item.raw_indicator is not None:
                msg = self.check_indicator_ref(item.raw_indicator)
                if msg:
                    raise KeyedError(("nn_inputs", i, "raw_indicator"), msg)
            if item.timeframes != "all":
                for tf in item.timeframes:
                    if tf not in tfs:
                        raise KeyedError(
                            ("nn_inputs", i, "timeframes"),
                            f"{tf!r} is not one of the strategy's timeframes {list(tfs)!r}",
                        )
            for tf in self.input_timeframes(item):
                key = (item.source, tf)
                if key in seen:
                    raise KeyedError(
                        ("nn_inputs", i),
                        f"{item.source!r} on {tf} is already an input (nn_inputs[{seen[key]}]); "
                        "each source and timeframe may appear once",
                    )
                seen[key] = i
        return self

    # -- derived views -------------------------------------------------------------------------

    def check_indicator_ref(self, ref: str) -> str | None:
        """Return an error message if ``ref`` is not a valid indicator reference, else None."""
        ind_id, dot, output = ref.partition(".")
        if ind_id not in self.indicators:
            return f"unknown indicator {ind_id!r}; defined: {', '.join(self.indicators)}"
        outs = self.indicators[ind_id].outputs
        if len(outs) > 1:
            if not dot:
                return (
                    f"{ind_id!r} ({self.indicators[ind_id].type}) has several outputs; refer to one of "
                    + ", ".join(f"{ind_id}.{o}" for o in outs)
                )
            if output not in outs:
                return f"{ind_id!r} has no output {output!r}; valid: " + ", ".join(f"{ind_id}.{o}" for o in outs)
        elif dot:
            return f"{ind_id!r} ({self.indicators[ind_id].type}) has a single output; refer to it as {ind_id!r}"
        return None

    @property
    def source_path(self) -> str | None:
        """Absolute path of the file this strategy was read from (None for mappings)."""
        return self._source_path

    @property
    def symbols(self) -> tuple[str, ...]:
        s = self.training_data.symbols
        return (s.symbol,) if isinstance(s, SingleSymbol) else tuple(s.list)

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self.training_data.timeframes.resolved

    @property
    def base_timeframe(self) -> str:
        return self.training_data.timeframes.base

    def input_timeframes(self, item: NNInput) -> tuple[str, ...]:
        """The timeframes an ``nn_inputs`` entry expands to, in order."""
        return self.timeframes if item.timeframes == "all" else tuple(item.timeframes)

    @property
    def label_horizon(self) -> int:
        """Bars a label may look ahead: the embargo between data splits."""
        return int(self.training.labels.horizon)
