"""The prediction service (SPEC §14) on a real uvicorn server on a loopback port: the contract,
request features equal to the batch features, new bars, growing files, and errors as answers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import polars as pl
import pytest

import fuzzyvec as fv
from fuzzyvec.backtest.predictions import predictions_from_probs
from fuzzyvec.live.service import create_app, load_service

from .conftest import REPO_ROOT, SAMPLE_DIR
from .live_helpers import TOKEN, example_bundle, thread_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def logs():
    logger = logging.getLogger("fuzzyvec.live")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def service():
    """The example bundle serving the bundled BTCUSDT 5m year (the default data)."""
    return load_service(example_bundle())


@pytest.fixture(scope="module")
def url(service, logs):
    with thread_server(create_app(service, token=TOKEN, poll_seconds=0)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def batch_rows(service):
    """What `record` computes on the whole year: the batch frame, probabilities, prediction rows."""
    spec = service.spec
    data = fv.load_strategy_data(spec)
    frame = fv.build_features(spec, data)
    probs = fv.predict_proba(service.bundle, frame)
    bars = data["BTCUSDT"]["5m"]
    return frame, predictions_from_probs(bars, probs)


def _ask(client, ts, symbol="BTCUSDT"):
    return client.post("/v1/predictions", json={"symbol": symbol, "timestamp": ts}, headers=AUTH)


def test_the_answer_is_the_record_row(client, service, batch_rows):
    _, rows = batch_rows
    picks = rows.gather(np.linspace(30_000, rows.height - 1, 25).astype(int))
    for want in picks.iter_rows(named=True):
        r = _ask(client, want["timestamp"].isoformat().replace("+00:00", "Z"))
        assert r.status_code == 200, r.text
        got = r.json()
        assert set(got) == {"symbol", "timestamp", "signal", "confidence", "stop_loss", "take_profit",
                            "model_version"}
        assert got["symbol"] == "BTCUSDT" and got["timestamp"] == want["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert got["signal"] == want["signal"]
        assert got["stop_loss"] == want["stop_loss"] and got["take_profit"] == want["take_profit"]
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-12)
        assert got["model_version"] == service.model_version
    assert (picks["signal"] != "neutral").all()  # real rows with stops, not warm-up


def test_request_features_equal_the_batch_features(service, batch_rows):
    frame, _ = batch_rows
    names = list(fv.resolve_features(service.spec).names)
    batch = frame.select(names).to_numpy()
    view = service.series["BTCUSDT"].view
    lf = service.features
    assert lf.base_bars < len(view) // 4  # the windows really are windows
    for j in np.linspace(lf.base_bars, len(view) - 1, 12).astype(int):
        row = lf.features("BTCUSDT", view, int(j)).select(names).tail(1).to_numpy()[0]
        np.testing.assert_allclose(row, batch[j], rtol=1e-9, atol=1e-12)
    assert service.calibration["converged"] and service.calibration["checked"] == 3
    assert service.calibration["max_difference"] < 1e-9


def test_a_request_reads_the_same_window_on_any_history(service, monkeypatch):
    """Cost independent of history length: the bars one request reads do not grow with it."""
    from fuzzyvec.live.store import BarsView

    read: list[int] = []
    orig = BarsView.frame

    def spy(self, start, stop):
        read.append(stop - max(0, start))
        return orig(self, start, stop)

    monkeypatch.setattr(BarsView, "frame", spy)
    view = service.series["BTCUSDT"].view
    short = BarsView(view.ts[:30_000], {c: v[:30_000] for c, v in view.values.items()})
    for v in (short, view):
        read.clear()
        service.features.probabilities("BTCUSDT", v, len(v) - 1)
        assert read == [service.features.base_bars]


def test_healthz_names_the_model_and_the_last_bar(client, service):
    r = client.get("/healthz")  # no token needed
    assert r.status_code == 200
    h = r.json()
    assert h["model_version"] == service.model_version and h["status"] == "ok"
    view = service.series["BTCUSDT"].view
    assert h["last_bar"] == {"BTCUSDT": view.time(len(view) - 1).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert h["bars"] == {"BTCUSDT": len(view)}
    assert h["window_bars"] == service.features.base_bars


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}])
def test_missing_or_wrong_token_is_401(client, headers):
    r = client.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": "2023-11-01T00:05:00Z"},
                    headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["detail"]
    r = client.put("/v1/bars/BTCUSDT", json={"bars": []}, headers=headers)
    assert r.status_code == 401


BAD_BODIES = [
    (b"{not json", 422, "JSON"),
    (b"[1, 2]", 422, "body"),
    (b'{"symbol": "BTCUSDT"}', 422, "timestamp"),
    (b'{"symbol": "BTCUSDT", "timestamp": "yesterday"}', 422, "timestamp"),
    (b'{"symbol": "BTCUSDT", "timestamp": "2023-11-01T00:05:00Z", "extra": 1}', 422, "extra"),
    (b'{"symbol": "BTC USDT", "timestamp": "2023-11-01T00:05:00Z"}', 422, "symbol"),
    (b'{"symbol": 5, "timestamp": "2023-11-01T00:05:00Z"}', 422, "symbol"),
    (b'{"symbol": "BTCUSDT", "timestamp": "2023-11-01T00:03:00Z"}', 422, "not the open time of a 5m bar"),
    (b'{"symbol": "ETHUSDT", "timestamp": "2023-11-01T00:05:00Z"}', 404, "unknown symbol"),
    (b'{"symbol": "BTCUSDT", "timestamp": "2030-01-01T00:00:00Z"}', 404, "yet"),
    (b'{"symbol": "BTCUSDT", "timestamp": "2022-01-01T00:00:00Z"}', 404, "no BTCUSDT bar opens"),
    (b'{"symbol": "BTCUSDT", "timestamp": "2023-01-01T00:00:00Z"}', 404, "first BTCUSDT bar"),
    (b"\xff\xfe\x00garbage", 422, ""),
    (b"", 422, ""),
]


def test_bad_input_gets_answers_and_the_server_stays_healthy(client, logs):
    before = len(logs.records)
    for body, status, word in BAD_BODIES:
        r = client.post("/v1/predictions", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == status, (body, r.text)
        assert word in r.json()["detail"], (body, r.text)
        assert client.get("/healthz").status_code == 200
    r = client.put("/v1/bars/BTCUSDT", content=b'{"bars": [{"timestamp": "x"}]}', headers=AUTH)
    assert r.status_code == 422
    r = client.put("/v1/bars/NOPE", json={"bars": [{"timestamp": "2024-01-01T00:00:00Z", "open": 1, "high": 1,
                                                   "low": 1, "close": 1, "volume": 1}]}, headers=AUTH)
    assert r.status_code == 404
    big = b'{"symbol": "BTCUSDT", "timestamp": "' + b"1" * (1 << 20) + b'"}'
    r = client.post("/v1/predictions", content=big, headers=AUTH)
    assert r.status_code == 413 and "1,048,576" in r.json()["detail"]
    assert client.get("/healthz").status_code == 200
    new = logs.records[before:]
    assert not [r for r in new if r.exc_info or r.levelno >= logging.ERROR], "tracebacks or errors were logged"


def test_access_log_one_line_per_request_without_the_token(client, logs):
    before = len(logs.records)
    _ask(client, "2023-11-01T00:05:00Z")
    client.post("/v1/predictions", json={"symbol": "BTCUSDT"}, headers=AUTH)
    client.get("/healthz")
    lines = [r.getMessage() for r in logs.records[before:] if r.name == "fuzzyvec.live.access"]
    assert len(lines) == 3
    recs = [json.loads(x) for x in lines]
    assert [r["status"] for r in recs] == [200, 422, 200]
    assert recs[0]["symbol"] == "BTCUSDT" and recs[0]["path"] == "/v1/predictions"
    assert all(isinstance(r["latency_ms"], float) and r["latency_ms"] > 0 for r in recs)
    assert not any(TOKEN in x for x in lines)


def _bar(ts: str, o: float, h: float, lo: float, c: float, v: float = 1.0) -> dict:
    return {"timestamp": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v}


def test_put_bars_appends_all_or_nothing_and_new_bars_are_answered(client, service):
    n0 = len(service.series["BTCUSDT"])
    # a batch with one bad bar in the middle changes nothing
    bad = [_bar("2023-12-31T00:00:00Z", 42000, 42100, 41900, 42050),
           _bar("2023-12-31T00:05:00Z", 42050, 42000, 41900, 42060),  # high < close
           _bar("2023-12-31T00:10:00Z", 42060, 42200, 42000, 42100)]
    r = client.put("/v1/bars/BTCUSDT", json={"bars": bad}, headers=AUTH)
    assert r.status_code == 422 and "high < max(open, close)" in r.json()["detail"] and "row 1" in r.json()["detail"]
    assert len(service.series["BTCUSDT"]) == n0
    for batch, word in ((
            [_bar("2023-12-31T00:01:00Z", 42000, 42100, 41900, 42050)], "grid"),
            ([_bar("2023-12-31T00:00:00Z", 42000, 42100, 41900, 42050, float("nan"))], "NaN"),
            ([_bar("2023-12-31T00:05:00Z", 1, 2, 1, 1), _bar("2023-12-31T00:00:00Z", 1, 2, 1, 1)], "not increasing"),
            ([_bar("2023-12-30T23:55:00Z", 1, 2, 1, 1)], "differs from the stored bar")):
        r = client.put("/v1/bars/BTCUSDT", content=json.dumps({"bars": batch}), headers=AUTH)
        assert r.status_code == 422 and word in r.json()["detail"], r.text
    assert len(service.series["BTCUSDT"]) == n0
    # not yet there: 404; then uploaded: answered with the stops from its open
    assert _ask(client, "2023-12-31T00:05:00Z").status_code == 404
    good = [_bar("2023-12-31T00:00:00Z", 42000, 42100, 41900, 42050),
            _bar("2023-12-31T00:05:00Z", 42050, 42150, 42000, 42060)]
    r = client.put("/v1/bars/BTCUSDT", json={"bars": good}, headers=AUTH)
    assert r.status_code == 200 and r.json()["appended"] == 2 and r.json()["bars"] == n0 + 2
    r = client.put("/v1/bars/BTCUSDT", json={"bars": good}, headers=AUTH)  # a re-sent batch is harmless
    assert r.json()["appended"] == 0 and r.json()["skipped"] == 2
    got = _ask(client, "2023-12-31T00:05:00Z").json()
    # the batch (record) computation on the extended bars gives the same row
    view = service.series["BTCUSDT"].view
    bars = view.frame(0, len(view))
    frame = fv.build_features(service.spec, {"BTCUSDT": {"5m": bars, "1h": fv.resample(bars, "1h")}})
    want = predictions_from_probs(bars, fv.predict_proba(service.bundle, frame)).row(-1, named=True)
    assert got["signal"] == want["signal"] and got["stop_loss"] == want["stop_loss"]
    assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-12)
    if got["signal"] == "long":
        assert got["stop_loss"] == pytest.approx(42050 * 0.98) and got["take_profit"] == pytest.approx(42050 * 1.04)
    elif got["signal"] == "short":
        assert got["stop_loss"] == pytest.approx(42050 * 1.02) and got["take_profit"] == pytest.approx(42050 * 0.96)


def test_growing_files_are_picked_up(tmp_path):
    """A --data file that grows: the poller appends its new rows; a request for a bar not yet
    stored also looks once."""
    year = pl.read_parquet(SAMPLE_DIR / "BTCUSDT_5m.parquet")
    path = tmp_path / "BTCUSDT_5m.csv"
    year.head(3_000).write_csv(path)
    svc = load_service(example_bundle(), data_dir=tmp_path, calibrate=False)
    assert len(svc.series["BTCUSDT"]) == 3_000
    t_new = year["timestamp"][3_001].strftime("%Y-%m-%dT%H:%M:%SZ")
    with thread_server(create_app(svc, token=TOKEN, poll_seconds=0.1)) as base, httpx.Client(base_url=base) as c:
        assert _ask(c, t_new).status_code == 404
        tmp = tmp_path / "next.csv"
        year.head(3_010).write_csv(tmp)
        os.replace(tmp, path)
        deadline = time.monotonic() + 10
        while c.get("/healthz").json()["bars"]["BTCUSDT"] != 3_010:
            assert time.monotonic() < deadline, "the grown file was not picked up"
            time.sleep(0.05)
        assert _ask(c, t_new).status_code == 200
    # no poller: the request for the missing bar looks at the file itself
    svc2 = load_service(example_bundle(), data_dir=tmp_path, calibrate=False)
    year.head(3_020).write_csv(path)
    with thread_server(create_app(svc2, token=TOKEN, poll_seconds=0)) as base, httpx.Client(base_url=base) as c:
        r = _ask(c, year["timestamp"][3_015].strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert r.status_code == 200 and len(svc2.series["BTCUSDT"]) == 3_020
    # a file rewritten with a different past is refused: nothing changes
    changed = year.head(3_030).with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.col("close") * 1.0001)
                                            .otherwise(pl.col("close")).alias("close"))
    changed.write_csv(path)
    assert svc2.refresh() == 0 and len(svc2.series["BTCUSDT"]) == 3_020


def test_serve_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FUZZYVEC_API_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "serve", str(example_bundle())], cwd=REPO_ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "FUZZYVEC_API_TOKEN is not set" in r.stderr and "Traceback" not in r.stderr
    venue = tmp_path / "venue.yaml"
    venue.write_text('venue_name: v\nvenue_type: api\nendpoints: {predictions: "http://127.0.0.1:9/v1/predictions"}\n'
                     'auth: {type: bearer_token, token_env_var: MY_SERVICE_TOKEN}\n')
    r = subprocess.run([sys.executable, "-m", "fuzzyvec.run", "serve", str(example_bundle()), "--config", str(venue)],
                       cwd=REPO_ROOT, env={**env, "FUZZYVEC_API_TOKEN": TOKEN}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "MY_SERVICE_TOKEN is not set" in r.stderr and "Traceback" not in r.stderr


def test_a_cumulative_indicator_cannot_be_windowed_so_requests_read_the_whole_history(caplog):
    """OBV's level depends on where the data starts: no window agrees with the batch, and the
    service falls back to the whole history (correct, and said in the log)."""
    import yaml

    from fuzzyvec.live.features import LiveFeatures
    from fuzzyvec.live.store import BarSeries

    from .conftest import STRATEGIES_DIR

    raw = yaml.safe_load((STRATEGIES_DIR / "v3_e2e_test.yaml").read_text())
    raw["indicators"]["obv_x"] = {"type": "obv"}
    raw["nn_inputs"].append({"raw_indicator": "obv_x", "timeframes": "all", "normalization": "zscore"})
    spec = fv.load_strategy(raw, warn=False)
    bars = fv.load_ohlcv(SAMPLE_DIR / "EURUSD_1h.parquet")
    view = BarSeries("EURUSD", "1h", bars).view
    lf = LiveFeatures(spec, bundle=None)
    with caplog.at_level(logging.WARNING, logger="fuzzyvec.live"):
        cal = lf.calibrate("EURUSD", view)
    assert not cal["converged"] and lf.whole_history and cal["max_difference"] > 1e-3
    assert "window_not_converged" in caplog.text
    batch = fv.build_features(spec, bars)
    row = lf.features("EURUSD", view, len(view) - 1).tail(1)
    assert row.select(batch.columns[1:]).equals(batch.tail(1).select(batch.columns[1:]))
    # the example strategy's recursive indicators do converge: its default windows pass unchanged
    ex = LiveFeatures(fv.load_strategy(REPO_ROOT / "strategies" / "v3_test_example.yaml", warn=False), bundle=None)
    assert ex.windows == {"5m": 1000, "1h": 1700}
