"""The client of the prediction service (SPEC §14): :class:`PredictionClient` and its venue file.

A venue file says where the service is and how to talk to it::

    venue_name: "ml_inference_api"
    venue_type: "api"
    enabled: true
    endpoints: {predictions: "http://127.0.0.1:8000/v1/predictions"}
    auth: {type: "bearer_token", token_env_var: "FUZZYVEC_API_TOKEN"}
    request_config: {timeout_seconds: 30, retry_attempts: 3, retry_backoff_seconds: 5, cache_ttl_seconds: 300}
    validation: {require_confidence_score: true, min_confidence: 0.0, valid_signals: ["long", "short", "neutral"]}

It is read into frozen pydantic models that refuse unknown keys, so a misspelt key or a bad
value is an error naming the file, the line and the key path (as strategies are).

``predict(symbol, timestamp)`` posts ``{symbol, timestamp}`` and returns the answer as a dict.

- **Retries** (tenacity): connection errors, timeouts, HTTP 5xx and 429 are retried up to
  ``retry_attempts`` attempts in all, waiting ``retry_backoff_seconds × 2^(k-1)`` after the
  k-th failure; other 4xx answers are final. Each attempt is bounded by ``timeout_seconds``
  (connect, write and read each), so a dead or hung service costs at most about
  ``timeout × attempts + backoff × (2^(attempts-1) - 1)``.
- **Validation**: the answer must be JSON matching the contract, for the symbol and
  timestamp asked, with a signal in ``valid_signals`` and a confidence of at least
  ``min_confidence``; a missing confidence is refused with ``require_confidence_score`` and
  read as 1.0 (the signal stands on its own) without it.
- **Cache**: valid answers are kept per (symbol, timestamp) for ``cache_ttl_seconds``
  (0 turns it off); a bar's answer never changes, so a repeated question costs no request.
- **Graceful degradation**: on any failure (service down, hung, erroring, or an invalid
  answer) the reason is logged (``fuzzyvec.live.client``, never the token) and the answer
  is ``{"signal": "neutral", "confidence": 0.0, "stop_loss": None, "take_profit": None,
  "model_version": None, "degraded": True, "reason": ...}`` — no position, never an
  exception. A venue with ``enabled: false`` answers that way without asking.

The token is read from the environment variable ``auth.token_env_var`` when the client is
made; a live (enabled) venue without it is an error naming the variable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UsageError
from .schemas import SIGNALS, Timestamp, iso_z

__all__ = ["PredictionClient", "VenueConfig", "degraded_answer", "load_venue"]

log = logging.getLogger("fuzzyvec.live.client")

Signal = Literal["long", "short", "neutral"]


# ---------------------------------------------------------------------------------------------
# the venue file
# ---------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Endpoints(_Model):
    predictions: str = Field(description="URL of POST /v1/predictions")

    @field_validator("predictions")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v


class Auth(_Model):
    type: Literal["bearer_token"] = "bearer_token"
    token_env_var: str = Field("FUZZYVEC_API_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class RequestConfig(_Model):
    timeout_seconds: float = Field(30.0, gt=0)
    retry_attempts: int = Field(3, ge=1, le=100)
    retry_backoff_seconds: float = Field(5.0, ge=0)
    cache_ttl_seconds: float = Field(300.0, ge=0)


class Validation(_Model):
    require_confidence_score: bool = True
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    valid_signals: tuple[Signal, ...] = Field(SIGNALS, min_length=1)

    @field_validator("valid_signals")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate signal in {list(v)!r}")
        return v


class VenueConfig(_Model):
    """A venue file (see the module docs for the format)."""

    venue_name: str = Field(min_length=1)
    venue_type: Literal["api"]
    enabled: bool = True
    endpoints: Endpoints
    auth: Auth = Auth()
    request_config: RequestConfig = RequestConfig()
    validation: Validation = Validation()


#: keyword overrides of :func:`load_venue` -> key path in the venue file
OVERRIDES: dict[str, tuple[str, str]] = {
    "endpoint": ("endpoints", "predictions"),
    "timeout_seconds": ("request_config", "timeout_seconds"),
    "retry_attempts": ("request_config", "retry_attempts"),
    "retry_backoff_seconds": ("request_config", "retry_backoff_seconds"),
    "cache_ttl_seconds": ("request_config", "cache_ttl_seconds"),
}


def _format_errors(exc: ValidationError, source: str, lines: Mapping[tuple, int]) -> UsageError:
    import difflib

    parts = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            model: Any = VenueConfig
            for p in loc[:-1]:
                model = getattr(getattr(model, "model_fields", {}).get(str(p)), "annotation", None)
            allowed = list(getattr(model, "model_fields", {}))
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            text = (f"unknown key {loc[-1]!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                    + (f" (allowed here: {', '.join(allowed)})" if allowed else ""))
        elif err["type"] == "missing":
            text = "missing required key"
        else:
            text = err["msg"].replace("Input should be", "expected").replace("Value error, ", "")
            if "input" in err and not isinstance(err["input"], dict):
                text += f", got {err['input']!r}"
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        parts.append(f"{source}:{line}: {dotted}: {text}" if line else f"{source}: {dotted}: {text}")
    return UsageError(parts[0] if len(parts) == 1 else f"{len(parts)} problems in {source}:\n  " + "\n  ".join(parts))


def load_venue(path: str | Path, **overrides: Any) -> VenueConfig:
    """Read and validate a venue file.

    Parameters
    ----------
    path:
        The YAML file.
    **overrides:
        ``endpoint``, ``timeout_seconds``, ``retry_attempts``, ``retry_backoff_seconds``,
        ``cache_ttl_seconds``: replace the file's values (validated the same way).

    Raises
    ------
    UsageError
        A missing or unreadable file, a YAML error, an unknown key (with a suggestion) or a bad
        value, naming the file, the line and the key path; an unknown override.
    """
    import yaml

    from ..strategy.load import _line_map, _Loader

    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise UsageError(f"unknown venue override(s) {unknown}; choose from {', '.join(OVERRIDES)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_Loader)  # refuses duplicate keys
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the venue file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of venue keys (venue_name, endpoints, ...), "
                         f"got {type(data).__name__}")
    for key, value in overrides.items():
        if value is None:
            continue
        section, field = OVERRIDES[key]
        block = data.get(section)
        data[section] = {**(block if isinstance(block, dict) else {}), field: value}
    try:
        return VenueConfig.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(exc, str(path), lines) from None


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


class _Answer(BaseModel):
    """The contract as the client checks it (extra keys from a newer service are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    symbol: str
    timestamp: Timestamp
    signal: str
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0.0)
    take_profit: float | None = Field(default=None, gt=0.0)
    model_version: str


class _Retryable(Exception):
    """An answer worth asking again for (5xx, 429)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


class _Invalid(Exception):
    """An answer that is final and unusable."""


def _detail(response: Any) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    text = str(detail) if detail is not None else response.text
    return text[:300] or response.reason_phrase


def degraded_answer(symbol: str, timestamp: str, reason: str) -> dict[str, Any]:
    """The answer on failure: neutral, confidence 0 (no position), with the reason."""
    return {"symbol": symbol, "timestamp": timestamp, "signal": "neutral", "confidence": 0.0, "stop_loss": None,
            "take_profit": None, "model_version": None, "degraded": True, "reason": reason}


class PredictionClient:
    """Ask the prediction service for the row of a bar (see the module docs).

    Parameters
    ----------
    venue:
        The venue (:func:`load_venue`).
    token:
        The bearer token (default: the environment variable ``venue.auth.token_env_var``).
    transport:
        An httpx transport (tests).

    Raises
    ------
    UsageError
        An enabled venue and no token: the message names the variable.
    """

    def __init__(self, venue: VenueConfig, *, token: str | None = None, transport: Any = None) -> None:
        import httpx

        self.venue = venue
        var = venue.auth.token_env_var
        token = token if token is not None else os.environ.get(var)
        if venue.enabled and not token:
            raise UsageError(f"{var} is not set: venue {venue.venue_name!r} needs a bearer token in the environment "
                             f"variable {var} (auth.token_env_var); export {var}=<token>")
        rc = venue.request_config
        self.endpoint = venue.endpoints.predictions
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(timeout=httpx.Timeout(rc.timeout_seconds), headers=headers, transport=transport)
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: counters: requests (HTTP attempts), answers, cache_hits, degraded
        self.stats = {"requests": 0, "answers": 0, "cache_hits": 0, "degraded": 0}

    @classmethod
    def from_yaml(cls, path: str | Path, *, token: str | None = None, transport: Any = None,
                  **overrides: Any) -> PredictionClient:
        """A client from a venue file; ``overrides`` as :func:`load_venue`'s."""
        return cls(load_venue(path, **overrides), token=token, transport=transport)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- asking ----------------------------------------------------------------------------

    def _post_once(self, body: dict[str, str]) -> Any:
        self.stats["requests"] += 1
        r = self._http.post(self.endpoint, json=body)
        if r.status_code >= 500 or r.status_code == 429:
            raise _Retryable(r.status_code, _detail(r))
        return r

    def _post(self, body: dict[str, str]) -> Any:
        import httpx
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        rc = self.venue.request_config

        def before_sleep(state: Any) -> None:
            log.info("retrying %s (attempt %d of %d failed: %s)", self.endpoint, state.attempt_number,
                     rc.retry_attempts, _why(state.outcome.exception()))

        retrying = Retrying(
            stop=stop_after_attempt(rc.retry_attempts),
            wait=wait_exponential(multiplier=rc.retry_backoff_seconds, min=0, max=3600),
            retry=retry_if_exception_type((httpx.TransportError, _Retryable)),
            before_sleep=before_sleep, reraise=True,
        )
        try:
            return retrying(self._post_once, body)
        except (httpx.TransportError, _Retryable) as exc:
            n = retrying.statistics.get("attempt_number", rc.retry_attempts)
            raise _Invalid(f"{_why(exc)} (after {n} attempt{'s' if n != 1 else ''})") from None

    def _validate(self, r: Any, symbol: str, stamp: datetime) -> dict[str, Any]:
        if r.status_code != 200:
            raise _Invalid(f"HTTP {r.status_code}: {_detail(r)}")
        try:
            data = r.json()
        except ValueError:
            raise _Invalid(f"the answer is not JSON: {r.text[:120]!r}") from None
        if not isinstance(data, dict):
            raise _Invalid(f"the answer is not a JSON object: {str(data)[:120]}")
        try:
            ans = _Answer.model_validate(data)
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            raise _Invalid(f"the answer does not match the contract: {'.'.join(map(str, e['loc']))}: "
                           f"{e['msg']}") from None
        rules = self.venue.validation
        if ans.symbol != symbol or ans.timestamp != stamp:
            raise _Invalid(f"the answer is for {ans.symbol} {iso_z(ans.timestamp)}, not the {symbol} "
                           f"{iso_z(stamp)} asked for")
        if ans.signal not in rules.valid_signals:
            raise _Invalid(f"signal {ans.signal!r} is not one of validation.valid_signals {list(rules.valid_signals)}")
        conf = ans.confidence
        if conf is None:
            if rules.require_confidence_score:
                raise _Invalid("the answer has no confidence (validation.require_confidence_score is true)")
            conf = 1.0
        if conf < rules.min_confidence:
            raise _Invalid(f"confidence {conf} is below validation.min_confidence {rules.min_confidence}")
        sl, tp = ans.stop_loss, ans.take_profit
        if sl is not None and tp is not None and ((ans.signal == "long" and not sl < tp)
                                                  or (ans.signal == "short" and not tp < sl)):
            raise _Invalid(f"{ans.signal} answer with stop_loss {sl} and take_profit {tp} on the wrong sides")
        return {"symbol": ans.symbol, "timestamp": iso_z(ans.timestamp), "signal": ans.signal,
                "confidence": float(conf), "stop_loss": sl, "take_profit": tp,
                "model_version": ans.model_version}

    def predict(self, symbol: str, timestamp: Any) -> dict[str, Any]:
        """The service's answer for the bar of ``symbol`` opening at ``timestamp``.

        Parameters
        ----------
        symbol:
            e.g. ``"BTCUSDT"``.
        timestamp:
            Open time of the bar the answer applies to: an ISO string or a datetime (naive =
            UTC).

        Returns
        -------
        dict
            ``symbol, timestamp`` (ISO, ``Z``), ``signal, confidence, stop_loss, take_profit,
            model_version``; on any failure the neutral :func:`degraded_answer` (with
            ``degraded: True`` and ``reason``). Never raises for a failing service.

        Raises
        ------
        DataError
            ``timestamp`` is not a date/time (a caller bug, not a service failure).
        """
        from ..data.bars import to_utc_datetime

        stamp = to_utc_datetime(timestamp, what="timestamp")
        iso = iso_z(stamp)
        if not self.venue.enabled:
            return self._degrade(symbol, iso, f"venue {self.venue.venue_name!r} is disabled (enabled: false)")
        key = (symbol, iso)
        ttl = self.venue.request_config.cache_ttl_seconds
        now = time.monotonic()
        if ttl > 0:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self.stats["cache_hits"] += 1
                return dict(hit[1])
        try:
            answer = self._validate(self._post({"symbol": symbol, "timestamp": iso}), symbol, stamp)
        except Exception as exc:  # graceful degradation: whatever went wrong, no position
            return self._degrade(symbol, iso, _why(exc))
        self.stats["answers"] += 1
        if ttl > 0:
            with self._lock:
                if len(self._cache) > 50_000:  # drop what has expired
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                self._cache[key] = (now + ttl, answer)
        return dict(answer)

    def _degrade(self, symbol: str, iso: str, reason: str) -> dict[str, Any]:
        self.stats["degraded"] += 1
        log.warning("prediction for %s %s degraded to neutral: %s", symbol, iso, reason)
        return degraded_answer(symbol, iso, reason)

    def health(self) -> dict[str, Any] | None:
        """``GET /healthz`` of the service (same host as the endpoint), or None if it fails."""
        parts = urlsplit(self.endpoint)
        url = urlunsplit((parts.scheme, parts.netloc, "/healthz", "", ""))
        try:
            r = self._http.get(url)
            r.raise_for_status()
            data = r.json()
            return data if isinstance(data, dict) else None
        except Exception as exc:
            log.warning("health check %s failed: %s", url, _why(exc))
            return None


def _why(exc: BaseException | None) -> str:
    """A one-line reason for a failure (no token: httpx errors name only the URL)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _Retryable | _Invalid):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
