"""Terminal output: plain-text tables and progress bars that stay quiet off a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["format_table", "format_value", "progress"]


def format_value(v: Any) -> str:
    """Numbers with sensible precision; everything else via ``str``."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if v != v:  # NaN
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e7:
            return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e4 else f"{v:,.2f}"
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return str(v)


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None, *, indent: str = "  ") -> str:
    """A left-aligned text table (numbers right-aligned)."""
    cells = [[format_value(c) for c in r] for r in rows]
    if headers:
        cells = [list(headers), *cells]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(len(r) for r in cells))]
    numeric = [
        all(isinstance(r[i], int | float) and not isinstance(r[i], bool) for r in rows if i < len(r))
        for i in range(len(widths))
    ]
    lines = []
    for j, r in enumerate(cells):
        parts = []
        for i, c in enumerate(r):
            right = numeric[i] and not (headers and j == 0)
            parts.append(c.rjust(widths[i]) if right else c.ljust(widths[i]))
        lines.append(indent + "  ".join(parts).rstrip())
        if headers and j == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, unit: str = "it", file: TextIO | None = None):
    """A tqdm progress bar on a terminal; a silent pass-through otherwise or when ``quiet``."""
    stream = file or sys.stderr
    disable = quiet or not getattr(stream, "isatty", lambda: False)()
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=disable, unit=unit, file=stream,
                dynamic_ncols=True, leave=False)
