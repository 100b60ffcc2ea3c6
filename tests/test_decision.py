"""decide / decide_step wrappers over the decision kernel (SPEC §6)."""

from __future__ import annotations

import numpy as np
import pytest

import fuzzyvec as fv
from fuzzyvec.backtest.decision import DecisionState
from fuzzyvec.strategy.config import DecisionConfig

from .conftest import STRATEGIES_DIR


def _probs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1], size=n)
    p[rng.random(n) < 0.05] = np.nan
    return p


def test_decide_uses_the_strategy_section():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    p = _probs()
    a = fv.decide(p, spec)
    b = fv.decide(p, spec.decisions)
    c = fv.decide(p, spec.decisions.model_dump())
    assert a.dtype == np.int8 and a.shape == (400,)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert set(np.unique(a)) <= {-1, 0, 1}


def test_threshold_vector_gives_one_column_per_threshold():
    cfg = DecisionConfig(confidence_threshold=0.5, filters={"min_signal_separation": 3})
    p = _probs()
    thr = [0.4, 0.5, 0.6, 0.7]
    many = fv.decide(p, cfg, confidence_threshold=thr)
    assert many.shape == (400, 4)
    for j, t in enumerate(thr):
        assert np.array_equal(many[:, j], fv.decide(p, cfg, confidence_threshold=t))


def test_prefix_property():
    cfg = DecisionConfig(confidence_threshold=0.45, allow_short_from_flat=True)
    p = _probs(seed=3)
    full = fv.decide(p, cfg)
    for k in (1, 17, 200, 399):
        assert np.array_equal(fv.decide(p[:k], cfg), full[:k])


@pytest.mark.parametrize("awareness", [True, False])
def test_live_step_equals_batch(awareness):
    cfg = DecisionConfig(confidence_threshold=0.45, position_awareness=awareness, reverse_on_opposite=True,
                         allow_short_from_flat=True, filters={"min_signal_separation": 4})
    p = _probs(seed=5)
    batch = fv.decide(p, cfg)
    state = None
    for t in range(len(p)):
        state = fv.decide_step(p[t], cfg, state)
        assert state.position == batch[t]


def test_long_only_never_shorts():
    cfg = DecisionConfig(confidence_threshold=0.0, position_awareness=False)
    p = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    assert fv.decide(p, cfg).tolist() == [-1, 1, -1]
    assert fv.decide(p, cfg, allow_short=False).tolist() == [0, 1, 0]


def test_initial_state_is_used():
    cfg = DecisionConfig(confidence_threshold=0.0, position_awareness=True)
    buy = np.array([[0.8, 0.1, 0.1]])
    assert fv.decide(buy, cfg).tolist() == [1]
    assert fv.decide(buy, cfg, initial=DecisionState(-1, 100)).tolist() == [0]  # opposite closes to flat


def test_bad_shape():
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        fv.decide(np.zeros((5, 2)), DecisionConfig())
