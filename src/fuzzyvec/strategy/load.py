"""Reading strategy files: YAML with line numbers, readable errors, and warnings.

``load_strategy`` turns a YAML file (or a mapping) into a frozen :class:`~fuzzyvec.strategy.grammar.Strategy`.
Every problem becomes one :class:`~fuzzyvec.errors.StrategyError` whose message names the file,
the line, the key path and the offending value, for example::

    strategies/x.yaml:27: fuzzy_sets.rsi_14.oversold.parameters: expected a <= b <= c, got [40, 20, 0]
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import StrategyError
from .grammar import KeyedError, Strategy

__all__ = ["StrategyWarning", "load_strategy", "strategy_from_dict", "strategy_warnings"]


class StrategyWarning(UserWarning):
    """Something in a strategy that is allowed but probably not intended."""


# ---------------------------------------------------------------------------------------------
# YAML with duplicate-key detection and key-path -> line numbers
# ---------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (the first one would be silently ignored)",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_map(node: yaml.Node | None, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path in a composed YAML tree to its 1-based line number."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            out[(*path, key)] = k.start_mark.line + 1
            _line_map(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)
    return out


def _read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StrategyError(f"{path}: strategy file not found") from None
    except OSError as exc:
        raise StrategyError(f"{path}: cannot read strategy file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_Loader)
        lines = _line_map(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise StrategyError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise StrategyError(f"{path}: YAML error: {exc}") from None
    if not isinstance(data, dict):
        raise StrategyError(
            f"{path}: expected a mapping of strategy keys (name, indicators, ...), "
            f"got {type(data).__name__}"
        )
    return data, lines


# ---------------------------------------------------------------------------------------------
# error formatting
# ---------------------------------------------------------------------------------------------


def _dotted(path: tuple) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


def _short(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-tag and function-wrapper segments from a location."""
    out = []
    for p in loc:
        if isinstance(p, str) and (
            p.startswith("function-") or p in {"single", "multi_symbol", "zigzag", "forward_return",
                                                "triple_barrier", "tuple[str, ...]", "str", "literal['all']"}
        ):
            continue
        out.append(p)
    # fuzzy set memberships are written directly under the set's id in YAML
    if len(out) >= 3 and out[0] == "fuzzy_sets" and out[2] == "memberships":
        del out[2]
    return tuple(out)


_WORDING = (
    ("Input should be", "expected"),
    ("greater than or equal to", ">="),
    ("less than or equal to", "<="),
    ("greater than", ">"),
    ("less than", "<"),
    ("a valid tuple", "a list"),
    ("a valid list", "a list"),
    ("a valid integer", "an integer"),
    ("a valid number", "a number"),
    ("a valid boolean", "true or false"),
    ("a valid string", "a string"),
)


def _reword(msg: str) -> str:
    for a, b in _WORDING:
        msg = msg.replace(a, b)
    return msg


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``path`` (for key suggestions)."""
    from . import grammar as s

    if len(path) == 3 and path[0] == "fuzzy_sets":
        return s.MembershipConfig
    model: Any = Strategy
    for p in path:
        if model is None:
            return None
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        ann = field.annotation
        model = None
        for cand in (ann, *getattr(ann, "__args__", ())):
            for c in (cand, *getattr(cand, "__args__", ())):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
                    break
            if model is not None:
                break
        if model in (s.IndicatorConfig, s.FuzzySetConfig):
            return None
    return model if isinstance(model, type) else None


def _unknown_key_hint(path: tuple) -> str:
    model = _model_at(path[:-1])
    key = path[-1]
    if model is None:
        return f"unknown key {key!r}"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (allowed here: {', '.join(allowed)})"


def _messages(exc: ValidationError) -> list[tuple[tuple, str]]:
    msgs: list[tuple[tuple, str]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        ctx_err = (err.get("ctx") or {}).get("error")
        typ = err["type"]
        if isinstance(ctx_err, KeyedError):
            loc = (*loc, *ctx_err.key)
            text = ctx_err.message
        elif typ == "extra_forbidden":
            text = _unknown_key_hint(loc)
        elif typ == "missing":
            text = "missing required key"
        elif typ == "value_error":
            text = str(ctx_err) if ctx_err is not None else err["msg"]
        elif typ == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            loc = (*loc, str(ctx.get("discriminator", "")).strip("'"))
            text = f"expected one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
        elif typ == "union_tag_not_found":
            ctx = err.get("ctx") or {}
            loc = (*loc, str(ctx.get("discriminator", "")).strip("'"))
            text = "missing required key"
        else:
            text = _reword(err["msg"])
            if "input" in err and typ not in ("model_type", "dict_type"):
                text += f", got {_short(err['input'])}"
            elif typ in ("model_type", "dict_type"):
                text = f"expected a mapping, got {_short(err.get('input'))}"
        key = f"{_dotted(loc)}: {text}"
        if key not in seen:
            seen.add(key)
            msgs.append((loc, text))
    return msgs


def _format(exc: ValidationError, source: str, lines: Mapping[tuple, int]) -> StrategyError:
    parts = []
    for loc, text in _messages(exc):
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{source}:{line}" if line else source
        parts.append(f"{where}: {_dotted(loc) or '(top level)'}: {text}")
    if len(parts) == 1:
        return StrategyError(parts[0])
    return StrategyError(f"{len(parts)} problems in {source}:\n  " + "\n  ".join(parts))


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def strategy_from_dict(data: Mapping[str, Any], *, source: str = "<strategy>",
                       lines: Mapping[tuple, int] | None = None) -> Strategy:
    """Validate a mapping (as parsed from YAML) into a :class:`Strategy`."""
    try:
        return Strategy.model_validate(dict(data))
    except ValidationError as exc:
        raise _format(exc, source, lines or {}) from None


def load_strategy(source: str | Path | Mapping[str, Any] | Strategy, *, warn: bool = True) -> Strategy:
    """Load and validate a strategy.

    Parameters
    ----------
    source:
        Path of a YAML file, an already-parsed mapping, or a :class:`Strategy` (returned as is).
    warn:
        Emit a :class:`StrategyWarning` for each indicator or fuzzy set no input reaches.

    Returns
    -------
    Strategy
        The frozen, validated strategy. A strategy read from a file remembers the file's
        folder, against which a relative ``data.dir`` is resolved.

    Raises
    ------
    StrategyError
        With ``file:line: key.path: message`` for every problem found.
    """
    if isinstance(source, Strategy):
        return source
    if isinstance(source, Mapping):
        spec = strategy_from_dict(source)
    else:
        path = Path(source)
        data, lines = _read_yaml(path)
        spec = strategy_from_dict(data, source=str(path), lines=lines)
        spec._source_path = str(path.resolve())
    if warn:
        for w in strategy_warnings(spec):
            warnings.warn(w, StrategyWarning, stacklevel=2)
    return spec


def strategy_warnings(spec: Strategy) -> list[str]:
    """Indicators and fuzzy sets that no ``nn_inputs`` entry reaches (allowed, but unused)."""
    used_sets = {i.fuzzy_set for i in spec.nn_inputs if i.fuzzy_set}
    used_inds = {i.raw_indicator.split(".")[0] for i in spec.nn_inputs if i.raw_indicator}
    used_inds |= {spec.fuzzy_sets[f].indicator.split(".")[0] for f in used_sets}
    out = [
        f"fuzzy_sets.{f}: no nn_inputs entry uses this fuzzy set; it is validated but not computed"
        for f in spec.fuzzy_sets if f not in used_sets
    ]
    out += [
        f"indicators.{i}: no nn_inputs entry reaches this indicator; it is validated but not computed"
        for i in spec.indicators if i not in used_inds
    ]
    return out
