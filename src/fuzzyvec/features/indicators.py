"""Indicator wrappers: bars -> arrays -> kernel -> named columns.

The wrapper does three things only (ARCHITECTURE.md, rule 2): pull the input arrays out in
the order the registry names, call the kernel, and name its outputs. All arithmetic is in
:mod:`fuzzyvec.nb`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from ..errors import StrategyError
from ..strategy.registry import IndicatorSpec, get_indicator_spec

__all__ = ["IndicatorOutput", "compute_indicator", "indicator_arrays"]


class IndicatorOutput(NamedTuple):
    """What :func:`compute_indicator` returns: unpacks as ``frame, lookback``."""

    frame: pl.DataFrame
    """One Float64 column per output, named by output (``value`` for single-output types)."""
    lookback: int
    """Leading NaN rows of the frame (the largest over outputs)."""
    lookbacks: dict[str, int]
    """Leading NaN rows per output."""


def _bar_arrays(bars: Any) -> Mapping[str, np.ndarray]:
    if isinstance(bars, pl.DataFrame):
        return {c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume") if c in bars.columns}
    if isinstance(bars, Mapping):
        return bars
    try:  # pandas
        return {c: np.asarray(bars[c]) for c in ("open", "high", "low", "close", "volume") if c in bars}
    except TypeError:
        raise TypeError(f"bars must be a polars/pandas frame or a mapping of arrays, got {type(bars).__name__}") from None


def _column(arrays: Mapping[str, np.ndarray], name: str, type_name: str) -> np.ndarray:
    if name not in arrays:
        raise KeyError(f"indicator {type_name!r} needs a {name!r} column in the bars")
    return np.ascontiguousarray(arrays[name], dtype=np.float64)


def indicator_arrays(spec: IndicatorSpec, bars: Any, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run the kernel of ``spec`` on ``bars`` with resolved ``params``; ``{output: array}``."""
    arrays = _bar_arrays(bars)
    inputs = []
    for name in spec.inputs:
        if name == "source":
            from ..nb.sources import SOURCE_CODES, price_source_1d_nb

            src = params["source"]
            if src in ("open", "high", "low", "close", "volume"):
                inputs.append(_column(arrays, src, spec.type))
            else:
                cols = [_column(arrays, c, spec.type) for c in ("open", "high", "low", "close")]
                vol = np.zeros_like(cols[0])
                inputs.append(price_source_1d_nb(cols[0], cols[1], cols[2], cols[3], vol, SOURCE_CODES[src]))
        else:
            inputs.append(_column(arrays, name, spec.type))
    args = []
    for p in spec.params:
        if p.name == "source":
            continue
        value = params[p.name]
        if p.name in spec.choice_codes:
            value = spec.choice_codes[p.name][value]
        args.append(value)
    result = spec.kernel_function()(*inputs, *args)
    if isinstance(result, np.ndarray):
        result = (result,)
    if len(result) != len(spec.outputs):
        raise RuntimeError(
            f"indicator {spec.type!r}: kernel returned {len(result)} arrays for outputs {spec.outputs}"
        )
    return {o: np.asarray(r, dtype=np.float64) for o, r in zip(spec.outputs, result, strict=True)}


def compute_indicator(type: str, bars: Any, **params: Any) -> IndicatorOutput:
    """Compute one indicator on bars.

    Parameters
    ----------
    type:
        Indicator type (case-insensitive), e.g. ``"rsi"`` or ``"macd"``.
    bars:
        A polars or pandas frame with ``open``/``high``/``low``/``close``/``volume`` columns,
        or a mapping of those names to arrays.
    **params:
        Indicator parameters; unknown names or out-of-range values raise ``StrategyError``.

    Returns
    -------
    IndicatorOutput
        ``(frame, lookback, lookbacks)``: one column per output, named by output.

    Examples
    --------
    >>> frame, lookback = compute_indicator("rsi", bars, period=14)[:2]  # doctest: +SKIP
    """
    try:
        spec = get_indicator_spec(type)
        resolved = spec.resolve_params(params)
    except (KeyError, ValueError) as exc:
        raise StrategyError(f"compute_indicator({type!r}): {exc.args[0]}") from None
    cols = indicator_arrays(spec, bars, resolved)
    lbs = spec.lookbacks(resolved)
    return IndicatorOutput(pl.DataFrame(cols), max(lbs.values(), default=0), lbs)
