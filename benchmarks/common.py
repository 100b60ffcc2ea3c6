"""Shared helpers of the benchmark scripts: timing, tables, targets, the 1M-bar series.

Nothing here is a test: the benchmarks print timings and ratios measured in the same run
(SPEC §12). Each ``bench_*.py`` module has ``run(quick) -> SectionResult`` and a ``main()``
that prints its tables; ``run.py`` runs the sections in one process and adds the summary.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STRATEGY = ROOT / "strategies" / "v3_test_example.yaml"

#: repeats of every timing in full mode (best-of-N); --quick uses 1
FULL_REPEATS = 3


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], repeats: int, *, warmup: int = 1) -> float:
    """Best wall time in seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    The garbage collector is run before and disabled during each timed call.
    """
    for _ in range(warmup):
        fn()
    best = math.inf
    for _ in range(max(1, repeats)):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best


def repeats_for(quick: bool) -> int:
    return 1 if quick else FULL_REPEATS


_T0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress line on stderr with the seconds since start (the tables go to stdout)."""
    print(f"[bench {time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run_python(code: str, *, env: dict[str, str] | None = None, cwd: Path | str | None = None,
               args: Sequence[str] = (), timeout: float = 900) -> tuple[float, str]:
    """Run ``python -c code`` (or ``python args`` when ``code`` is empty) in a fresh process.

    Returns (wall seconds of the whole process, stdout). Raises ``RuntimeError`` with the
    output tail when the process fails.
    """
    cmd = [sys.executable, *args] if not code else [sys.executable, "-c", code, *args]
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONHASHSEED", "0")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited with {proc.returncode}:\n{tail}")
    return wall, proc.stdout


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    """``12.3 ms``, ``1.23 s``, ``456 µs``; ``—`` for None/NaN."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        ms = seconds * 1e3
        return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_ratio(x: float | None) -> str:
    """``0.85×``, ``12×``, ``1,234×``; ``—`` for None/NaN."""
    if x is None or not math.isfinite(x):
        return "—"
    if x >= 100:
        return f"{x:,.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:,.{digits}f}"


def fmt_sci(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return "0" if x == 0 else f"{x:.0e}"


def geomean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else math.nan


@dataclass
class Table:
    """A titled table of already formatted cells, printable as text or Markdown."""

    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(["" if c is None else str(c) for c in cells])

    def _aligns(self) -> list[str]:
        """Right-align columns whose cells look numeric, left-align the others."""
        out = []
        for j in range(len(self.headers)):
            cells = [r[j] for r in self.rows if j < len(r) and r[j] not in ("", "—")]
            numeric = bool(cells) and all(c[:1].isdigit() or c[:1] in "-+<>≤≥~" for c in cells)
            out.append("right" if numeric and j > 0 else "left")
        return out

    def text(self) -> str:
        widths = [len(h) for h in self.headers]
        for r in self.rows:
            for j, c in enumerate(r):
                widths[j] = max(widths[j], len(c))
        aligns = self._aligns()

        def line(cells: Sequence[str]) -> str:
            parts = [c.rjust(w) if a == "right" else c.ljust(w) for c, w, a in zip(cells, widths, aligns, strict=True)]
            return "  ".join(parts).rstrip()

        out = [f"== {self.title} ==", line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        aligns = self._aligns()

        def esc(c: str) -> str:
            return c.replace("|", "\\|")

        out = [f"#### {self.title}", "", "| " + " | ".join(esc(h) for h in self.headers) + " |",
               "|" + "|".join("---:" if a == "right" else "---" for a in aligns) + "|"]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)


@dataclass
class Target:
    """One target from the issues: ``measured`` (formatted) against ``goal``, met or not."""

    section: str
    name: str
    measured: str
    goal: str
    met: bool | None  # None: not measured in this run (e.g. skipped in --quick), or goal "info"


@dataclass
class SectionResult:
    name: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0

    def target(self, name: str, measured: str, goal: str, met: bool | None) -> None:
        self.targets.append(Target(self.name, name, measured, goal, met))


def summary_table(sections: Sequence[SectionResult], quick: bool) -> Table:
    t = Table("Summary: targets and key ratios (all measured in this run)", ["section", "target", "measured", "goal", "status"])
    for s in sections:
        for g in s.targets:
            if g.goal == "info":
                status = "—"
            else:
                status = "skipped" if g.met is None else ("met" if g.met else "MISSED")
            t.add(g.section, g.name, g.measured, g.goal, status)
    if quick:
        t.notes.append("--quick: tiny sizes and 1 repeat; the numbers only show the code paths run, "
                       "not the performance (run without --quick for the real figures)")
    return t


def environment_table() -> Table:
    import numba
    import polars

    t = Table("Environment", ["item", "value"])
    t.add("python", platform.python_version())
    t.add("machine", f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()}")
    t.add("numpy / numba / polars", f"{np.__version__} / {numba.__version__} / {polars.__version__}")
    for mod in ("pandas", "talib", "skfuzzy", "vectorbt", "backtesting", "torch"):
        try:
            m = __import__(mod)
            t.add(mod, getattr(m, "__version__", "?"))
        except ImportError:  # pragma: no cover - reported, not fatal
            t.add(mod, "not installed")
    return t


def render(sections: Sequence[SectionResult], *, quick: bool, with_summary: bool = True,
           env: bool = True) -> tuple[str, str]:
    """(plain text, Markdown) of every section's tables plus the summary."""
    tables: list[Table] = [environment_table()] if env else []
    for s in sections:
        tables += s.tables
    if with_summary:
        tables.append(summary_table(sections, quick))
    text = "\n\n".join(t.text() for t in tables)
    md = "\n\n".join(t.markdown() for t in tables)
    mode = "quick (smoke) mode" if quick else "full mode"
    took = ", ".join(f"{s.name} {s.seconds:.0f} s" for s in sections)
    md = f"### fuzzyvec benchmarks ({mode})\n\n_Sections: {took}._\n\n{md}\n"
    return text, md


def section_main(name: str, fn: Callable[[bool], SectionResult]) -> int:
    """``python benchmarks/bench_x.py [--quick] [--markdown PATH]``."""
    p = argparse.ArgumentParser(description=f"fuzzyvec benchmark section: {name}")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (CI smoke run)")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    args = p.parse_args()
    t0 = time.perf_counter()
    res = fn(args.quick)
    res.seconds = time.perf_counter() - t0
    text, md = render([res], quick=args.quick)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(md, encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def btc_5m_pl():
    """The bundled BTCUSDT 5m year as a polars frame (validated by fuzzyvec.load_ohlcv)."""
    import fuzzyvec as fv

    return fv.load_ohlcv(fv.sample_data_dir() / "BTCUSDT_5m.parquet", timeframe="5m")


def chained_bars(copies: int = 10, *, limit: int | None = None) -> dict[str, np.ndarray]:
    """~1M 5m bars: the bundled BTCUSDT year chained ``copies`` times with price continuity.

    Each copy is rescaled so its first open equals the previous copy's last close (OHLC
    multiplied by one factor, volume unchanged). ``limit`` keeps the first rows only.
    Returns float64 contiguous arrays ``open, high, low, close, volume``.
    """
    base = btc_5m_pl()
    cols = ("open", "high", "low", "close", "volume")
    src = {c: base[c].to_numpy().astype(np.float64) for c in cols}
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    prev_close = None
    for _ in range(copies):
        f = 1.0 if prev_close is None else prev_close / src["open"][0]
        for c in cols:
            parts[c].append(src[c] if c == "volume" else src[c] * f)
        prev_close = src["close"][-1] * f
    out = {c: np.ascontiguousarray(np.concatenate(parts[c])) for c in cols}
    if limit is not None:
        out = {c: np.ascontiguousarray(v[:limit]) for c, v in out.items()}
    return out


def realistic_probs(n: int, *, seed: int = 7, persistence: float = 0.97, scale: float = 0.9) -> np.ndarray:
    """Fixed pseudo-random class probabilities (BUY, HOLD, SELL) that look like a model's.

    Logits follow independent AR(1) processes (so views persist for a while, as a model's
    do on overlapping features) and go through a softmax; confidence is mostly 0.35..0.75.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, 3))
    a = persistence
    logits = scale * lfilter([math.sqrt(1 - a * a)], [1.0, -a], eps, axis=0)
    logits[:, 1] += 0.25  # HOLD a little more likely, as with zigzag labels
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
