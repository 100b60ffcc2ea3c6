"""The wire format of the prediction service (SPEC §14): one pydantic model per request and
response, shared by the server (:mod:`fuzzyvec.live.service`) and the client
(:mod:`fuzzyvec.live.client`).

Timestamps are ISO 8601 strings; naive values are taken as UTC and every timestamp the
service writes ends in ``Z`` (``"2023-11-01T00:05:00Z"``). Models are frozen and refuse
unknown keys (``extra="forbid"``): a misspelt key in a request is a 422, never ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

__all__ = [
    "MAX_BARS_PER_UPLOAD",
    "SIGNALS",
    "Bar",
    "BarsAccepted",
    "BarsUpload",
    "Health",
    "Prediction",
    "PredictionRequest",
    "Timestamp",
    "iso_z",
]

#: The signal names of the contract (the §8 prediction-file signals).
SIGNALS: tuple[str, ...] = ("long", "short", "neutral")
#: Bars one ``PUT /v1/bars/{symbol}`` may carry (the 1 MiB body limit allows ~8,000).
MAX_BARS_PER_UPLOAD = 10_000
SYMBOL_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


def _utc(value: datetime) -> datetime:
    """Naive -> UTC; aware -> converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """``2023-11-01T00:05:00Z`` (microseconds only when present)."""
    return _utc(value).isoformat().replace("+00:00", "Z")


#: A UTC datetime that travels as an ISO 8601 string ending in ``Z``.
Timestamp = Annotated[datetime, AfterValidator(_utc), PlainSerializer(iso_z, return_type=str, when_used="json")]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, description="e.g. BTCUSDT")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PredictionRequest(_Model):
    """Body of ``POST /v1/predictions``.

    ``timestamp`` is the open time of the bar the answer applies to (see
    :mod:`fuzzyvec.live.service` for exactly which bars the answer uses).
    """

    symbol: Symbol
    timestamp: Timestamp


class Prediction(_Model):
    """Answer of ``POST /v1/predictions``: the SPEC §8 prediction row of one bar.

    ``stop_loss`` / ``take_profit`` are absolute prices (null on neutral rows);
    ``confidence`` is the winning class probability (0 on warm-up rows).
    """

    symbol: Symbol
    timestamp: Timestamp
    signal: Literal["long", "short", "neutral"]
    confidence: float = Field(ge=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0.0)
    take_profit: float | None = Field(default=None, gt=0.0)
    model_version: str


class Bar(_Model):
    """One completed bar (``timestamp`` = its open time)."""

    timestamp: Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float


class BarsUpload(_Model):
    """Body of ``PUT /v1/bars/{symbol}``: completed bars in increasing time order."""

    bars: list[Bar] = Field(min_length=1, max_length=MAX_BARS_PER_UPLOAD)


class BarsAccepted(_Model):
    """Answer of ``PUT /v1/bars/{symbol}``.

    ``appended`` new bars; ``skipped`` bars that were already stored with identical values
    (re-sending a batch is harmless); ``bars`` stored in all; ``last_bar`` the last open time.
    """

    symbol: Symbol
    appended: int
    skipped: int
    bars: int
    last_bar: Timestamp


class Health(_Model):
    """Answer of ``GET /healthz``."""

    status: Literal["ok"]
    model_version: str
    strategy: str
    base_timeframe: str
    last_bar: dict[str, Timestamp]
    bars: dict[str, int]
    window_bars: int = Field(description="base bars one request reads (independent of the history)")
    uptime_seconds: float
