"""What a strategy will compute, as plain data (for ``validate``, ``features --dry-run`` and notebooks)."""

from __future__ import annotations

from typing import Any

from ..strategy.grammar import Strategy
from ..strategy.load import strategy_warnings
from ..strategy.registry import get_indicator_spec
from .frame import resolve_features

__all__ = ["strategy_summary"]


def strategy_summary(spec: Strategy) -> dict[str, Any]:
    """Indicators, fuzzy sets, inputs, ordered features, warm-up and warnings of a strategy.

    Returns
    -------
    dict
        JSON-serialisable; the CLI prints it as tables or, with ``--json``, as is.
    """
    schema = resolve_features(spec)
    indicators = []
    for ind_id, cfg in spec.indicators.items():
        ispec = get_indicator_spec(cfg.type)
        lbs = ispec.lookbacks(cfg.params)
        indicators.append({
            "id": ind_id, "type": cfg.type, "params": dict(cfg.params),
            "outputs": [ind_id if len(ispec.outputs) == 1 else f"{ind_id}.{o}" for o in ispec.outputs],
            "lookback": max(lbs.values(), default=0), "reference": ispec.reference,
        })
    fuzzy_sets = [
        {"id": fid, "indicator": fs.indicator,
         "memberships": [{"name": m, "type": mc.type, "parameters": list(mc.parameters)}
                         for m, mc in fs.memberships.items()]}
        for fid, fs in spec.fuzzy_sets.items()
    ]
    inputs = [
        {"kind": "fuzzy_set" if i.fuzzy_set else "raw_indicator", "source": i.source,
         "timeframes": list(spec.input_timeframes(i)), "normalization": i.norm if i.raw_indicator else None}
        for i in spec.nn_inputs
    ]
    warnings = strategy_warnings(spec)
    hist = spec.training_data.history_required
    for tf, lb in schema.warmup.items():
        if hist < lb:
            warnings.append(
                f"training_data.history_required: {hist} bars is shorter than the {tf} warm-up of {lb} "
                f"bars; the first {lb - hist} {tf} bars after start will be NaN"
            )
    labels = spec.training.labels
    return {
        "name": spec.name,
        "description": spec.description,
        "version": spec.version,
        "scope": spec.scope,
        "symbols": list(spec.symbols),
        "timeframes": list(spec.timeframes),
        "base_timeframe": spec.base_timeframe,
        "history_required": hist,
        "indicators": indicators,
        "fuzzy_sets": fuzzy_sets,
        "nn_inputs": inputs,
        "features": list(schema.names),
        "feature_count": len(schema),
        "schema_sha256": schema.sha256,
        "warmup_bars": dict(schema.warmup),
        "warmup_base_bars": schema.warmup_base_bars,
        "labels": labels.model_dump(),
        "warnings": warnings,
    }
