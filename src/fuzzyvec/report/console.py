"""Terminal output through rich: tables and progress bars.

Colours and progress bars only on a terminal: off when the stream is not a TTY, when
``NO_COLOR`` is set (https://no-color.org), and after :func:`set_quiet` (``--quiet``).
``--json`` output never comes through here.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["format_stat", "format_table", "format_value", "make_console", "print_table", "progress", "set_quiet",
           "stat_rows"]

_QUIET = False
_WIDE = 10_000  # off a terminal a table keeps its natural width instead of wrapping at 80 columns


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no colours and no progress bars for the rest of the process."""
    global _QUIET
    _QUIET = bool(quiet)


def _is_tty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def make_console(file: TextIO | None = None) -> Console:
    """A rich console on ``file`` (default stdout) that colours only a terminal."""
    stream = file or sys.stdout
    tty = _is_tty(stream)
    plain = _QUIET or not tty or "NO_COLOR" in os.environ
    return Console(file=stream, no_color=plain, color_system=None if plain else "auto",
                   force_terminal=tty and not plain, highlight=False, soft_wrap=False,
                   width=None if tty else _WIDE, emoji=False)


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


#: stats shown as percentages (fractions in metrics.json and --json), by key or key suffix
PERCENT_SUFFIXES = ("total_return", "cagr", "max_drawdown", "win_rate", "exposure", "buy_and_hold_return")
#: stats in the quote currency: two decimals with thousands separators
MONEY_KEYS = ("final_equity", "init_cash", "fees_paid", "expectancy")
#: counts
COUNT_KEYS = ("trades", "bars", "fold", "rank", "trial", "combination", "max_drawdown_duration_bars")


def format_stat(key: str, value: Any) -> Any:
    """A statistic as the console shows it, by its key: fractions of returns, drawdowns, win rates
    and exposure as ``12.34 %``, money with two decimals, counts as integers, p-values and ratios
    (Sharpe, profit factor, dsr...) with three decimals, times to the minute, None and NaN as ``-``.

    Other values (strings, grid values) come back unchanged.
    """
    if value is None:
        return "off" if key in ("sl_stop", "tp_stop", "sl_trail") else "-"
    if isinstance(value, str) and key.endswith(("start", "end")):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if value != value:
        return "-"
    if key.endswith(PERCENT_SUFFIXES):
        return f"{100.0 * value:,.2f} %"
    if key in COUNT_KEYS or isinstance(value, int):
        return f"{int(value):,}" if float(value).is_integer() else format_value(value)
    if key in MONEY_KEYS:
        return f"{value:,.2f}"
    if key == "percentile":
        return f"{value:.0f}"
    if key in ("sharpe", "sortino", "calmar", "profit_factor", "dsr", "objective", "p_value") or key.startswith(
            ("oos_", "p_value")):
        return f"{value:,.3f}"
    return value


def stat_rows(rows: Iterable[Sequence[Any]], keys: Sequence[str]) -> list[list[Any]]:
    """Rows with every cell formatted by :func:`format_stat` under its column's key."""
    return [[format_stat(k, v) for k, v in zip(keys, r, strict=True)] for r in rows]


# formatted numbers, percentages, "-" and durations ("51 days, 3:20:00") align like numbers
_NUMBER_TEXT = re.compile(r"^[+-]?[\d,]*\.?\d+( %)?$|^-$|^(\d+ days?, )?\d+:\d\d:\d\d$")


def _numeric(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int | float) or (isinstance(v, str) and bool(_NUMBER_TEXT.match(v)))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None, title: str | None) -> Table:
    width = max([len(headers or ())] + [len(r) for r in rows])
    def filled(r: Sequence[Any], i: int) -> bool:
        return i < len(r) and r[i] is not None and r[i] != ""

    # a column is numeric when every filled cell is a number (blank cells do not count)
    numeric = [all(_numeric(r[i]) for r in rows if filled(r, i))
               and any(filled(r, i) and r[i] != "-" for r in rows) for i in range(width)]
    table = Table(box=box.SIMPLE_HEAD, show_header=bool(headers), title=title, title_justify="left",
                  pad_edge=False, padding=(0, 1, 0, 0), header_style="bold", show_edge=False)
    names = list(headers or [""] * width) + [""] * (width - len(headers or ()))
    for name, num in zip(names, numeric, strict=True):
        table.add_column(str(name), justify="right" if num else "left", no_wrap=True, overflow="fold")
    for r in rows:
        table.add_row(*[format_value(c) for c in r], *[""] * (width - len(r)))
    return table


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None, *,
                 indent: str = "  ", title: str | None = None) -> str:
    """The table as plain text (no colours): numbers right-aligned, a rule under the headers."""
    if not rows and not headers:
        return ""
    buf = io.StringIO()
    Console(file=buf, no_color=True, color_system=None, width=_WIDE, highlight=False, emoji=False).print(
        _table(rows, headers, title))
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(indent + line if line else line for line in lines)


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None, *,
                title: str | None = None, file: TextIO | None = None) -> None:
    """Print a table through rich (bold headers on a terminal, plain text otherwise)."""
    stream = file or sys.stdout
    if not _is_tty(stream) or _QUIET or "NO_COLOR" in os.environ:
        text = format_table(rows, headers, title=title)
        if text:
            print(text, file=stream)
        return
    make_console(stream).print(_table(rows, headers, title))


class _Progress:
    """A rich progress bar with the small tqdm-like surface the commands use."""

    def __init__(self, iterable: Iterable[Any] | None, total: int | None, desc: str, unit: str,
                 stream: TextIO, enabled: bool) -> None:
        self._iterable = iterable
        self._bar = None
        self._task = None
        self._postfix = ""
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn(unit), TimeElapsedColumn(), TextColumn("{task.fields[post]}"),
                             console=make_console(stream), transient=True)
        self._task = self._bar.add_task(desc, total=total, post="")
        self._bar.start()

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def set_postfix(self, values: dict[str, Any], refresh: bool = True) -> None:
        if self._bar is not None:
            self._bar.update(self._task, post=" ".join(f"{k}={v}" for k, v in values.items()), refresh=refresh)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __iter__(self) -> Iterator[Any]:
        for item in self._iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, unit: str = "it", file: TextIO | None = None) -> _Progress:
    """A rich progress bar on a terminal (stderr); a silent pass-through otherwise or when quiet.

    The returned object has ``update(n)``, ``set_postfix(dict)``, ``close()`` and iterates
    over ``iterable`` when one is given.
    """
    stream = file or sys.stderr
    enabled = not (quiet or _QUIET) and _is_tty(stream)
    return _Progress(iterable, total, desc, unit, stream, enabled)
