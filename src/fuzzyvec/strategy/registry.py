"""The indicator registry: one table drives strategy validation *and* construction.

Every indicator type is an :class:`IndicatorSpec` naming its parameters (type, default,
bounds), its outputs, the bar columns its kernel reads, the kernel itself and its lookback
(number of leading NaN rows per output). :mod:`fuzzyvec.strategy.grammar` validates against this
table and :func:`fuzzyvec.features.indicators.compute_indicator` builds from it, so a strategy that
validates can always be built.

Kernels are referenced as ``"module:function"`` strings inside :mod:`fuzzyvec.nb` and
imported on first use, so validating a strategy does not import numba. User indicators
(:func:`register_indicator`) pass the kernel object directly.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MEMBERSHIPS",
    "SOURCES",
    "IndicatorSpec",
    "MembershipSpec",
    "Param",
    "get_indicator_spec",
    "get_membership_spec",
    "indicator_types",
    "register_indicator",
    "unregister_indicator",
]

#: Price sources an indicator with a ``source`` parameter can read.
SOURCES: tuple[str, ...] = ("close", "open", "high", "low", "volume", "hl2", "hlc3", "ohlc4")


@dataclass(frozen=True)
class Param:
    """One indicator parameter: its kind, default and bounds."""

    name: str
    kind: type  # int, float or str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to the parameter's kind, or raise ``ValueError``."""
        if self.kind is str:
            if not isinstance(value, str):
                raise ValueError(f"expected one of {list(self.choices or ())}, got {value!r}")
            v = value.lower()
            if self.choices is not None and v not in self.choices:
                raise ValueError(f"expected one of {list(self.choices)}, got {value!r}")
            return v
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected {self.kind.__name__}, got {value!r}")
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"expected a finite number, got {value!r}")
        if self.min is not None and value < self.min:
            raise ValueError(f"expected >= {_fmt(self.min)}, got {value!r}")
        if self.max is not None and value > self.max:
            raise ValueError(f"expected <= {_fmt(self.max)}, got {value!r}")
        return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class IndicatorSpec:
    """How to validate and build one indicator type.

    Attributes
    ----------
    type:
        Lower-case type name used in strategy files (matching is case-insensitive).
    params:
        Parameters in the order the kernel takes them after its input arrays. A parameter
        named ``source`` selects the input array ``"source"`` and is not passed to the kernel.
    outputs:
        Output names in the order the kernel returns them. A single-output indicator has
        ``("value",)``; its frame column is the bare indicator id.
    inputs:
        Bar columns the kernel takes, in order; ``"source"`` means the column chosen by the
        ``source`` parameter.
    kernel:
        The numba kernel, or ``"module:function"`` inside :mod:`fuzzyvec.nb`.
    lookback:
        ``lookback(params) -> {output: leading NaN rows}``.
    reference:
        The definition the kernel matches (TA-Lib function or formula).
    choice_codes:
        For string parameters, the integer code the kernel receives for each choice.
    check:
        Optional cross-parameter check ``check(params) -> error message or None``.
    """

    type: str
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    kernel: str | Callable[..., Any]
    lookback: Callable[[Mapping[str, Any]], dict[str, int]]
    reference: str
    choice_codes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    check: Callable[[Mapping[str, Any]], str | None] | None = None
    description: str = ""

    @property
    def multi_output(self) -> bool:
        """True when the indicator has more than one output (references need ``id.output``)."""
        return len(self.outputs) > 1

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``given`` and fill defaults; ``ValueError`` messages start with the param name."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in given if k not in known]
        if unknown:
            allowed = ", ".join(known) or "none"
            raise ValueError(
                f"{unknown[0]}: unknown parameter for indicator type {self.type!r} "
                f"(allowed: {allowed})"
            )
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                try:
                    out[p.name] = p.check(given[p.name])
                except ValueError as exc:
                    raise ValueError(f"{p.name}: {exc}") from None
            else:
                out[p.name] = p.default
        if self.check is not None:
            msg = self.check(out)
            if msg:
                raise ValueError(msg)
        return out

    def kernel_function(self) -> Callable[..., Any]:
        """The kernel callable (imports ``fuzzyvec.nb.<module>`` on first use)."""
        if callable(self.kernel):
            return self.kernel
        module, _, name = self.kernel.partition(":")
        return getattr(importlib.import_module(f"fuzzyvec.nb.{module}"), name)

    def lookbacks(self, params: Mapping[str, Any]) -> dict[str, int]:
        """Leading NaN rows per output for resolved ``params``."""
        return {k: int(v) for k, v in self.lookback(params).items()}


def _same(n: Callable[[Mapping[str, Any]], int], outputs: tuple[str, ...]):
    return lambda p: {o: n(p) for o in outputs}


def _period(name: str = "period", lo: int = 2, default: int = 14, doc: str = "") -> Param:
    return Param(name, int, default, min=lo, max=100_000, doc=doc or "window length in bars")


def _positive(name: str, default: float, doc: str = "") -> Param:
    return Param(name, float, default, min=1e-12, max=1e6, doc=doc)


_SOURCE = Param("source", str, "close", choices=SOURCES, doc="price column the indicator reads")
_V = ("value",)


def _macd_check(p: Mapping[str, Any]) -> str | None:
    if p["fast_period"] >= p["slow_period"]:
        return (
            f"fast_period: expected fast_period < slow_period, got fast_period="
            f"{p['fast_period']} and slow_period={p['slow_period']}"
        )
    return None


def _sar_check(p: Mapping[str, Any]) -> str | None:
    if p["acceleration"] > p["maximum"]:
        return (
            f"acceleration: expected acceleration <= maximum, got acceleration="
            f"{p['acceleration']} and maximum={p['maximum']}"
        )
    return None


def _rvi_lookback(p: Mapping[str, Any]) -> dict[str, int]:
    rvi = 3 + p["period"] - 1
    return {"rvi": rvi, "signal": rvi + p["signal_period"] - 1}


def _builtin_specs() -> list[IndicatorSpec]:
    ma = "ma"
    mom = "momentum"
    vol = "volatility"
    trd = "trend"
    vlm = "volume"
    specs = [
        IndicatorSpec("rsi", (_period(default=14), _SOURCE), _V, ("source",), f"{mom}:rsi_1d_nb",
                      _same(lambda p: p["period"], _V), "TA-Lib RSI (Wilder smoothing seeded with a simple mean)",
                      description="relative strength index, 0..100"),
        IndicatorSpec("sma", (_period(default=20), _SOURCE), _V, ("source",), f"{ma}:sma_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "TA-Lib SMA", description="simple moving average"),
        IndicatorSpec("ema", (_period(default=20), _SOURCE), _V, ("source",), f"{ma}:ema_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "TA-Lib EMA (seeded with a simple mean)",
                      description="exponential moving average"),
        IndicatorSpec("wma", (_period(default=20), _SOURCE), _V, ("source",), f"{ma}:wma_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "TA-Lib WMA", description="linearly weighted moving average"),
        IndicatorSpec("macd", (_period("fast_period", default=12), _period("slow_period", default=26),
                               _period("signal_period", lo=1, default=9), _SOURCE),
                      ("line", "signal", "histogram"), ("source",), f"{mom}:macd_1d_nb",
                      _same(lambda p: p["slow_period"] - 1 + p["signal_period"] - 1, ("line", "signal", "histogram")),
                      "TA-Lib MACD", check=_macd_check, description="moving average convergence/divergence"),
        IndicatorSpec("bbands", (_period(default=20), _positive("multiplier", 2.0, "standard deviations"), _SOURCE),
                      ("upper", "middle", "lower"), ("source",), f"{vol}:bbands_1d_nb",
                      _same(lambda p: p["period"] - 1, ("upper", "middle", "lower")),
                      "TA-Lib BBANDS (SMA, population standard deviation)", description="Bollinger bands"),
        IndicatorSpec("bbwidth", (_period(default=20), _positive("multiplier", 2.0, "standard deviations"), _SOURCE),
                      _V, ("source",), f"{vol}:bbwidth_1d_nb", _same(lambda p: p["period"] - 1, _V),
                      "(upper - lower) / middle of TA-Lib BBANDS", description="relative Bollinger band width"),
        IndicatorSpec("atr", (_period(lo=1, default=14),), _V, ("high", "low", "close"), f"{vol}:atr_1d_nb",
                      _same(lambda p: p["period"], _V), "TA-Lib ATR (Wilder smoothing seeded with a simple mean)",
                      description="average true range"),
        IndicatorSpec("adx", (_period(default=14),), ("adx", "plus_di", "minus_di"), ("high", "low", "close"),
                      f"{trd}:adx_1d_nb",
                      lambda p: {"adx": 2 * p["period"] - 1, "plus_di": p["period"], "minus_di": p["period"]},
                      "TA-Lib ADX / PLUS_DI / MINUS_DI", description="average directional index and DI lines"),
        IndicatorSpec("stochastic", (_period("k_period", lo=1, default=14), _period("smooth_k", lo=1, default=3),
                                     _period("d_period", lo=1, default=3)),
                      ("k", "d"), ("high", "low", "close"), f"{mom}:stochastic_1d_nb",
                      _same(lambda p: p["k_period"] - 1 + p["smooth_k"] - 1 + p["d_period"] - 1, ("k", "d")),
                      "TA-Lib STOCH (SMA smoothing)", description="slow stochastic oscillator, 0..100"),
        IndicatorSpec("williamsr", (_period(default=14),), _V, ("high", "low", "close"), f"{mom}:williamsr_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "TA-Lib WILLR", description="Williams %R, -100..0"),
        IndicatorSpec("cci", (_period(default=20),), _V, ("high", "low", "close"), f"{mom}:cci_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "TA-Lib CCI", description="commodity channel index"),
        IndicatorSpec("mfi", (_period(default=14),), _V, ("high", "low", "close", "volume"), f"{vlm}:mfi_1d_nb",
                      _same(lambda p: p["period"], _V), "TA-Lib MFI", description="money flow index, 0..100"),
        IndicatorSpec("roc", (_period(lo=1, default=10), _SOURCE), _V, ("source",), f"{mom}:roc_1d_nb",
                      _same(lambda p: p["period"], _V), "TA-Lib ROC", description="rate of change in percent"),
        IndicatorSpec("momentum", (_period(lo=1, default=10), _SOURCE), _V, ("source",), f"{mom}:momentum_1d_nb",
                      _same(lambda p: p["period"], _V), "TA-Lib MOM", description="x - x[period bars ago]"),
        IndicatorSpec("obv", (), _V, ("close", "volume"), f"{vlm}:obv_1d_nb", _same(lambda p: 0, _V),
                      "TA-Lib OBV", description="on-balance volume"),
        IndicatorSpec("adline", (), _V, ("high", "low", "close", "volume"), f"{vlm}:adline_1d_nb",
                      _same(lambda p: 0, _V), "TA-Lib AD", description="Chaikin accumulation/distribution line"),
        IndicatorSpec("aroon", (_period(default=14),), ("up", "down", "oscillator"), ("high", "low"),
                      f"{trd}:aroon_1d_nb", _same(lambda p: p["period"], ("up", "down", "oscillator")),
                      "TA-Lib AROON / AROONOSC", description="Aroon up/down and oscillator"),
        IndicatorSpec("parabolicsar", (Param("acceleration", float, 0.02, min=1e-9, max=10.0, doc="acceleration step"),
                                       Param("maximum", float, 0.2, min=1e-9, max=10.0, doc="maximum acceleration")),
                      _V, ("high", "low"), f"{trd}:parabolicsar_1d_nb", _same(lambda p: 1, _V), "TA-Lib SAR",
                      check=_sar_check, description="parabolic stop and reverse"),
        IndicatorSpec("donchian", (_period(lo=1, default=20),), ("upper", "middle", "lower"), ("high", "low"),
                      f"{vol}:donchian_1d_nb", _same(lambda p: p["period"] - 1, ("upper", "middle", "lower")),
                      "rolling max(high) / min(low) and their midpoint", description="Donchian channel"),
        IndicatorSpec("keltner", (_period(default=20), _period("atr_period", lo=1, default=10),
                                  _positive("multiplier", 2.0, "ATR multiples")),
                      ("upper", "middle", "lower"), ("high", "low", "close"), f"{vol}:keltner_1d_nb",
                      _same(lambda p: max(p["period"] - 1, p["atr_period"]), ("upper", "middle", "lower")),
                      "EMA(close, period) +/- multiplier * ATR(atr_period)", description="Keltner channel"),
        IndicatorSpec("supertrend", (_period(lo=1, default=10), _positive("multiplier", 3.0, "ATR multiples")),
                      ("trend", "direction"), ("high", "low", "close"), f"{trd}:supertrend_1d_nb",
                      _same(lambda p: p["period"], ("trend", "direction")),
                      "classic band ratchet on hl2 +/- multiplier * ATR(period)",
                      description="SuperTrend line and direction (+1 up, -1 down)"),
        IndicatorSpec("vwap", (_period(lo=1, default=20),), _V, ("high", "low", "close", "volume"),
                      f"{vlm}:vwap_1d_nb", _same(lambda p: p["period"] - 1, _V),
                      "rolling sum(typical * volume) / sum(volume)", description="rolling volume-weighted average price"),
        IndicatorSpec("cmf", (_period(lo=1, default=21),), _V, ("high", "low", "close", "volume"),
                      f"{vlm}:cmf_1d_nb", _same(lambda p: p["period"] - 1, _V),
                      "Chaikin money flow: sum(MFM * volume) / sum(volume)", description="Chaikin money flow, -1..1"),
        IndicatorSpec("zscore", (_period(default=20), _SOURCE), _V, ("source",), f"{vol}:zscore_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "(x - SMA) / population standard deviation",
                      description="rolling z-score"),
        IndicatorSpec("distancefromma", (_period(default=20), Param("ma_type", str, "sma", choices=("sma", "ema"),
                                                                   doc="moving average type"), _SOURCE),
                      _V, ("source",), f"{ma}:distancefromma_1d_nb", _same(lambda p: p["period"] - 1, _V),
                      "(x - MA) / MA * 100", choice_codes={"ma_type": {"sma": 0, "ema": 1}},
                      description="distance from a moving average in percent"),
        IndicatorSpec("volumeratio", (_period(lo=1, default=20),), _V, ("volume",), f"{vlm}:volumeratio_1d_nb",
                      _same(lambda p: p["period"] - 1, _V), "volume / SMA(volume, period)",
                      description="volume relative to its moving average"),
        IndicatorSpec("rvi", (_period(lo=1, default=10), _period("signal_period", lo=1, default=4)),
                      ("rvi", "signal"), ("open", "high", "low", "close"), f"{mom}:rvi_1d_nb", _rvi_lookback,
                      "Ehlers relative vigor index: SMA of 1-2-2-1 weighted (close-open) over SMA of weighted "
                      "(high-low); signal is the triangular-weighted average of rvi over signal_period",
                      description="relative vigor index"),
        IndicatorSpec("fisher", (_period(default=10),), ("fisher", "signal"), ("high", "low"), f"{mom}:fisher_1d_nb",
                      lambda p: {"fisher": p["period"] - 1, "signal": p["period"]},
                      "Ehlers Fisher transform of the hl2 midpoint; signal is fisher one bar earlier",
                      description="Ehlers Fisher transform"),
        IndicatorSpec("squeeze", (_period("bb_period", default=20), _positive("bb_mult", 2.0),
                                  _period("kc_period", default=20), _positive("kc_mult", 1.5)),
                      _V, ("high", "low", "close"), f"{vol}:squeeze_1d_nb",
                      _same(lambda p: max(p["bb_period"] - 1, p["kc_period"]), _V),
                      "1 - (BB upper - BB lower) / (KC upper - KC lower); > 0 while the Bollinger bands "
                      "are inside the Keltner channel", description="Bollinger-inside-Keltner squeeze intensity"),
        IndicatorSpec("ichimoku", (_period("tenkan", lo=1, default=9), _period("kijun", lo=1, default=26),
                                   _period("senkou_b", lo=1, default=52)),
                      ("tenkan", "kijun", "senkou_a", "senkou_b"), ("high", "low"), f"{trd}:ichimoku_1d_nb",
                      lambda p: {"tenkan": p["tenkan"] - 1, "kijun": p["kijun"] - 1,
                                 "senkou_a": max(p["tenkan"], p["kijun"]) - 1, "senkou_b": p["senkou_b"] - 1},
                      "rolling (max high + min low) / 2 midpoints; senkou_a = (tenkan + kijun) / 2; "
                      "no forward displacement (no look-ahead)", description="Ichimoku lines"),
    ]
    return specs


_REGISTRY: dict[str, IndicatorSpec] = {s.type: s for s in _builtin_specs()}
_BUILTIN: frozenset[str] = frozenset(_REGISTRY)


def indicator_types() -> tuple[str, ...]:
    """All registered indicator type names (built-in and user-registered), sorted."""
    return tuple(sorted(_REGISTRY))


def get_indicator_spec(type_name: str) -> IndicatorSpec:
    """Look up an indicator type (case-insensitive).

    Raises
    ------
    KeyError
        With the list of known types when ``type_name`` is not registered.
    """
    spec = _REGISTRY.get(str(type_name).lower())
    if spec is None:
        raise KeyError(
            f"unknown indicator type {type_name!r}; known types: {', '.join(indicator_types())}"
        )
    return spec


def register_indicator(
    type_name: str,
    kernel: Callable[..., Any],
    *,
    outputs: tuple[str, ...] | list[str] = ("value",),
    inputs: tuple[str, ...] | list[str] = ("close",),
    params: tuple[Param, ...] | list[Param] = (),
    lookback: int | Callable[[Mapping[str, Any]], int | dict[str, int]] = 0,
    reference: str = "user-defined",
    replace: bool = False,
) -> IndicatorSpec:
    """Register a user indicator so strategies can use it as ``type: <type_name>``.

    Parameters
    ----------
    type_name:
        Name used in strategy files (case-insensitive). Built-in types cannot be replaced.
    kernel:
        A numba ``@njit`` function (or any function of numpy arrays) taking the ``inputs``
        arrays followed by the parameter values in ``params`` order, returning one array per
        output (a single array when there is one output).
    outputs, inputs, params:
        Output names, bar columns read (``open``, ``high``, ``low``, ``close``, ``volume`` or
        ``source`` together with a ``source`` param) and parameters.
    lookback:
        Leading NaN rows: an int, or ``f(params) -> int | {output: int}``.
    replace:
        Allow re-registering an existing *user* type.

    Returns
    -------
    IndicatorSpec
        The registered spec.
    """
    name = str(type_name).lower()
    if name in _BUILTIN:
        raise ValueError(f"indicator type {name!r} is built in and cannot be replaced")
    if name in _REGISTRY and not replace:
        raise ValueError(f"indicator type {name!r} is already registered (pass replace=True)")
    outs = tuple(outputs)
    if not outs:
        raise ValueError("an indicator needs at least one output")
    allowed_inputs = {"open", "high", "low", "close", "volume", "source"}
    bad = [i for i in inputs if i not in allowed_inputs]
    if bad:
        raise ValueError(f"unknown input column {bad[0]!r}; allowed: {sorted(allowed_inputs)}")
    if "source" in inputs and "source" not in {p.name for p in params}:
        params = (*tuple(params), _SOURCE)

    def _lb(p: Mapping[str, Any]) -> dict[str, int]:
        n = lookback(p) if callable(lookback) else lookback
        if isinstance(n, dict):
            return {o: int(n[o]) for o in outs}
        return {o: int(n) for o in outs}

    spec = IndicatorSpec(name, tuple(params), outs, tuple(inputs), kernel, _lb, reference)
    _REGISTRY[name] = spec
    return spec


def unregister_indicator(type_name: str) -> None:
    """Remove a user-registered indicator type (built-in types stay)."""
    name = str(type_name).lower()
    if name in _BUILTIN:
        raise ValueError(f"indicator type {name!r} is built in and cannot be removed")
    _REGISTRY.pop(name, None)


# ---------------------------------------------------------------------------------------------
# Membership functions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MembershipSpec:
    """How to validate and build one membership-function type.

    ``check(params) -> message or None`` validates the parameter list (already known to have
    ``len(param_names)`` finite numbers). The kernel takes ``(x, params)`` with ``params`` a
    float64 array in ``param_names`` order.
    """

    type: str
    param_names: tuple[str, ...]
    kernel: str
    reference: str
    check: Callable[[tuple[float, ...]], str | None]

    def kernel_function(self) -> Callable[..., Any]:
        module, _, name = self.kernel.partition(":")
        return getattr(importlib.import_module(f"fuzzyvec.nb.{module}"), name)

    def validate(self, params: Any) -> tuple[float, ...]:
        """Return the parameters as floats, or raise ``ValueError`` saying what is wrong."""
        shape = "[" + ", ".join(self.param_names) + "]"
        if not isinstance(params, list | tuple):
            raise ValueError(f"expected a list {shape}, got {params!r}")
        if len(params) != len(self.param_names):
            raise ValueError(
                f"{self.type} takes {len(self.param_names)} parameters {shape}, "
                f"got {len(params)}: {list(params)!r}"
            )
        vals = []
        for name, v in zip(self.param_names, params, strict=True):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"parameter {name} must be a finite number, got {v!r} in {list(params)!r}")
            vals.append(float(v))
        msg = self.check(tuple(vals))
        if msg:
            raise ValueError(msg)
        return tuple(vals)


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _shown(p: tuple[float, ...]) -> str:
    return "[" + ", ".join(str(_num(v)) for v in p) + "]"


def _tri_check(p: tuple[float, ...]) -> str | None:
    a, b, c = p
    if not (a <= b <= c):
        return f"expected a <= b <= c, got {_shown(p)}"
    if a == c:
        return f"expected a < c (the set has zero width), got {_shown(p)}"
    return None


def _trap_check(p: tuple[float, ...]) -> str | None:
    a, b, c, d = p
    if not (a <= b <= c <= d):
        return f"expected a <= b <= c <= d, got {_shown(p)}"
    if a == d:
        return f"expected a < d (the set has zero width), got {_shown(p)}"
    return None


def _gauss_check(p: tuple[float, ...]) -> str | None:
    return None if p[1] > 0 else f"expected sigma > 0, got {_shown(p)}"


def _sigmoid_check(p: tuple[float, ...]) -> str | None:
    return None if p[1] != 0 else f"expected slope != 0 (a zero slope is the constant 0.5), got {_shown(p)}"


def _gbell_check(p: tuple[float, ...]) -> str | None:
    if p[0] <= 0:
        return f"expected width > 0, got {_shown(p)}"
    if p[1] <= 0:
        return f"expected slope > 0, got {_shown(p)}"
    return None


MEMBERSHIPS: dict[str, MembershipSpec] = {
    s.type: s
    for s in (
        MembershipSpec("triangular", ("a", "b", "c"), "membership:triangular_1d_nb",
                       "scikit-fuzzy trimf (a == b: left shoulder, b == c: right shoulder)", _tri_check),
        MembershipSpec("trapezoidal", ("a", "b", "c", "d"), "membership:trapezoidal_1d_nb",
                       "scikit-fuzzy trapmf (a == b: left shoulder, c == d: right shoulder)", _trap_check),
        MembershipSpec("gaussian", ("mean", "sigma"), "membership:gaussian_1d_nb",
                       "scikit-fuzzy gaussmf", _gauss_check),
        MembershipSpec("sigmoid", ("center", "slope"), "membership:sigmoid_1d_nb",
                       "scikit-fuzzy sigmf(x, center, slope)", _sigmoid_check),
        MembershipSpec("gbell", ("width", "slope", "center"), "membership:gbell_1d_nb",
                       "scikit-fuzzy gbellmf", _gbell_check),
    )
}


def get_membership_spec(type_name: str) -> MembershipSpec:
    """Look up a membership type (case-insensitive); ``KeyError`` lists the known types."""
    spec = MEMBERSHIPS.get(str(type_name).lower())
    if spec is None:
        raise KeyError(
            f"unknown membership type {type_name!r}; known types: {', '.join(MEMBERSHIPS)}"
        )
    return spec
