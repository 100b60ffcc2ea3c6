"""Shared fixtures: the bundled real sample data as polars frames and numpy arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "src" / "fuzzyvec" / "sample_data"
REPO_ROOT = Path(__file__).resolve().parents[1]
STRATEGIES_DIR = REPO_ROOT / "strategies"

os.environ.setdefault("FUZZYVEC_TEST", "1")


def _read(name: str) -> pl.DataFrame:
    return pl.read_parquet(SAMPLE_DIR / f"{name}.parquet")


def _arrays(df: pl.DataFrame) -> dict[str, np.ndarray]:
    return {c: df[c].to_numpy().astype(np.float64) for c in ("open", "high", "low", "close", "volume")}


@pytest.fixture(scope="session")
def eurusd_1h() -> pl.DataFrame:
    """All 6,225 EURUSD 1h bars of 2017 (bundled)."""
    return _read("EURUSD_1h")


@pytest.fixture(scope="session")
def btc_5m() -> pl.DataFrame:
    """All 104,816 BTCUSDT 5m bars of 2023 (bundled)."""
    return _read("BTCUSDT_5m")


@pytest.fixture(scope="session")
def eth_5m() -> pl.DataFrame:
    """ETHUSDT 5m bars of 2023-Q1 (bundled)."""
    return _read("ETHUSDT_5m")


@pytest.fixture(scope="session")
def eurusd_arrays(eurusd_1h) -> dict[str, np.ndarray]:
    """EURUSD 1h as float64 numpy arrays keyed open/high/low/close/volume."""
    return _arrays(eurusd_1h)


@pytest.fixture(scope="session")
def btc_arrays(btc_5m) -> dict[str, np.ndarray]:
    """BTCUSDT 5m (first 20,000 bars, including no halt) as float64 numpy arrays."""
    return _arrays(btc_5m.head(20_000))
