"""Helpers of the live-mode tests: free loopback ports, servers in threads or subprocesses, and
one tiny trained bundle shared by the test modules of a session."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .conftest import REPO_ROOT, STRATEGIES_DIR

EXAMPLE = STRATEGIES_DIR / "v3_test_example.yaml"  # two timeframes: 5m + 1h (resampled)
TOKEN = "test-token-1234"
_CACHE: dict[str, Path] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def example_bundle() -> Path:
    """The example strategy trained for 1 epoch on three weeks of March 2023 (once per session)."""
    if "example" not in _CACHE:
        import fuzzyvec as fv
        from fuzzyvec.research.pipeline import fit_and_save

        root = Path(tempfile.mkdtemp(prefix="fuzzyvec-live-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        spec = fv.load_strategy(EXAMPLE, warn=False)
        data = fv.load_strategy_data(spec, start="2023-03-01", end="2023-03-21")
        _CACHE["example"] = fit_and_save(spec, data, models_dir=root, epochs=1).path
    return _CACHE["example"]


def wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None,
                 log: Path | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {log.read_text() if log else ''}")
        try:
            r = httpx.get(f"{url}/healthz", timeout=1.0)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy within {timeout} s")


@contextmanager
def thread_server(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_subprocess(*args: str, logs: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m fuzzyvec.run serve ...`` as a user starts it; yields its base URL. Its stdout
    and stderr go to ``logs / "serve.out"`` and ``logs / "serve.err"``."""
    port = free_port()
    full_env = {**os.environ, "FUZZYVEC_API_TOKEN": TOKEN, "PYTHONWARNINGS": "ignore::DeprecationWarning",
                **(env or {})}
    with open(logs / "serve.out", "w") as out, open(logs / "serve.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fuzzyvec.run", "serve", *args, "--port", str(port)],
                                cwd=REPO_ROOT, env=full_env, stdout=out, stderr=err, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc, log=logs / "serve.err")
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def venue_yaml(path: Path, endpoint: str, **request_config: Any) -> Path:
    """The venue format of the issue, pointed at ``endpoint`` (request_config values overridable)."""
    rc = {"timeout_seconds": 30, "retry_attempts": 3, "retry_backoff_seconds": 5, "cache_ttl_seconds": 300,
          **request_config}
    path.write_text(
        'venue_name: "ml_inference_api"\n'
        'venue_type: "api"\n'
        "enabled: true\n"
        f'endpoints: {{predictions: "{endpoint}"}}\n'
        'auth: {type: "bearer_token", token_env_var: "FUZZYVEC_API_TOKEN"}\n'
        "request_config: {" + ", ".join(f"{k}: {v}" for k, v in rc.items()) + "}\n"
        'validation: {require_confidence_score: true, min_confidence: 0.0, valid_signals: ["long", "short", "neutral"]}\n',
        encoding="utf-8")
    return path
