"""Live benchmarks: the prediction service (``python -m fuzzyvec.run serve``) over HTTP.

- Request latency, p50 / p99 over 1,000 sequential requests (one keep-alive httpx client,
  distinct bars, so every request computes its features), on histories of ~25,000 bars (just
  above one request window), the bundled BTCUSDT 5m year (104,816 bars) and ten chained copies
  of it (1,048,160 bars): a request reads the same window whatever the history.
- Throughput with 8 concurrent clients (threads, one connection each) on the year.
- The same sequential requests through ``fuzzyvec.live.PredictionClient`` (validation and
  tenacity included, cache off).

The server is a real ``serve`` process on a loopback port, started as a user starts it; on this
2-core machine it shares the cores with the clients. The model is the example strategy
trained for 1 epoch (the network's size, not its quality, is what costs time).

Run: ``python benchmarks/bench_live.py [--quick] [--markdown PATH]``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    STRATEGY,
    SectionResult,
    Table,
    btc_5m_pl,
    chained_bars,
    fmt_num,
    fmt_time,
    log,
)

NAME = "live"
TOKEN = "bench-token"
REQUESTS = 1_000  # sequential requests per history (full mode)
QUICK_REQUESTS = 40
CONCURRENCY = 8
P50_GOAL, P99_GOAL = 0.020, 0.060


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(folder: Path) -> Path:
    import fuzzyvec as fv
    from fuzzyvec.research.pipeline import fit_and_save

    spec = fv.load_strategy(STRATEGY, warn=False)
    data = fv.load_strategy_data(spec, start="2023-03-01", end="2023-03-21")
    return fit_and_save(spec, data, models_dir=folder, epochs=1).path


def _histories(folder: Path, quick: bool) -> dict[str, Path]:
    import polars as pl

    year = btc_5m_pl()
    out = {}
    if not quick:
        out["25,000 bars"] = folder / "h25k.parquet"
        year.tail(25_000).write_parquet(out["25,000 bars"])
    out["BTC year (104,816 bars)"] = folder / "year.parquet"
    year.write_parquet(out["BTC year (104,816 bars)"])
    if not quick:
        arr = chained_bars(10)
        n = len(arr["open"])
        start = np.datetime64("2014-01-01T00:00:00", "us")
        ts = pl.Series("timestamp", start + np.arange(n) * np.timedelta64(5, "m")).dt.replace_time_zone("UTC")
        big = pl.DataFrame({"timestamp": ts, **{c: arr[c] for c in ("open", "high", "low", "close", "volume")}})
        out["10 × year (1,048,160 bars)"] = folder / "big.parquet"
        big.write_parquet(out["10 × year (1,048,160 bars)"])
    return out


class _Server:
    def __init__(self, bundle: Path, bars: Path, logs: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "FUZZYVEC_API_TOKEN": TOKEN, "PYTHONWARNINGS": "ignore"}
        self._err = open(logs, "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "fuzzyvec.run", "serve", str(bundle), "--bars", str(bars),
                                      "--symbol", "BTCUSDT", "--port", str(self.port), "--poll-seconds", "0"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._err)
        import httpx

        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {Path(logs).read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        self.startup = time.perf_counter() - t0
        self.health = httpx.get(f"{self.url}/healthz").json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._err.close()


def _stamps(bars: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct bar open times from the last half of the history."""
    import polars as pl

    ts = pl.read_parquet(bars, columns=["timestamp"])["timestamp"]
    rng = np.random.default_rng(seed)
    idx = rng.choice(np.arange(ts.len() // 2, ts.len()), size=min(n, ts.len() // 2), replace=False)
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts.gather(np.sort(idx)).to_list()]


def _sequential(url: str, stamps: list[str]) -> np.ndarray:
    import httpx

    lat = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        for _ in range(5):  # warm the connection and the server
            c.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": stamps[0]})
        for ts in stamps:
            t0 = time.perf_counter()
            r = c.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": ts})
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"{ts}: HTTP {r.status_code} {r.text}")
    return np.array(lat)


def _concurrent(url: str, stamps: list[str], clients: int) -> tuple[float, np.ndarray]:
    import httpx

    parts = [stamps[i::clients] for i in range(clients)]
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
            c.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": parts[k][0]})
            barrier.wait()
            for ts in parts[k]:
                t0 = time.perf_counter()
                r = c.post("/v1/predictions", json={"symbol": "BTCUSDT", "timestamp": ts})
                lat[k].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests: {errors[:3]}")
    return len(stamps) / wall, np.concatenate([np.array(x) for x in lat])


def _through_client(url: str, stamps: list[str]) -> np.ndarray:
    from fuzzyvec.live.client import PredictionClient, VenueConfig

    venue = VenueConfig.model_validate({
        "venue_name": "bench", "venue_type": "api", "endpoints": {"predictions": f"{url}/v1/predictions"},
        "request_config": {"timeout_seconds": 30, "retry_attempts": 3, "retry_backoff_seconds": 1,
                           "cache_ttl_seconds": 0}})
    lat = []
    with PredictionClient(venue, token=TOKEN) as c:
        c.predict("BTCUSDT", stamps[0])
        for ts in stamps:
            t0 = time.perf_counter()
            a = c.predict("BTCUSDT", ts)
            lat.append(time.perf_counter() - t0)
            if a.get("degraded"):
                raise RuntimeError(f"degraded answer: {a['reason']}")
    return np.array(lat)


def _pct(lat: np.ndarray, q: float) -> float:
    return float(np.percentile(lat, q))


def run(quick: bool = False) -> SectionResult:
    res = SectionResult(NAME)
    n_req = QUICK_REQUESTS if quick else REQUESTS
    tmp = Path(tempfile.mkdtemp(prefix="fuzzyvec-bench-live-"))
    try:
        log("live: training the example bundle (1 epoch)")
        bundle = _train(tmp / "models")
        hist = _histories(tmp, quick)
        lat_t = Table(f"Prediction service: {n_req:,} sequential requests per history (HTTP, keep-alive, "
                      "distinct bars)", ["history", "window (bars)", "start-up", "p50", "p99", "mean", "max"])
        year_key = "BTC year (104,816 bars)"
        p50s: dict[str, float] = {}
        for label, path in hist.items():
            log(f"live: serve on {label}")
            srv = _Server(bundle, path, tmp / f"serve-{path.stem}.log")
            try:
                stamps = _stamps(path, n_req)
                lat = _sequential(srv.url, stamps)
                p50s[label] = _pct(lat, 50)
                lat_t.add(label, fmt_num(int(srv.health["window_bars"])), fmt_time(srv.startup),
                          fmt_time(_pct(lat, 50)), fmt_time(_pct(lat, 99)), fmt_time(float(lat.mean())),
                          fmt_time(float(lat.max())))
                if label == year_key:
                    res.target("request latency p50 (BTC year, sequential)", fmt_time(_pct(lat, 50)),
                               f"≤ {fmt_time(P50_GOAL)}", _pct(lat, 50) <= P50_GOAL)
                    res.target("request latency p99 (BTC year, sequential)", fmt_time(_pct(lat, 99)),
                               f"≤ {fmt_time(P99_GOAL)}", _pct(lat, 99) <= P99_GOAL)
                    log(f"live: {CONCURRENCY} concurrent clients")
                    rate, clat = _concurrent(srv.url, _stamps(path, n_req, seed=1), CONCURRENCY)
                    lc = _through_client(srv.url, _stamps(path, min(n_req, 300), seed=2))
            finally:
                srv.stop()
        lat_t.notes.append("latency measured in the client around each request (JSON encode, HTTP, server, "
                           "decode); server and client share the 2 cores")
        lat_t.notes.append("window: base bars one request reads (the longest warm-up window: 1,700 1h bars for "
                           "MACD/RSI, as 5m bars); features from it equal the batch features (max relative "
                           "difference ~1e-15) and the answers equal `record`'s rows")
        res.tables.append(lat_t)
        con_t = Table(f"Prediction service: throughput, BTC year, {CONCURRENCY} concurrent clients",
                      ["clients", "requests", "throughput", "p50", "p99"])
        con_t.add(str(CONCURRENCY), fmt_num(len(clat)), f"{rate:,.0f} req/s", fmt_time(_pct(clat, 50)),
                  fmt_time(_pct(clat, 99)))
        con_t.add("1 (PredictionClient, cache off)", fmt_num(len(lc)), f"{1 / lc.mean():,.0f} req/s",
                  fmt_time(_pct(lc, 50)), fmt_time(_pct(lc, 99)))
        con_t.notes.append("one server process; requests compute in its thread pool (numba kernels hold the "
                           "GIL, so 2 cores bound the throughput)")
        res.tables.append(con_t)
        res.target("throughput, 8 concurrent clients (BTC year)", f"{rate:,.0f} req/s", "info", None)
        if len(p50s) > 1:
            first, last = next(iter(p50s)), list(p50s)[-1]
            res.target("p50 on 10 × year / p50 on 25,000 bars (history independence)",
                       f"{p50s[last] / p50s[first]:.2f}×", "info", None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


if __name__ == "__main__":
    from common import section_main

    sys.exit(section_main(NAME, run))
