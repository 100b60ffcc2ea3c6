"""Search spaces: which strategy keys a search varies, over which values (SPEC §13).

A space file maps dotted key paths of the strategy YAML to a list of choices or a range::

    indicators.rsi_14.period: [10, 14, 21]                           # choices
    decisions.confidence_threshold: {low: 0.4, high: 0.7}            # uniform float
    model.training.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
    backtest.sl_stop: {low: 0.005, high: 0.03, num: 4}               # num: points for --algo grid
    model.architecture.hidden_layers: [[16, 8], [32, 16]]
    fuzzy_sets.rsi_14.oversold.parameters: [[0, 20, 40], [0, 25, 45]]

A range whose ``low`` and ``high`` are both integers samples integers (``int: false`` turns
that off). Every key path must exist in the base strategy or be a key the grammar allows at
that place (``backtest.sl_stop`` when the strategy has no stop yet); anything else is an error
naming the space file and the key. Values are not checked here: a candidate whose values make
an invalid strategy is reported and skipped by the search.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StrategyError

__all__ = ["Dimension", "SearchSpace", "apply_overrides", "load_space", "strategy_to_raw"]

_RANGE_KEYS = ("low", "high", "log", "int", "num")


@dataclass(frozen=True)
class Dimension:
    """One searched key: a list of ``choices``, or a ``low``..``high`` range."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    num: int | None = None

    def sample(self, rng: np.random.Generator) -> Any:
        """One random value (uniform over choices; uniform or log-uniform over a range)."""
        if self.choices is not None:
            return copy.deepcopy(self.choices[int(rng.integers(len(self.choices)))])
        assert self.low is not None and self.high is not None
        if self.integer:
            if self.log:
                x = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(self.high, math.floor(x)))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        x = math.exp(rng.uniform(math.log(self.low), math.log(self.high))) if self.log else rng.uniform(self.low, self.high)
        return float(f"{x:.6g}")  # readable values; the candidate uses exactly this value

    def grid_values(self, source: str) -> list[Any]:
        """The values of this key in a grid search (a range needs ``num``)."""
        if self.choices is not None:
            return [copy.deepcopy(c) for c in self.choices]
        if self.num is None:
            raise StrategyError(f"{source}: {self.key}: a grid search needs a list of choices or a range "
                                f"with num (points), e.g. {{low: {self.low}, high: {self.high}, num: 5}}")
        assert self.low is not None and self.high is not None
        pts = np.geomspace(self.low, self.high, self.num) if self.log else np.linspace(self.low, self.high, self.num)
        if self.integer:
            return sorted({round(float(x)) for x in pts})
        return [float(f"{float(x):.6g}") for x in pts]

    def tune_domain(self) -> Any:
        """The equivalent ``ray.tune`` search domain."""
        from ray import tune

        if self.choices is not None:
            return tune.choice(list(self.choices))
        if self.integer:
            return tune.lograndint(int(self.low), int(self.high) + 1) if self.log else tune.randint(int(self.low), int(self.high) + 1)
        return tune.loguniform(self.low, self.high) if self.log else tune.uniform(self.low, self.high)


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions, in file order, and where they came from."""

    dimensions: tuple[Dimension, ...]
    source: str = "<space>"

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def sample(self, trials: int, seed: int) -> list[dict[str, Any]]:
        """``trials`` random candidates (``{key: value}``), repeatable for a seed."""
        rng = np.random.default_rng(seed)
        return [{d.key: d.sample(rng) for d in self.dimensions} for _ in range(trials)]

    def grid(self, trials: int | None, seed: int) -> list[dict[str, Any]]:
        """Every grid point in product order; at most ``trials`` of them, drawn in a seeded order."""
        axes = [d.grid_values(self.source) for d in self.dimensions]
        points = [dict(zip(self.keys, combo, strict=True)) for combo in itertools.product(*axes)]
        if trials is not None and trials < len(points):
            keep = np.sort(np.random.default_rng(seed).permutation(len(points))[:trials])
            points = [points[int(i)] for i in keep]
        return points


# ---------------------------------------------------------------------------------------------
# strategy key paths
# ---------------------------------------------------------------------------------------------


def strategy_to_raw(spec: Any) -> dict[str, Any]:
    """A validated strategy as the mapping its YAML file would hold (indicator params and
    memberships inline, as written by hand)."""
    raw = spec.model_dump(mode="json")
    raw["indicators"] = {k: {"type": v["type"], **v["params"]} for k, v in raw["indicators"].items()}
    raw["fuzzy_sets"] = {k: {"indicator": v["indicator"], **v["memberships"]} for k, v in raw["fuzzy_sets"].items()}
    return raw


def _segments(key: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def _allowed_here(raw: Mapping[str, Any], path: list[str | int]) -> list[str] | None:
    """Keys the grammar allows in the mapping at ``path`` (None: not a fixed set of keys)."""
    from ..strategy.load import _model_at
    from ..strategy.registry import get_indicator_spec

    if len(path) == 2 and path[0] == "indicators":
        try:
            return ["type", *get_indicator_spec(raw["indicators"][path[1]]["type"]).param_names]
        except (KeyError, TypeError):
            return None
    if len(path) == 3 and path[0] == "fuzzy_sets":
        return ["type", "parameters"]
    if len(path) == 2 and path[0] == "fuzzy_sets":
        return None  # membership names: adding one would change the features, not a search key
    model = _model_at(tuple(path))
    return list(model.model_fields) if model is not None else None


def _check_key(raw: Mapping[str, Any], key: str, source: str, base: str) -> None:
    """Raise a :class:`StrategyError` naming ``source`` and ``key`` unless ``key`` can be set."""
    segs = _segments(key)
    if any(s == "" for s in segs):
        raise StrategyError(f"{source}: {key!r}: expected a dotted key path such as indicators.rsi_14.period")
    node: Any = raw
    for i, seg in enumerate(segs):
        here = segs[:i]
        if isinstance(node, list):
            if not isinstance(seg, int) or seg >= len(node):
                raise StrategyError(f"{source}: {key}: {'.'.join(map(str, here))} is a list of {len(node)} "
                                    f"items; expected an index 0..{len(node) - 1}, got {seg!r}")
            node = node[seg]
            continue
        if isinstance(node, Mapping) and seg in node:
            node = node[seg]
            continue
        allowed = _allowed_here(raw, here) if isinstance(node, Mapping) or node is None else None
        if allowed is not None and seg in allowed:
            node = None  # a key the grammar allows but the base strategy leaves at its default
            continue
        where = ".".join(map(str, here)) or "the top level"
        known = [str(k) for k in (node if isinstance(node, Mapping) else {})] + (allowed or [])
        close = difflib.get_close_matches(str(seg), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f" (known here: {', '.join(sorted(set(known)))})"
                                                              if known else "")
        raise StrategyError(f"{source}: {key}: unknown key path: {where} of {base} has no key {seg!r}{hint}")


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``raw`` with each dotted ``key: value`` of ``overrides`` set."""
    out = copy.deepcopy(dict(raw))
    for key, value in overrides.items():
        segs = _segments(key)
        node: Any = out
        for seg in segs[:-1]:
            if isinstance(node, list):
                node = node[seg]
                continue
            if node.get(seg) is None:
                node[seg] = {}
            node = node[seg]
        node[segs[-1]] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _dimension(key: str, spec: Any, source: str) -> Dimension:
    where = f"{source}: {key}"
    if isinstance(spec, list | tuple):
        if not spec:
            raise StrategyError(f"{where}: expected a non-empty list of choices")
        return Dimension(key, choices=tuple(spec))
    if not isinstance(spec, Mapping):
        raise StrategyError(f"{where}: expected a list of choices or a range {{low, high}}, got {spec!r}")
    unknown = [k for k in spec if k not in _RANGE_KEYS]
    if unknown:
        raise StrategyError(f"{where}: unknown range key {unknown[0]!r} (allowed: {', '.join(_RANGE_KEYS)})")
    if "low" not in spec or "high" not in spec:
        raise StrategyError(f"{where}: a range needs low and high, got {dict(spec)!r}")
    low, high = spec["low"], spec["high"]
    if not (_number(low) and _number(high)):
        raise StrategyError(f"{where}: low and high must be numbers, got low={low!r}, high={high!r}")
    if not low < high:
        raise StrategyError(f"{where}: expected low < high, got low={low!r}, high={high!r}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise StrategyError(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise StrategyError(f"{where}: a log range needs low > 0, got {low!r}")
    integer = spec.get("int", isinstance(low, int) and isinstance(high, int))
    if not isinstance(integer, bool):
        raise StrategyError(f"{where}: int must be true or false, got {integer!r}")
    num = spec.get("num")
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 2):
        raise StrategyError(f"{where}: num (grid points) must be an integer >= 2, got {num!r}")
    return Dimension(key, low=float(low), high=float(high), log=log, integer=integer, num=num)


def load_space(space: str | Path | Mapping[str, Any], base: Mapping[str, Any], *,
               base_name: str = "the strategy") -> SearchSpace:
    """Read and validate a search space against the base strategy's mapping.

    Parameters
    ----------
    space:
        A YAML file or an already-parsed mapping ``{dotted.key: choices | range}``.
    base:
        The base strategy as a mapping (its YAML, or :func:`strategy_to_raw`).
    base_name:
        How errors name the base strategy (its file).

    Raises
    ------
    StrategyError
        A missing or unreadable file, a malformed range, or an unknown key path; the message
        names the space file and the key.
    """
    import yaml

    if isinstance(space, Mapping):
        source, data = "<space>", dict(space)
    else:
        source = str(space)
        try:
            data = yaml.safe_load(Path(space).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StrategyError(f"{source}: search space file not found") from None
        except OSError as exc:
            raise StrategyError(f"{source}: cannot read search space file ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise StrategyError(f"{source}: YAML error: {exc}") from None
    if not isinstance(data, Mapping) or not data:
        raise StrategyError(f"{source}: expected a mapping of strategy key paths to choices or ranges, "
                            f"e.g. indicators.rsi_14.period: [10, 14, 21]; got {data!r}")
    dims = []
    for key, spec in data.items():
        if not isinstance(key, str):
            raise StrategyError(f"{source}: {key!r}: expected a dotted key path such as indicators.rsi_14.period")
        _check_key(base, key, source, base_name)
        dims.append(_dimension(key, spec, source))
    return SearchSpace(tuple(dims), source)


def describe(value: Any) -> Any:
    """A table cell for a searched value: scalars as they are, lists as compact text."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return value
