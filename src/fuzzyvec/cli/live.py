"""``serve`` and ``paper``: the live prediction service and paper replay through it (SPEC §14)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import UsageError
from .common import OK

__all__ = ["cmd_paper", "cmd_serve", "register"]

DEFAULT_TOKEN_VAR = "FUZZYVEC_API_TOKEN"


def _log_to_stderr() -> None:
    """JSON lines of the ``fuzzyvec.live`` loggers (access log included) on stderr."""
    logger = logging.getLogger("fuzzyvec.live")
    if not any(getattr(h, "_fuzzyvec", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._fuzzyvec = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only for such sockets;
    # without it every keep-alive answer waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(service: Any, url: str, var: str) -> None:
    h, cal = service.health(), service.calibration
    print(f"serving {h['model_version']} on {url} (POST /v1/predictions, PUT /v1/bars/SYMBOL, GET /healthz; "
          f"token from {var})", flush=True)
    for sym, n in h["bars"].items():
        print(f"  {sym}: {n:,} {h['base_timeframe']} bars, last opens {h['last_bar'][sym].isoformat()}", flush=True)
    if cal:
        print(f"  features from the last {h['window_bars']:,} {h['base_timeframe']} bars per request (windows "
              f"{cal['windows']}; checked against the batch features on {cal['checked']} bars, max difference "
              f"{cal['max_difference']:.1e})", flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    """Load a bundle once and serve its predictions over HTTP until interrupted."""
    var, host, port = DEFAULT_TOKEN_VAR, args.host, args.port
    if args.config:
        from ..live.client import load_venue

        venue = load_venue(args.config)
        var = venue.auth.token_env_var
        url = urlsplit(venue.endpoints.predictions)
        host = host or url.hostname
        port = port if port is not None else url.port
    host, port = host or "127.0.0.1", 8000 if port is None else port
    token = os.environ.get(var, "")
    if not token.strip():
        raise UsageError(f"{var} is not set: serve needs a bearer token; export {var}=<token> "
                         "(clients send it as Authorization: Bearer <token>)")
    import torch
    import uvicorn

    from ..live.service import create_app, load_service

    torch.set_num_threads(1)  # one small forward pass per request: threads only contend
    _log_to_stderr()
    service = load_service(args.bundle, data_dir=args.data, bars=args.bars, symbol=args.symbol,
                           stop_loss=args.stop_loss, take_profit=args.take_profit)
    app = create_app(service, token=token.strip(), poll_seconds=args.poll_seconds)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    if not args.quiet:
        _banner(service, f"http://{host}:{port}", var)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return OK


def cmd_paper(args: argparse.Namespace) -> int:
    """Replay bars through the prediction client, write predictions.csv and backtest it."""
    from ..data.bars import load_ohlcv
    from ..live.client import PredictionClient
    from ..live.paper import paper_trade, write_paper
    from .train import print_stats

    logging.getLogger("fuzzyvec.live.client").setLevel(logging.WARNING)
    client = PredictionClient.from_yaml(args.api)
    bars = load_ohlcv(args.bars)
    with client:
        if not args.quiet and not args.json:
            health = client.health()
            if health is not None:
                print(f"service {client.endpoint}: {health.get('model_version')}, last bar "
                      f"{(health.get('last_bar') or {}).get(args.symbol, '?')}")
        result = paper_trade(client, bars, symbol=args.symbol, start=args.start, end=args.end,
                             signal_threshold=args.signal_threshold, init_cash=args.init_cash, fees=args.fees,
                             slippage=args.slippage, quiet=args.quiet or args.json)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = write_paper(result, Path(args.out) if args.out else Path("runs") / "paper" / f"{args.symbol}-{stamp}")
    out = {**result.to_json(), "out": str(folder)}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return OK
    s = result.summary
    print(f"paper {args.symbol}: {s['bars']:,} bars replayed ({s['start']} .. {s['end']}), {s['http_requests']:,} "
          f"HTTP requests, {s['degraded']:,} degraded to neutral"
          + (f" ({'; '.join(f'{k} x{v}' for k, v in s['degraded_reasons'].items())})" if s["degraded"] else ""))
    print_stats({args.symbol: out})
    print(f"wrote {folder}/ (predictions.csv, metrics.json, trades.csv, equity.csv, report.html)")
    return OK


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return v


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return int(text)


def register(sub: Any) -> None:
    """Add this group's sub-commands to the ``python -m fuzzyvec.run`` parser."""
    p = sub.add_parser("serve", help="serve a bundle's predictions over HTTP (SPEC section 14)",
                       description="POST /v1/predictions answers the prediction-file row of a bar, exactly as "
                                   "`record` writes it; PUT /v1/bars/SYMBOL appends completed bars; GET /healthz. "
                                   f"The bearer token comes from ${DEFAULT_TOKEN_VAR} (or the variable named by "
                                   "--config's auth.token_env_var).")
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder from `train`")
    p.add_argument("--data", metavar="DIR", help="folder of {SYMBOL}_{base timeframe}.parquet|csv files, one per "
                   "strategy symbol (default: the strategy's data.dir, else the bundled sample data); files that "
                   "grow are picked up")
    p.add_argument("--bars", metavar="FILE", help="instead of --data: one bar file, served as --symbol")
    p.add_argument("--symbol", help="the symbol of --bars (default: the strategy's first symbol)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, or --config's endpoint host)")
    p.add_argument("--port", type=_port, help="port (default 8000, or --config's endpoint port; 0 = any free)")
    p.add_argument("--stop-loss", type=_fraction, default=0.02, metavar="X",
                   help="stop distance, fraction of the bar's open (0.02, as record)")
    p.add_argument("--take-profit", type=_fraction, default=0.04, metavar="X",
                   help="target distance, fraction of the bar's open (0.04, as record)")
    p.add_argument("--config", metavar="VENUE.yaml", help="a venue file: its auth.token_env_var names the token "
                   "variable and its endpoint gives the default host and port")
    p.add_argument("--poll-seconds", type=float, default=1.0, metavar="S",
                   help="how often data files are checked for new bars (default 1; 0 = only when asked for a "
                        "bar not yet stored)")
    p.add_argument("--quiet", action="store_true", help="no start-up banner (the access log stays on)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("paper", help="replay bars through the prediction service and backtest the answers",
                       description="One request per completed bar, in order, through the venue's client "
                                   "(retries, validation, neutral on failure); writes predictions.csv (SPEC "
                                   "section 8) and backtests it like `predictions`.")
    p.add_argument("--api", required=True, metavar="VENUE.yaml", help="the venue file of the service")
    p.add_argument("--bars", required=True, metavar="FILE", help="the bars to replay (.csv or .parquet)")
    p.add_argument("--symbol", required=True, help="the symbol to ask the service for")
    p.add_argument("--start", metavar="DATE", help="first bar to replay (open time, UTC; default the file's second bar)")
    p.add_argument("--end", metavar="DATE", help="last bar to replay, inclusive (default the file's last bar)")
    p.add_argument("--out", metavar="DIR", help="output folder (new; default runs/paper/{SYMBOL}-{timestamp})")
    p.add_argument("--signal-threshold", type=float, default=0.65, metavar="X",
                   help="minimum confidence for a signal to act (default 0.65, as `predictions`)")
    p.add_argument("--init-cash", type=float, default=10_000.0, metavar="X", help="starting equity (default 10000)")
    p.add_argument("--fees", type=float, default=0.0, metavar="F", help="fee per side, fraction (default 0)")
    p.add_argument("--slippage", type=float, default=0.0, metavar="S", help="adverse fill fraction (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_paper)
