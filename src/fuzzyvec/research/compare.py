"""The model-swap gate (SPEC §15): backtest two bundles on one out-of-sample window and compare.

:func:`compare_bundles` loads both bundles, rebuilds each one's strategy from its metadata
(the strategy as trained, so a bundle is judged with its own decisions and costs), loads the
bars and runs :func:`fuzzyvec.research.pipeline.evaluate` on the same window: the bundles'
common test split by default, or ``start`` .. ``end``. Each side is placed beside random
entries with its own activity (:func:`fuzzyvec.backtest.baselines.baselines_from_result`), so the
table shows whether either model beats chance. The gate passes when the new model's total
return is at least the old one's minus ``tolerance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .pipeline import bundle_strategy

__all__ = ["COMPARE_KEYS", "CompareResult", "Side", "compare_bundles"]

#: per-symbol metrics of each side (the stats keys of :data:`fuzzyvec.backtest.engine.STAT_KEYS`)
COMPARE_KEYS = ("total_return", "sharpe", "max_drawdown", "trades", "exposure", "final_equity", "init_cash")


@dataclass(frozen=True)
class Side:
    """One bundle's backtest on the comparison window.

    Attributes
    ----------
    bundle:
        The bundle folder.
    strategy:
        The strategy name stored in the bundle.
    start, end:
        The first and last backtested bar.
    total_return:
        Of all symbols together: ``sum(final_equity) / sum(init_cash) - 1`` (the symbol's own
        total return for one symbol) — the number the gate compares.
    symbols:
        ``{symbol: {key: value}}`` over :data:`COMPARE_KEYS`, plus ``p_value`` and
        ``percentile`` of the total return among random entries with the same activity
        (None when not computed).
    """

    bundle: str
    strategy: str
    start: str
    end: str
    total_return: float
    symbols: Mapping[str, Mapping[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "strategy": self.strategy, "start": self.start, "end": self.end,
                "total_return": self.total_return, "symbols": {s: dict(m) for s, m in self.symbols.items()}}


@dataclass(frozen=True)
class CompareResult:
    """What :func:`compare_bundles` returns.

    Attributes
    ----------
    new, old:
        The two sides.
    start, end:
        The backtested window (first and last bar, as in the stats).
    window:
        Where the window came from: ``"test split"`` or ``"--start/--end"``.
    tolerance:
        How much worse NEW may be.
    passed:
        ``new.total_return >= old.total_return - tolerance``.
    n_random:
        Random-entry series per side and symbol (0: no p-values).
    warnings:
        Things to know (a window overlapping a bundle's training data, a side with 0 trades).
    """

    new: Side
    old: Side
    start: str
    end: str
    window: str
    tolerance: float
    passed: bool
    n_random: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def difference(self) -> float:
        """``new.total_return - old.total_return``."""
        return self.new.total_return - self.old.total_return

    @property
    def exit_code(self) -> int:
        """0 when the gate passes, 1 when NEW is worse."""
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "exit_code": self.exit_code, "difference": self.difference,
                "tolerance": self.tolerance, "window": {"start": self.start, "end": self.end, "source": self.window},
                "n_random": self.n_random, "new": self.new.to_json(), "old": self.old.to_json(),
                "warnings": list(self.warnings)}


def _test_range(bundle: Any, label: str) -> tuple[str, str]:
    rng = (bundle.metadata.get("date_ranges") or {}).get("test") or {}
    if not rng.get("start") or not rng.get("end"):
        raise BundleError(f"{label} bundle {bundle.path}: no test split date range in its metadata; "
                          "pass --start and --end")
    return str(rng["start"]), str(rng["end"])


def _overlap_warning(bundle: Any, label: str, start: Any) -> str | None:
    """A warning when the window starts before the end of the bundle's validation split."""
    from ..data.bars import to_utc_datetime

    seen = (bundle.metadata.get("date_ranges") or {}).get("validation", {}).get("end")
    if not seen:
        return None
    if start is None or to_utc_datetime(start, what="start") <= to_utc_datetime(seen, what="end"):
        return (f"the window starts {'at the first bar' if start is None else start}, before the end of {label}'s "
                f"validation data ({seen}): it is not out-of-sample for {label}")
    return None


def _side(path: Path, label: str, bundle: Any, spec: Any, *, start: Any, end: Any, data_dir: Any, n_random: int,
          seed: int, warnings: list[str]) -> Side:
    from ..data.files import load_strategy_data
    from .pipeline import evaluate

    data = load_strategy_data(spec, data_dir=data_dir, end=end)
    ev = evaluate(spec, bundle, data, start=start, end=end)
    stats = ev.backtest.metrics()
    randoms: dict[str, Any] = {}
    if n_random > 0:
        from ..backtest.baselines import baselines_from_result

        randoms = baselines_from_result(ev.backtest, ev.bars, n_random=n_random, seed=seed,
                                        timeframe=spec.base_timeframe)
    symbols = {}
    for sym, m in stats.items():
        row = {k: m.get(k) for k in COMPARE_KEYS}
        r = randoms.get(sym)
        row["p_value"] = r.random["p_value"]["total_return"] if r is not None else None
        row["percentile"] = r.random["percentile"]["total_return"] if r is not None else None
        symbols[sym] = row
        if not m.get("trades"):
            warnings.append(f"{label} ({path}) made 0 trades on {sym} in the window")
    total = (sum(float(m["final_equity"]) for m in symbols.values())
             / sum(float(m["init_cash"]) for m in symbols.values()) - 1)
    first = next(iter(stats.values()))
    return Side(bundle=str(path), strategy=spec.name, start=str(first["start"]), end=str(first["end"]),
                total_return=total, symbols=symbols)


def compare_bundles(new: str | Path, old: str | Path, *, start: Any = None, end: Any = None, data_dir: Any = None,
                    tolerance: float = 0.0, n_random: int = 1000, seed: int = 0) -> CompareResult:
    """Backtest two bundles on the same out-of-sample window; NEW passes if it returns at least OLD's.

    Parameters
    ----------
    new, old:
        Bundle folders (from ``train``). Each is backtested with the strategy stored in it.
    start, end:
        The window (UTC, ``end`` inclusive). Default: the bundles' test split
        (``metadata["date_ranges"]["test"]``), which must be the same for both. Given either,
        the window is ``start`` .. ``end`` (a missing one: the first / last bar of the data).
    data_dir:
        Folder of bar files for both (default: each strategy's ``data.dir``, else the bundled
        sample data).
    tolerance:
        NEW passes when ``new_return >= old_return - tolerance`` (total returns as fractions).
    n_random:
        Random-entry series per side and symbol for the p-values (0: none).
    seed:
        Seed of the random entries.

    Returns
    -------
    CompareResult

    Raises
    ------
    BundleError
        A missing or broken bundle; bundles that trade different symbols; test splits that
        differ (with neither ``start`` nor ``end`` given).
    DataError
        Missing bars, or fewer than 2 bars in the window.
    """
    from ..model.bundle import load_bundle

    new_path, old_path = Path(new), Path(old)
    bundles = {"NEW": load_bundle(new_path), "OLD": load_bundle(old_path)}
    specs = {label: bundle_strategy(b) for label, b in bundles.items()}
    if set(specs["NEW"].symbols) != set(specs["OLD"].symbols):
        raise BundleError(f"the bundles trade different symbols (NEW: {', '.join(specs['NEW'].symbols)}; OLD: "
                          f"{', '.join(specs['OLD'].symbols)}); compare models of the same symbols")
    warnings: list[str] = []
    if start is None and end is None:
        ra, rb = _test_range(bundles["NEW"], "NEW"), _test_range(bundles["OLD"], "OLD")
        if ra != rb:
            raise BundleError(f"the bundles' test periods differ (NEW {new_path}: {ra[0]} .. {ra[1]}; OLD {old_path}: "
                              f"{rb[0]} .. {rb[1]}): no common out-of-sample window; pass --start and --end")
        start, end = ra
        source = "test split"
    else:
        source = "--start/--end"
    sides = []
    for path, label in ((new_path, "NEW"), (old_path, "OLD")):
        if source != "test split":
            w = _overlap_warning(bundles[label], label, start)
            if w:
                warnings.append(w)
        sides.append(_side(path, label, bundles[label], specs[label], start=start, end=end, data_dir=data_dir,
                           n_random=n_random, seed=seed, warnings=warnings))
    new_side, old_side = sides
    return CompareResult(new=new_side, old=old_side, start=new_side.start, end=new_side.end, window=source,
                         tolerance=float(tolerance),
                         passed=new_side.total_return >= old_side.total_return - float(tolerance),
                         n_random=int(n_random), warnings=tuple(warnings))
