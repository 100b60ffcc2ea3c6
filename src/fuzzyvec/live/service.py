"""The prediction service (SPEC §14): a FastAPI app that answers, for one bar, the row that
``record`` writes for it.

Endpoints (models in :mod:`fuzzyvec.live.schemas`):

- ``POST /v1/predictions`` ``{"symbol": "BTCUSDT", "timestamp": "2023-11-01T00:05:00Z"}`` →
  ``{symbol, timestamp, signal, confidence, stop_loss, take_profit, model_version}``;
- ``PUT /v1/bars/{symbol}`` ``{"bars": [{timestamp, open, high, low, close, volume}, ...]}``
  appends completed bars (:mod:`fuzzyvec.live.store`);
- ``GET /healthz`` → model version, last bar and bar count per symbol (no token needed).

``/v1/`` needs ``Authorization: Bearer <token>`` (compared in constant time).

What a request's ``timestamp`` means
------------------------------------
``timestamp`` is the open time ``T`` of the bar the answer **applies to** — the bar whose open
a signal acts at, exactly as the ``timestamp`` of a SPEC §8 prediction-file row; the response
repeats it. The answer is the row :func:`~fuzzyvec.backtest.predictions.predictions_from_probs`
gives that bar: with ``i`` the stored bar opening at ``T``,

- ``signal`` and ``confidence`` come from the class probabilities of bar ``i - 1`` (the
  previous stored bar, complete by ``T`` when the bars are contiguous), computed from its
  completed features: bars ``i - 1`` and earlier (higher timeframes: bars complete by the
  close of bar ``i - 1``);
- ``stop_loss`` / ``take_profit`` are ``open_i · (1 ∓ stop_loss)`` / ``open_i · (1 ± take_profit)``
  (``--stop-loss`` / ``--take-profit`` fractions, mirrored for shorts): the open of bar ``i``.

Nothing else of bar ``i`` (its high, low, close, volume) and nothing later enters the answer,
so there is no look-ahead. Because the stops need bar ``i``'s open, the service answers ``T``
once bar ``i`` is stored — as a completed bar, the only kind the service takes — and says 404
before that. ``T`` must be on the series' time grid (422 otherwise) and a stored bar (404 for
a gap or the very first bar, which has no previous bar). A live caller therefore asks, after
bar ``T`` has completed and been uploaded, for ``T``; a replay asks for every bar in order.
This is what makes ``paper`` equal to ``record`` row for row.

Errors are JSON answers ``{"detail": "..."}``, never tracebacks: 401 missing or wrong token,
413 a body over 1 MiB, 422 a malformed body or timestamp, 404 an unknown symbol or a bar the
service does not have. Every request is logged as one JSON line (status, latency, symbol —
never the token) on the ``fuzzyvec.live.access`` logger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..data.bars import load_ohlcv
from ..errors import DataError, UsageError
from .features import LiveFeatures
from .schemas import BarsAccepted, BarsUpload, Health, Prediction, PredictionRequest, iso_z
from .store import BarSeries, json_line

__all__ = ["MAX_BODY_BYTES", "PredictionService", "ServiceError", "create_app", "load_service"]

log = logging.getLogger("fuzzyvec.live")
access_log = logging.getLogger("fuzzyvec.live.access")

#: request bodies above this are answered 413
MAX_BODY_BYTES = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ServiceError(Exception):
    """A request the service answers with an error status (``status``, ``detail``)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _model_version(bundle: Any) -> str:
    """``{strategy}/{run_id}@{sha256 of the weights, 8 hex}`` (``{strategy}@...`` unsaved)."""
    h = hashlib.sha256()
    for k in sorted(bundle.state_dict):
        h.update(k.encode())
        h.update(bundle.state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    name = bundle.metadata.get("name") or bundle.metadata.get("strategy", {}).get("name", "model")
    run = f"/{Path(bundle.path).name}" if bundle.path is not None else ""
    return f"{name}{run}@{h.hexdigest()[:8]}"


class PredictionService:
    """Everything a request needs: the bundle, the strategy, one bar series per symbol.

    Parameters
    ----------
    bundle:
        The loaded :class:`~fuzzyvec.model.bundle.ModelBundle`.
    spec:
        Its strategy (:func:`strategy_of`); its features must be the bundle's.
    series:
        ``{symbol: BarSeries}`` of base-timeframe bars.
    stop_loss, take_profit:
        Fractions of the bar's open, as ``record --stop-loss/--take-profit``.
    calibrate:
        Check (and if need be widen) the feature windows against the batch features of the
        longest series (:meth:`LiveFeatures.calibrate`).
    workers:
        Requests computing features at once (default: the number of CPUs); others wait.
    """

    def __init__(self, bundle: Any, spec: Any, series: Mapping[str, BarSeries], *, stop_loss: float = 0.02,
                 take_profit: float = 0.04, calibrate: bool = True, workers: int | None = None) -> None:
        for key, v in (("stop_loss", stop_loss), ("take_profit", take_profit)):
            if not 0.0 < v < 1.0:
                raise UsageError(f"--{key.replace('_', '-')}: expected a fraction in (0, 1), got {v!r}")
        if not series:
            raise DataError("no bars to serve")
        self.bundle = bundle
        self.spec = spec
        self.series = dict(series)
        self.stop_loss = float(stop_loss)
        self.take_profit = float(take_profit)
        self.model_version = _model_version(bundle)
        self.features = LiveFeatures(spec, bundle)
        self.calibration: dict[str, Any] = {}
        if calibrate:
            sym = max(self.series, key=lambda s: len(self.series[s]))
            self.calibration = self.features.calibrate(sym, self.series[sym].view)
        # feature computation is CPU-bound and partly holds the GIL: more at once than there are
        # cores only thrash (8 concurrent clients on 2 cores: +30 % throughput, p99 / 3 with this)
        self._compute = threading.Semaphore(max(1, workers or os.cpu_count() or 1))
        self.started = time.monotonic()

    def _series(self, symbol: str) -> BarSeries:
        s = self.series.get(symbol)
        if s is None:
            raise ServiceError(404, f"unknown symbol {symbol!r}: this service serves {', '.join(self.series)}")
        return s

    def predict(self, symbol: str, timestamp: datetime) -> dict[str, Any]:
        """The prediction row of the bar opening at ``timestamp`` (see the module docs)."""
        from ..backtest.predictions import predictions_from_probs

        series = self._series(symbol)
        timestamp = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
        t = (timestamp - _EPOCH) // timedelta(microseconds=1)
        view = series.view
        if (t - int(view.ts[0])) % series.step_us:
            raise ServiceError(422, f"timestamp {iso_z(timestamp)} is not the open time of a {series.timeframe} "
                                    f"bar of {symbol} (bars open at {iso_z(view.time(0))} + multiples of "
                                    f"{series.timeframe})")
        i = int(np.searchsorted(view.ts, t))
        if i == len(view):
            series.refresh()  # a growing file may already hold it
            view = series.view
            i = int(np.searchsorted(view.ts, t))
        if i == len(view):
            raise ServiceError(404, f"no {symbol} bar opening at {iso_z(timestamp)} yet: the last bar opens at "
                                    f"{iso_z(view.time(len(view) - 1))}; the row of a bar is answered once that "
                                    f"bar is in (its stops are measured from its open)")
        if int(view.ts[i]) != t:
            raise ServiceError(404, f"no {symbol} bar opens at {iso_z(timestamp)} (a gap in the bars, or before "
                                    f"the first bar {iso_z(view.time(0))})")
        if i == 0:
            raise ServiceError(404, f"{iso_z(timestamp)} is the first {symbol} bar: a row comes from the previous "
                                    "bar's features, and there is none")
        with self._compute:
            probs = self.features.probabilities(symbol, view, i - 1)
        pair = np.vstack([probs, np.full(3, np.nan)])
        row = predictions_from_probs(view.frame(i - 1, i + 1), pair, stop_loss=self.stop_loss,
                                     take_profit=self.take_profit).row(0, named=True)
        return {"symbol": symbol, "timestamp": timestamp, "signal": row["signal"],
                "confidence": float(row["confidence"]), "stop_loss": row["stop_loss"],
                "take_profit": row["take_profit"], "model_version": self.model_version}

    def put_bars(self, symbol: str, upload: BarsUpload) -> dict[str, Any]:
        """Append completed bars to a symbol's series (all or nothing)."""
        series = self._series(symbol)
        frame = pl.DataFrame({
            "timestamp": pl.Series([b.timestamp for b in upload.bars], dtype=pl.Datetime("us", "UTC")),
            **{c: pl.Series([getattr(b, c) for b in upload.bars], dtype=pl.Float64)
               for c in ("open", "high", "low", "close", "volume")},
        })
        try:
            appended, skipped = series.append(frame, where=f"PUT /v1/bars/{symbol}")
        except DataError as exc:
            raise ServiceError(422, str(exc)) from None
        view = series.view
        return {"symbol": symbol, "appended": appended, "skipped": skipped, "bars": len(view),
                "last_bar": view.time(len(view) - 1)}

    def health(self) -> dict[str, Any]:
        views = {s: ser.view for s, ser in self.series.items()}
        return {"status": "ok", "model_version": self.model_version, "strategy": self.spec.name,
                "base_timeframe": self.spec.base_timeframe,
                "last_bar": {s: v.time(len(v) - 1) for s, v in views.items()},
                "bars": {s: len(v) for s, v in views.items()},
                "window_bars": max(len(v) for v in views.values()) if self.features.whole_history
                else self.features.base_bars,
                "uptime_seconds": round(time.monotonic() - self.started, 3)}

    def refresh(self) -> int:
        """Pick up new rows of the source files; returns the bars appended."""
        return sum(s.refresh() for s in self.series.values())


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def strategy_of(bundle: Any) -> Any:
    """The strategy stored in a bundle's metadata, validated (its features must be the bundle's);
    a bundle without one is a :class:`~fuzzyvec.errors.DataError` here (bad input of ``serve``)."""
    from ..errors import BundleError
    from ..research.pipeline import bundle_strategy

    try:
        return bundle_strategy(bundle)
    except BundleError as exc:
        raise DataError(str(exc)) from None


def load_service(bundle: str | Path | Any, *, data_dir: str | Path | None = None, bars: str | Path | None = None,
                 symbol: str | None = None, stop_loss: float = 0.02, take_profit: float = 0.04,
                 calibrate: bool = True) -> PredictionService:
    """Load a bundle (once, with :func:`fuzzyvec.model.bundle.load_bundle`) and its bars.

    Parameters
    ----------
    bundle:
        A bundle folder (or an already loaded bundle).
    data_dir:
        Folder of ``{SYMBOL}_{base timeframe}.{parquet|csv}`` files, one per strategy symbol
        (default: the strategy's ``data.dir``, else the bundled sample data).
    bars:
        Instead, one bar file for ``symbol`` (default: the strategy's first symbol).
    stop_loss, take_profit, calibrate:
        See :class:`PredictionService`.

    Higher timeframes are always derived from the base bars, the only source that new bars
    keep up to date; a higher-timeframe file in the folder is not read (a warning says so).
    The strategy's ``training_data`` dates do not cut the served bars.
    """
    from ..model.bundle import load_bundle

    if bars is not None and data_dir is not None:
        raise UsageError("give --data DIR or --bars FILE, not both")
    b = load_bundle(bundle) if isinstance(bundle, str | os.PathLike) else bundle
    spec = strategy_of(b)
    base = spec.base_timeframe
    files: dict[str, Path] = {}
    if bars is not None:
        sym = symbol or spec.symbols[0]
        files[sym] = Path(bars)
    else:
        if symbol is not None:
            raise UsageError("--symbol goes with --bars FILE (with --data every strategy symbol is served)")
        from ..data.files import data_folder, find_bars_file

        folder = data_folder(spec, data_dir)
        for sym in spec.symbols:
            path = find_bars_file(folder, sym, base, spec.data.format)
            if path is None:
                raise DataError(f"no {base} bars for {sym}: expected {folder / f'{sym}_{base}'}."
                                f"{spec.data.format or 'parquet|csv'}; pass --data DIR or --bars FILE")
            files[sym] = path
            for tf in spec.timeframes:
                other = find_bars_file(folder, sym, tf, spec.data.format) if tf != base else None
                if other is not None and spec.data.resample_from is None:
                    log.warning(json_line(event="file_not_used", file=str(other),
                                          reason=f"the service derives {tf} bars from the {base} bars (as "
                                                 f"data.resample_from: {base} does); record and backtest on this "
                                                 "folder read this file instead"))
    series = {sym: BarSeries(sym, base, load_ohlcv(p, timeframe=base), source=p) for sym, p in files.items()}
    return PredictionService(b, spec, series, stop_loss=stop_loss, take_profit=take_profit, calibrate=calibrate)


# ---------------------------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------------------------


class _Guard:
    """Outermost ASGI layer: bearer token, body limit, one access-log line per request, and no
    traceback ever reaching a client (an unexpected error is a logged 500)."""

    def __init__(self, app: Any, *, token: str, max_body: int) -> None:
        self.app = app
        self.token = token.encode()
        self.max_body = max_body

    @staticmethod
    async def _reply(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *headers]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _drain(receive: Any, limit: int = 64 << 20) -> None:
        seen = 0
        while seen <= limit:
            msg = await receive()
            seen += len(msg.get("body", b""))
            if msg["type"] != "http.request" or not msg.get("more_body"):
                return

    def _authorised(self, headers: Mapping[bytes, bytes]) -> bool:
        scheme, _, cred = headers.get(b"authorization", b"").partition(b" ")
        return hmac.compare_digest(cred.strip(), self.token) and scheme.lower() == b"bearer"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        state = scope.setdefault("state", {})
        sent = {"status": None}

        async def send_(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                sent["status"] = msg["status"]
            await send(msg)

        headers = dict(scope.get("headers") or ())
        try:
            if scope["path"].startswith("/v1/") and not self._authorised(headers):
                await self._drain(receive)
                await self._reply(send_, 401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                                  [(b"www-authenticate", b"Bearer")])
                return
            declared = headers.get(b"content-length", b"0")
            too_big = not declared.isdigit() or int(declared) > self.max_body
            chunks: list[bytes] = []
            if not too_big:
                size, more = 0, True
                while more:
                    msg = await receive()
                    if msg["type"] != "http.request":
                        return  # the client went away
                    chunks.append(msg.get("body", b""))
                    size += len(chunks[-1])
                    more = msg.get("more_body", False)
                    if size > self.max_body:
                        too_big = True
                        if more:
                            await self._drain(receive)
                        break
            else:
                await self._drain(receive)
            if too_big:
                await self._reply(send_, 413, f"request body over {self.max_body:,} bytes")
                return
            body = b"".join(chunks)
            if scope["path"].startswith("/v1/"):  # the API speaks JSON only (curl -d sends form type)
                scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers") or () if k != b"content-type"]
                         + [(b"content-type", b"application/json")]}
            done = False

            async def replay() -> Any:
                nonlocal done
                if not done:
                    done = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_)
        except Exception as exc:  # a bug, not bad input: log it once, answer 500
            log.error(json_line(event="internal_error", method=scope.get("method"), path=scope.get("path"),
                                error=f"{type(exc).__name__}: {exc}"), exc_info=True)
            if sent["status"] is None:
                await self._reply(send_, 500, f"internal error ({type(exc).__name__}); see the service log")
        finally:
            path = scope.get("path", "")
            symbol = state.get("symbol") or (path.rsplit("/", 1)[-1] if path.startswith("/v1/bars/") else None)
            access_log.info(json_line(
                event="access", time=datetime.now(UTC).isoformat(timespec="milliseconds"),
                method=scope.get("method"), path=path, status=sent["status"],
                latency_ms=round((time.perf_counter() - t0) * 1e3, 3), symbol=symbol))


def create_app(service: PredictionService, *, token: str, max_body: int = MAX_BODY_BYTES,
               poll_seconds: float = 1.0) -> FastAPI:
    """The ASGI app of the service (run it with uvicorn).

    Parameters
    ----------
    service:
        The loaded :class:`PredictionService`.
    token:
        The bearer token every ``/v1/`` request must carry.
    max_body:
        Larger request bodies are answered 413.
    poll_seconds:
        How often the source files are checked for new rows (0: never in the background;
        a request for a bar not yet stored still checks once).
    """
    from .. import __version__

    if not token:
        raise UsageError("the service needs a non-empty bearer token")

    @asynccontextmanager
    async def lifespan(app: Any):
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(poll_seconds):
                try:
                    service.refresh()
                except Exception as exc:  # keep polling; say why once per failure
                    log.error(json_line(event="refresh_failed", error=f"{type(exc).__name__}: {exc}"))

        thread = threading.Thread(target=poll, name="fuzzyvec-file-poll", daemon=True) if poll_seconds > 0 else None
        if thread is not None:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=5)

    app = FastAPI(title="fuzzyvec prediction service", version=__version__, lifespan=lifespan,
                  description="SPEC §14: the prediction row of a bar, as `record` writes it.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:10]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        return JSONResponse(status_code=422, content={"detail": "; ".join(parts)})

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": exc.detail})

    @app.post("/v1/predictions", response_model=Prediction)
    def post_prediction(body: PredictionRequest, request: Request) -> dict[str, Any]:
        request.state.symbol = body.symbol
        return service.predict(body.symbol, body.timestamp)

    @app.put("/v1/bars/{symbol}", response_model=BarsAccepted)
    def put_bars(symbol: str, body: BarsUpload, request: Request) -> dict[str, Any]:
        request.state.symbol = symbol
        return service.put_bars(symbol, body)

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, Any]:
        return service.health()

    app.add_middleware(_Guard, token=token, max_body=max_body)
    return app
