"""Stage 8, live: the HTTP prediction service (FastAPI), its client (httpx) and paper replay
(SPEC section 14).

- :mod:`~fuzzyvec.live.schemas`: the pydantic request and response models (the wire format);
- :mod:`~fuzzyvec.live.store`: append-only bar series (uploads, growing files);
- :mod:`~fuzzyvec.live.features`: the features of one bar from its warm-up window only;
- :mod:`~fuzzyvec.live.service`: the FastAPI app (``serve``);
- :mod:`~fuzzyvec.live.client`: :class:`PredictionClient` and the venue file;
- :mod:`~fuzzyvec.live.paper`: replay through the client, then the SPEC §8 backtest (``paper``).

Importing this package is light: the names below load their module on first use.

May import: every stage before it and the shared helpers.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PredictionClient": "client",
    "VenueConfig": "client",
    "load_venue": "client",
    "PredictionService": "service",
    "create_app": "service",
    "load_service": "service",
    "LiveFeatures": "features",
    "BarSeries": "store",
    "PaperResult": "paper",
    "paper_trade": "paper",
    "write_paper": "paper",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fuzzyvec.live' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
