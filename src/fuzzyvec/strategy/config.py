"""Building blocks of the strategy grammar: the frozen base model, shared field types, and the
``model``, ``decisions``, ``training`` and ``backtest`` sections.

:mod:`fuzzyvec.strategy.grammar` assembles these into :class:`~fuzzyvec.strategy.grammar.Strategy`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..timeframes import timeframe_seconds

__all__ = [
    "Architecture",
    "BacktestConfig",
    "DataSplit",
    "DecisionConfig",
    "DecisionFilters",
    "EarlyStopping",
    "FeatureOptions",
    "ForwardReturnLabels",
    "KeyedError",
    "ModelConfig",
    "ModelTraining",
    "TrainingConfig",
    "TripleBarrierLabels",
    "WalkForward",
    "ZigzagLabels",
]

ID_RE = re.compile(r"^[A-Za-z0-9_]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
SYMBOL_RE = re.compile(r"^[A-Za-z0-9._-]+$")


class KeyedError(ValueError):
    """A validation error about a sub-key of the value being validated.

    The loader appends ``key`` to the pydantic location, so messages read
    ``indicators.rsi_14.period: expected >= 2, got 1``.
    """

    def __init__(self, key: str | tuple[str | int, ...], message: str) -> None:
        self.key = (key,) if isinstance(key, str | int) else tuple(key)
        self.message = message
        super().__init__(message)


Int = Annotated[int, Field(strict=True)]
Float = Annotated[float, Field(strict=True)]


def _utc(v: Any) -> Any:
    """Dates and datetimes (or ISO strings) to timezone-aware UTC datetimes."""
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected an ISO date such as 2023-03-01, got {v!r}") from None
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=UTC)
    raise ValueError(f"expected an ISO date such as 2023-03-01, got {v!r}")


UtcDatetime = Annotated[datetime | None, BeforeValidator(_utc)]


def _timeframe(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a timeframe such as 5m, 1h, 4h, 1d, got {v!r}")
    timeframe_seconds(v)
    return v


Timeframe = Annotated[str, BeforeValidator(_timeframe)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)



# ---------------------------------------------------------------------------------------------
# model, decisions, training, backtest
# ---------------------------------------------------------------------------------------------


class Architecture(_Model):
    hidden_layers: tuple[Int, ...] = (32, 16)
    activation: Literal["relu", "tanh", "sigmoid", "leaky_relu", "gelu"] = "relu"
    output_activation: Literal["softmax"] = "softmax"
    dropout: Float = Field(0.0, ge=0.0, lt=1.0)

    @field_validator("hidden_layers")
    @classmethod
    def _layers(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(n < 1 for n in v):
            raise ValueError(f"expected a non-empty list of positive layer widths, got {list(v)!r}")
        return v


class FeatureOptions(_Model):
    include_price_context: bool = False
    lookback_periods: Int = Field(1, ge=1, le=1000)
    scale_features: bool = False


class EarlyStopping(_Model):
    enabled: bool = False
    patience: Int = Field(5, ge=1)
    min_delta: Float = Field(0.0, ge=0.0)


class ModelTraining(_Model):
    learning_rate: Float = Field(0.001, gt=0.0, le=10.0)
    batch_size: Int = Field(64, ge=1)
    epochs: Int = Field(20, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: Float = Field(0.0, ge=0.0)
    momentum: Float = Field(0.0, ge=0.0, lt=1.0)
    gradient_clip: Float | None = Field(1.0, gt=0.0)
    class_weights: Literal["inverse_frequency", "none"] = "inverse_frequency"
    early_stopping: EarlyStopping = EarlyStopping()
    seed: Int = Field(42, ge=0)
    checkpoint_every: Int = Field(10, ge=1)

    @model_validator(mode="after")
    def _sgd(self) -> ModelTraining:
        if self.momentum and self.optimizer != "sgd":
            raise KeyedError("momentum", f"momentum applies to optimizer: sgd only, got optimizer {self.optimizer!r}")
        return self


class ModelConfig(_Model):
    type: Literal["mlp"] = "mlp"
    architecture: Architecture = Architecture()
    features: FeatureOptions = FeatureOptions()
    training: ModelTraining = ModelTraining()


class DecisionFilters(_Model):
    min_signal_separation: Int = Field(0, ge=0)


class DecisionConfig(_Model):
    output_format: Literal["classification"] = "classification"
    confidence_threshold: Float = Field(0.5, ge=0.0, le=1.0)
    position_awareness: bool = True
    allow_short_from_flat: bool = False
    reverse_on_opposite: bool = False
    filters: DecisionFilters = DecisionFilters()


class ZigzagLabels(_Model):
    source: Literal["zigzag"]
    zigzag_threshold: Float = Field(gt=0.0, lt=1.0)
    label_lookahead: Int = Field(ge=1)

    @property
    def horizon(self) -> int:
        return self.label_lookahead


class ForwardReturnLabels(_Model):
    source: Literal["forward_return"]
    horizon: Int = Field(ge=1)
    threshold: Float = Field(0.0, ge=0.0, lt=1.0)


class TripleBarrierLabels(_Model):
    source: Literal["triple_barrier"]
    pt_multiplier: Float = Field(gt=0.0)
    sl_multiplier: Float = Field(gt=0.0)
    max_holding_period: Int = Field(ge=1)
    vol_span: Int = Field(20, ge=2)

    @property
    def horizon(self) -> int:
        return self.max_holding_period


class DataSplit(_Model):
    train: Float = Field(0.7, gt=0.0, le=1.0)
    validation: Float = Field(0.15, ge=0.0, lt=1.0)
    test: Float = Field(0.15, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _sum(self) -> DataSplit:
        s = self.train + self.validation + self.test
        if abs(s - 1.0) > 1e-9:
            raise ValueError(
                f"train + validation + test must be 1.0, got {self.train} + {self.validation} + {self.test} = {s:g}"
            )
        return self


class WalkForward(_Model):
    train_bars: Int = Field(ge=10)
    test_bars: Int = Field(ge=1)
    step_bars: Int | None = Field(None, ge=1)


class TrainingConfig(_Model):
    method: Literal["supervised"] = "supervised"
    labels: Annotated[ZigzagLabels | ForwardReturnLabels | TripleBarrierLabels, Field(discriminator="source")]
    data_split: DataSplit = DataSplit()
    walk_forward: WalkForward | None = None


class BacktestConfig(_Model):
    init_cash: Float = Field(10_000.0, gt=0.0)
    fees: Float = Field(0.001, ge=0.0, lt=0.5)
    slippage: Float = Field(0.0005, ge=0.0, lt=0.5)
    size: Float = Field(1.0, gt=0.0, le=1.0)
    sl_stop: Float | None = Field(None, gt=0.0, lt=1.0)
    tp_stop: Float | None = Field(None, gt=0.0)
    sl_trail: bool = False
    direction: Literal["both", "longonly", "shortonly"] = "both"
    execution: Literal["next_open", "close"] = "next_open"
    freq: Timeframe | None = None
    bars_per_year: Float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _trail(self) -> BacktestConfig:
        if self.sl_trail and self.sl_stop is None:
            raise KeyedError("sl_trail", "sl_trail: true needs sl_stop (the trailing distance)")
        return self


