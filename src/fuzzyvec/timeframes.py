"""Timeframe strings (``5m``, ``1h``, ``1d``, ``1w``) and their durations."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_timeframe", "parse_timeframe", "timeframe_seconds", "timeframe_to_polars"]

_TF_RE = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timeframe(tf: str) -> timedelta:
    """Return the duration of a timeframe string such as ``"5m"`` or ``"4h"``.

    Raises
    ------
    ValueError
        If the string is not ``N`` followed by one of ``m``, ``h``, ``d``, ``w``.
    """
    return timedelta(seconds=timeframe_seconds(tf))


def timeframe_seconds(tf: str) -> int:
    """Duration of a timeframe string in seconds."""
    m = _TF_RE.match(str(tf))
    if m is None:
        raise ValueError(
            f"invalid timeframe {tf!r}: expected a positive integer followed by m, h, d or w "
            "(for example 5m, 1h, 4h, 1d, 1w)"
        )
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def timeframe_to_polars(tf: str) -> str:
    """The polars duration string for a timeframe (polars uses the same m/h/d/w units)."""
    timeframe_seconds(tf)  # validates
    return tf


def format_timeframe(seconds: int) -> str:
    """The timeframe string of a duration (``300`` -> ``"5m"``), or ``"{n}s"`` if none fits."""
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds > 0 and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
