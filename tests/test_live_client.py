"""PredictionClient and venue files: retries, timeouts, validation, cache and graceful
degradation, against real uvicorn servers on loopback ports (a scripted fault server, a port
nobody listens on, a socket that accepts and never answers)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from fuzzyvec.errors import UsageError
from fuzzyvec.live import PredictionClient
from fuzzyvec.live.client import load_venue

from .live_helpers import TOKEN, free_port, thread_server, venue_yaml

TS = "2023-11-01T00:05:00Z"


def _answer(body: dict, **over) -> dict:
    return {"symbol": body["symbol"], "timestamp": body["timestamp"], "signal": "long", "confidence": 0.7,
            "stop_loss": 98.0, "take_profit": 104.0, "model_version": "m@1", **over}


class Script:
    """What the fault server does next: a list of steps, the last one repeated."""

    def __init__(self) -> None:
        self.steps: list[str] = ["ok"]
        self.hits = 0
        self.auth: list[str | None] = []

    def set(self, *steps: str) -> None:
        self.steps, self.hits, self.auth = list(steps), 0, []


def fault_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/predictions")
    async def predictions(request: Request):
        body = await request.json()
        script.auth.append(request.headers.get("authorization"))
        step = script.steps[min(script.hits, len(script.steps) - 1)]
        script.hits += 1
        if step == "ok":
            return _answer(body)
        if step.isdigit():
            return JSONResponse(status_code=int(step), content={"detail": f"scripted {step}"})
        if step == "slow":
            await asyncio.sleep(2.0)
            return _answer(body)
        if step == "malformed":
            return PlainTextResponse('{"signal": "long", "confid', media_type="application/json")
        if step == "buy":
            return _answer(body, signal="buy")
        if step == "short":
            return _answer(body, signal="short", stop_loss=104.0, take_profit=98.0)
        if step == "lowconf":
            return _answer(body, confidence=0.2)
        if step == "noconf":
            return {k: v for k, v in _answer(body).items() if k != "confidence"}
        if step == "other_bar":
            return _answer(body, timestamp="2023-11-01T00:10:00Z")
        if step == "wrong_stops":
            return _answer(body, stop_loss=105.0)
        raise AssertionError(step)

    return app


@pytest.fixture(scope="module")
def script():
    return Script()


@pytest.fixture(scope="module")
def fault_url(script):
    with thread_server(fault_app(script)) as base:
        yield base


@pytest.fixture
def venue(tmp_path, fault_url, monkeypatch):
    monkeypatch.setenv("FUZZYVEC_API_TOKEN", TOKEN)
    return venue_yaml(tmp_path / "venue.yaml", f"{fault_url}/v1/predictions", timeout_seconds=0.5,
                      retry_attempts=3, retry_backoff_seconds=0.05, cache_ttl_seconds=0)


# ---------------------------------------------------------------------------------------------
# the venue file
# ---------------------------------------------------------------------------------------------


def test_the_venue_format_loads_as_is(tmp_path):
    v = load_venue(venue_yaml(tmp_path / "v.yaml", "http://127.0.0.1:8000/v1/predictions"))
    assert v.venue_name == "ml_inference_api" and v.venue_type == "api" and v.enabled
    assert v.auth.token_env_var == "FUZZYVEC_API_TOKEN" and v.auth.type == "bearer_token"
    rc = v.request_config
    assert (rc.timeout_seconds, rc.retry_attempts, rc.retry_backoff_seconds, rc.cache_ttl_seconds) == (30, 3, 5, 300)
    assert v.validation.valid_signals == ("long", "short", "neutral") and v.validation.require_confidence_score
    o = load_venue(tmp_path / "v.yaml", endpoint="http://10.0.0.1:9000/v1/predictions", timeout_seconds=2,
                   retry_attempts=5, retry_backoff_seconds=0.1, cache_ttl_seconds=0)
    assert o.endpoints.predictions == "http://10.0.0.1:9000/v1/predictions"
    assert (o.request_config.timeout_seconds, o.request_config.retry_attempts) == (2, 5)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        v.enabled = False  # type: ignore[misc]


@pytest.mark.parametrize("edit, message", [
    (("request_config: {", "request_config: {timout_seconds: 3, "),
     "v.yaml:6: request_config.timout_seconds: unknown key 'timout_seconds'; did you mean 'timeout_seconds'?"),
    (("retry_attempts: 3", "retry_attempts: 0"), "v.yaml:6: request_config.retry_attempts: "),
    (("timeout_seconds: 30", "timeout_seconds: -1"), "request_config.timeout_seconds: "),
    (('"neutral"]', '"hold"]'), "v.yaml:7: validation.valid_signals.2: "),
    (('venue_type: "api"', 'venue_type: "grpc"'), "v.yaml:2: venue_type: "),
    (('"http://127.0.0.1:8000/v1/predictions"', '"ftp://x"'), "endpoints.predictions: "),
    (("enabled: true", "enabled: true\nsurprise: 1"), "v.yaml:4: surprise: unknown key 'surprise'"),
    (("min_confidence: 0.0", "min_confidence: 1.5"), "validation.min_confidence: "),
])
def test_bad_venue_files_name_the_key_path(tmp_path, edit, message):
    p = venue_yaml(tmp_path / "v.yaml", "http://127.0.0.1:8000/v1/predictions")
    text = p.read_text()
    assert edit[0] in text
    p.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(UsageError) as err:
        load_venue(p)
    assert message in str(err.value)


def test_unknown_override_and_missing_file_are_refused(tmp_path):
    p = venue_yaml(tmp_path / "v.yaml", "http://127.0.0.1:8000/v1/predictions")
    with pytest.raises(UsageError, match="unknown venue override"):
        load_venue(p, timeout=3)
    with pytest.raises(UsageError, match=r"request_config\.retry_attempts"):
        load_venue(p, retry_attempts="many")
    with pytest.raises(UsageError, match="cannot read the venue file"):
        load_venue(tmp_path / "nope.yaml")


def test_a_live_venue_without_its_token_is_refused_at_construction(tmp_path, monkeypatch):
    monkeypatch.delenv("FUZZYVEC_API_TOKEN", raising=False)
    p = venue_yaml(tmp_path / "v.yaml", "http://127.0.0.1:8000/v1/predictions")
    with pytest.raises(UsageError, match="FUZZYVEC_API_TOKEN is not set"):
        PredictionClient.from_yaml(p)
    p.write_text(p.read_text().replace("enabled: true", "enabled: false"))
    with PredictionClient.from_yaml(p) as c:  # not live: no token needed, never asks
        a = c.predict("BTCUSDT", TS)
    assert a["signal"] == "neutral" and a["degraded"] and "disabled" in a["reason"] and c.stats["requests"] == 0


# ---------------------------------------------------------------------------------------------
# answers, retries, degradation
# ---------------------------------------------------------------------------------------------


def test_a_good_answer_is_returned_as_a_dict(venue, script):
    script.set("ok")
    with PredictionClient.from_yaml(venue) as c:
        a = c.predict("BTCUSDT", "2023-11-01 00:05")  # naive = UTC
    assert a == _answer({"symbol": "BTCUSDT", "timestamp": TS})
    assert script.auth == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("steps", [("500", "503", "ok"), ("429", "ok"), ("502", "ok")])
def test_5xx_and_429_are_retried_until_success(venue, script, steps):
    script.set(*steps)
    with PredictionClient.from_yaml(venue) as c:
        a = c.predict("BTCUSDT", TS)
    assert "degraded" not in a and a["signal"] == "long"
    assert script.hits == len(steps) == c.stats["requests"]


@pytest.mark.parametrize("step", ["400", "401", "404", "422"])
def test_other_4xx_are_never_retried(venue, script, step, caplog):
    script.set(step)
    with caplog.at_level(logging.WARNING, logger="fuzzyvec.live.client"), PredictionClient.from_yaml(venue) as c:
        a = c.predict("BTCUSDT", TS)
    assert script.hits == 1
    assert a["degraded"] and a["signal"] == "neutral" and a["confidence"] == 0.0 and a["stop_loss"] is None
    assert f"HTTP {step}: scripted {step}" in a["reason"] and a["reason"] in caplog.text
    assert TOKEN not in caplog.text


def test_persistent_5xx_degrade_after_the_attempts(venue, script):
    script.set("500")
    with PredictionClient.from_yaml(venue) as c:
        t0 = time.monotonic()
        a = c.predict("BTCUSDT", TS)
        took = time.monotonic() - t0
    assert a["degraded"] and "HTTP 500" in a["reason"] and "after 3 attempts" in a["reason"]
    assert script.hits == 3
    assert took >= 0.05 + 0.10  # the exponential backoff really waited: 0.05 s, then 0.10 s


@pytest.mark.parametrize("step, words", [
    ("malformed", "not JSON"), ("buy", "signal 'buy' is not one of validation.valid_signals"),
    ("other_bar", "not the BTCUSDT 2023-11-01T00:05:00Z asked for"), ("noconf", "no confidence"),
    ("wrong_stops", "wrong sides"),
])
def test_invalid_answers_degrade_without_retry(venue, script, step, words):
    script.set(step)
    with PredictionClient.from_yaml(venue) as c:
        a = c.predict("BTCUSDT", TS)
    assert a["degraded"] and a["signal"] == "neutral" and words in a["reason"], a["reason"]
    assert script.hits == 1


def test_validation_rules_of_the_venue(venue, script):
    text = venue.read_text()
    venue.write_text(text.replace('valid_signals: ["long", "short", "neutral"]', 'valid_signals: ["long", "neutral"]')
                     .replace("min_confidence: 0.0", "min_confidence: 0.5")
                     .replace("require_confidence_score: true", "require_confidence_score: false"))
    with PredictionClient.from_yaml(venue) as c:
        for step, ok in (("short", False), ("lowconf", False), ("ok", True), ("noconf", True)):
            script.set(step)
            a = c.predict("BTCUSDT", TS)
            assert ("degraded" not in a) is ok, (step, a)
        assert a["confidence"] == 1.0  # no score, not required: the signal stands on its own


def test_answers_are_cached_per_bar_for_the_ttl(venue, script):
    script.set("ok")
    with PredictionClient.from_yaml(venue, cache_ttl_seconds=0.3) as c:
        first = c.predict("BTCUSDT", TS)
        assert c.predict("BTCUSDT", "2023-11-01T00:05:00+00:00") == first and script.hits == 1
        c.predict("BTCUSDT", "2023-11-01T00:10:00Z")
        assert script.hits == 2 and c.stats["cache_hits"] == 1
        time.sleep(0.35)
        c.predict("BTCUSDT", TS)
        assert script.hits == 3
        script.set("404")  # failures are not cached
        c.predict("BTCUSDT", "2023-11-01T00:15:00Z")
        c.predict("BTCUSDT", "2023-11-01T00:15:00Z")
        assert script.hits == 2


def test_slow_answers_time_out_and_degrade(venue, script):
    script.set("slow")
    with PredictionClient.from_yaml(venue, retry_attempts=2) as c:
        t0 = time.monotonic()
        a = c.predict("BTCUSDT", TS)
        took = time.monotonic() - t0
    assert a["degraded"] and "timed out" in a["reason"] and script.hits == 2
    assert 2 * 0.5 <= took <= 2 * 0.5 + 0.05 + 0.6


def test_a_dead_server_costs_at_most_timeout_x_attempts_plus_backoff(tmp_path, monkeypatch):
    monkeypatch.setenv("FUZZYVEC_API_TOKEN", TOKEN)
    dead = venue_yaml(tmp_path / "dead.yaml", f"http://127.0.0.1:{free_port()}/v1/predictions",
                      timeout_seconds=0.5, retry_attempts=3, retry_backoff_seconds=0.05, cache_ttl_seconds=0)
    with PredictionClient.from_yaml(dead) as c:
        t0 = time.monotonic()
        a = c.predict("BTCUSDT", TS)
        took = time.monotonic() - t0
    assert a["degraded"] and "cannot connect" in a["reason"] and c.stats["requests"] == 3
    assert took <= 3 * 0.5 + (0.05 + 0.10) + 0.5


def test_a_server_that_accepts_and_never_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("FUZZYVEC_API_TOKEN", TOKEN)
    with socket.socket() as hung:  # listens (the kernel completes the handshake), never reads or answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        v = venue_yaml(tmp_path / "hung.yaml", f"http://127.0.0.1:{hung.getsockname()[1]}/v1/predictions",
                       timeout_seconds=0.3, retry_attempts=3, retry_backoff_seconds=0.05, cache_ttl_seconds=0)
        with PredictionClient.from_yaml(v) as c:
            t0 = time.monotonic()
            a = c.predict("BTCUSDT", TS)
            took = time.monotonic() - t0
    assert a["degraded"] and "timed out" in a["reason"] and c.stats["requests"] == 3
    assert 3 * 0.3 <= took <= 3 * 0.3 + (0.05 + 0.10) + 0.5


def test_a_bad_timestamp_is_a_caller_error(venue):
    from fuzzyvec.errors import DataError

    with PredictionClient.from_yaml(venue) as c, pytest.raises(DataError, match="timestamp"):
        c.predict("BTCUSDT", "not a time")


def test_importing_the_live_package_is_light():
    import subprocess
    import sys

    code = ("import sys, fuzzyvec.live as live; heavy = [m for m in ('fastapi', 'httpx', 'uvicorn', 'torch') "
            "if m in sys.modules]; assert not heavy, heavy; assert live.PredictionClient.__name__ == 'PredictionClient'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
