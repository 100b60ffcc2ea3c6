"""Membership kernels against scikit-fuzzy 0.5 (the oracle) and the shoulder rules of SPEC §3.2."""

from __future__ import annotations

import numpy as np
import pytest
import skfuzzy as fuzz
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzyvec.nb.membership import (
    gaussian_1d_nb,
    gbell_1d_nb,
    sigmoid_1d_nb,
    trapezoidal_1d_nb,
    triangular_1d_nb,
)
from fuzzyvec.strategy.registry import MEMBERSHIPS, get_membership_spec

TOL = 1e-12
SETTINGS = settings(max_examples=50, deadline=None)

KERNELS = {
    "triangular": triangular_1d_nb,
    "trapezoidal": trapezoidal_1d_nb,
    "gaussian": gaussian_1d_nb,
    "sigmoid": sigmoid_1d_nb,
    "gbell": gbell_1d_nb,
}


def oracle(kind: str, x: np.ndarray, p: list[float]) -> np.ndarray:
    """scikit-fuzzy with fuzzyvec's parameter order."""
    with np.errstate(over="ignore"):  # sigmf overflows to the right limit, as the kernel does
        return _oracle(kind, x, p)


def _oracle(kind: str, x: np.ndarray, p: list[float]) -> np.ndarray:
    if kind == "triangular":
        return fuzz.trimf(x, p)
    if kind == "trapezoidal":
        return fuzz.trapmf(x, p)
    if kind == "gaussian":
        return fuzz.gaussmf(x, p[0], p[1])
    if kind == "sigmoid":
        return fuzz.sigmf(x, p[0], p[1])
    return fuzz.gbellmf(x, p[0], p[1], p[2])


def run(kind: str, x, p) -> np.ndarray:
    return KERNELS[kind](np.asarray(x, dtype=np.float64), np.asarray(p, dtype=np.float64))


# Typical sets over real indicator ranges (RSI 0..100, returns, z-scores, prices).
FIXED = [
    ("triangular", [20.0, 30.0, 45.0]),
    ("triangular", [-1.5, 0.0, 2.5]),
    ("trapezoidal", [20.0, 30.0, 40.0, 55.0]),
    ("trapezoidal", [0.99, 1.0, 1.0, 1.02]),  # b == c: a triangle, not a shoulder
    ("gaussian", [50.0, 10.0]),
    ("gaussian", [0.0, 1e-3]),
    ("sigmoid", [70.0, 0.3]),
    ("sigmoid", [30.0, -0.3]),
    ("sigmoid", [0.0, 500.0]),  # steep: exp overflows far from the centre
    ("gbell", [10.0, 2.0, 50.0]),
    ("gbell", [0.5, 0.75, -0.2]),
]


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    return np.concatenate([np.linspace(-200.0, 200.0, 4001), np.linspace(-3.0, 3.0, 6001)])


@pytest.mark.parametrize(("kind", "p"), FIXED)
def test_matches_skfuzzy_on_fixed_grid(kind, p, grid):
    np.testing.assert_allclose(run(kind, grid, p), oracle(kind, grid, p), rtol=0, atol=TOL)
    # the parameter points themselves are on the grid for most sets; check them explicitly
    pts = np.asarray(p, dtype=np.float64)
    np.testing.assert_allclose(run(kind, pts, p), oracle(kind, pts, p), rtol=0, atol=TOL)


@pytest.mark.parametrize(("kind", "p"), FIXED)
def test_matches_skfuzzy_on_real_data(kind, p, eurusd_arrays, btc_arrays):
    close = eurusd_arrays["close"]
    ret = np.diff(btc_arrays["close"]) / btc_arrays["close"][:-1] * 100.0  # percent returns
    z = (close - close.mean()) / close.std()
    rsi_like = (
        100.0
        * (btc_arrays["close"] - btc_arrays["low"])
        / (btc_arrays["high"] - btc_arrays["low"] + 1e-9)
    )
    for x in (ret, z, rsi_like, close):
        np.testing.assert_allclose(run(kind, x, p), oracle(kind, x, p), rtol=0, atol=TOL)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
xs = st.lists(finite, min_size=1, max_size=50).map(lambda v: np.array(v, dtype=np.float64))


@st.composite
def params(draw, kind: str):
    if kind == "triangular":
        a, b, c = sorted(draw(st.lists(finite, min_size=3, max_size=3, unique=True)))
        return [a, b, c]
    if kind == "trapezoidal":
        a, b, c, d = sorted(draw(st.lists(finite, min_size=4, max_size=4, unique=True)))
        return [a, b, c, d]
    if kind == "gaussian":
        return [draw(finite), draw(st.floats(1e-3, 1e3))]
    if kind == "sigmoid":
        slope = draw(st.floats(-50, 50).filter(lambda s: s != 0))
        return [draw(finite), slope]
    return [draw(st.floats(1e-3, 1e3)), draw(st.floats(0.1, 5.0)), draw(finite)]


@pytest.mark.parametrize("kind", list(KERNELS))
@SETTINGS
@given(data=st.data())
def test_matches_skfuzzy_random(kind, data):
    p = data.draw(params(kind))
    x = np.concatenate([data.draw(xs), np.asarray(p)])
    np.testing.assert_allclose(run(kind, x, p), oracle(kind, x, p), rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", list(KERNELS))
@SETTINGS
@given(data=st.data())
def test_output_within_unit_interval(kind, data):
    p = data.draw(params(kind))
    # shoulders too: reuse a parameter for the neighbour one
    if kind in ("triangular", "trapezoidal") and data.draw(st.booleans()):
        p = list(p)
        if data.draw(st.booleans()):
            p[1] = p[0]
        else:
            p[-2] = p[-1]
    extra = data.draw(st.lists(st.floats(allow_nan=False), max_size=10))
    x = np.concatenate([data.draw(xs), np.asarray(p), np.asarray(extra, dtype=np.float64)])
    y = run(kind, x, p)
    assert not np.isnan(y).any()
    assert ((y >= 0.0) & (y <= 1.0)).all()


@pytest.mark.parametrize("kind", list(KERNELS))
def test_nan_passthrough(kind):
    p = {
        "triangular": [0.0, 0.0, 1.0],
        "trapezoidal": [0.0, 1.0, 2.0, 2.0],
        "gaussian": [0.0, 1.0],
        "sigmoid": [0.0, 1.0],
        "gbell": [1.0, 2.0, 0.0],
    }[kind]
    x = np.array([np.nan, 0.5, np.nan, -1e9, 1e9, np.nan])
    y = run(kind, x, p)
    assert np.isnan(y[[0, 2, 5]]).all()
    assert not np.isnan(y[[1, 3, 4]]).any()


def test_triangular_values_at_a_b_c():
    assert run("triangular", [20.0, 30.0, 45.0, 25.0, 37.5], [20.0, 30.0, 45.0]).tolist() == [
        0.0,
        1.0,
        0.0,
        0.5,
        0.5,
    ]


def test_trapezoidal_values_at_a_b_c_d():
    y = run("trapezoidal", [20.0, 30.0, 40.0, 55.0, 25.0, 35.0, 50.0], [20.0, 30.0, 40.0, 55.0])
    assert y.tolist() == [0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0 / 3.0]


def test_smooth_types_at_their_parameters():
    assert run("gaussian", [50.0], [50.0, 10.0])[0] == 1.0
    assert run("gaussian", [60.0], [50.0, 10.0])[0] == pytest.approx(np.exp(-0.5), abs=1e-15)
    assert run("sigmoid", [70.0], [70.0, 0.3])[0] == 0.5
    assert run("gbell", [50.0, 60.0, 40.0], [10.0, 2.0, 50.0]).tolist() == [1.0, 0.5, 0.5]
    falling = run("sigmoid", [0.0, 100.0], [30.0, -0.3])
    assert falling[0] == pytest.approx(1.0 / (1.0 + np.exp(-9.0)), abs=1e-15)
    assert falling[1] < 1e-9


# --- shoulders: hand-written expected values, including points far outside -----------------

FAR = [-1e12, -1e3]
FAR_HI = [1e3, 1e12]


def test_triangular_left_shoulder():
    p = [0.0, 0.0, 30.0]  # "oversold": 1 for every x <= 0, falls to 0 at 30
    x = [*FAR, -5.0, 0.0, 7.5, 15.0, 30.0, 31.0, *FAR_HI, -np.inf]
    expected = [1, 1, 1, 1, 0.75, 0.5, 0, 0, 0, 0, 1]
    assert run("triangular", x, p).tolist() == expected
    # away from the shoulder (x >= b) it is still trimf
    xr = np.linspace(0.0, 100.0, 101)
    np.testing.assert_allclose(run("triangular", xr, p), fuzz.trimf(xr, p), atol=TOL)


def test_triangular_right_shoulder():
    p = [70.0, 100.0, 100.0]  # "overbought": 0 below 70, 1 for every x >= 100
    x = [*FAR, 69.0, 70.0, 85.0, 97.0, 100.0, 101.0, *FAR_HI, np.inf]
    expected = [0, 0, 0, 0, 0.5, 0.9, 1, 1, 1, 1, 1]
    y = run("triangular", x, p)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-15)
    xl = np.linspace(0.0, 100.0, 101)
    np.testing.assert_allclose(run("triangular", xl, p), fuzz.trimf(xl, p), atol=TOL)


def test_trapezoidal_left_shoulder():
    p = [-2.0, -2.0, -1.0, 0.0]  # 1 for every x <= -1, falls to 0 at 0
    x = [*FAR, -2.5, -2.0, -1.5, -1.0, -0.25, 0.0, 0.5, *FAR_HI]
    expected = [1, 1, 1, 1, 1, 1, 0.25, 0, 0, 0, 0]
    assert run("trapezoidal", x, p).tolist() == expected
    xr = np.linspace(-2.0, 3.0, 501)
    np.testing.assert_allclose(run("trapezoidal", xr, p), fuzz.trapmf(xr, p), atol=TOL)


def test_trapezoidal_right_shoulder():
    p = [0.0, 1.0, 2.0, 2.0]  # 0 below 0, rises to 1 at 1, 1 for every x >= 1
    x = [*FAR, -0.5, 0.0, 0.25, 1.0, 1.5, 2.0, 2.5, *FAR_HI]
    expected = [0, 0, 0, 0, 0.25, 1, 1, 1, 1, 1, 1]
    assert run("trapezoidal", x, p).tolist() == expected
    xl = np.linspace(-3.0, 2.0, 501)
    np.testing.assert_allclose(run("trapezoidal", xl, p), fuzz.trapmf(xl, p), atol=TOL)


def test_trapezoidal_both_shoulders_is_everywhere_one():
    y = run("trapezoidal", [-1e9, 0.0, 0.5, 1.0, 1e9], [0.0, 0.0, 1.0, 1.0])
    assert y.tolist() == [1.0] * 5


def test_non_shoulder_sets_are_zero_outside_open_interval():
    y = run("triangular", [-1e12, 20.0, 45.0, 1e12], [20.0, 30.0, 45.0])
    assert y.tolist() == [0.0] * 4
    y = run("trapezoidal", [-1e12, 20.0, 55.0, 1e12], [20.0, 30.0, 40.0, 55.0])
    assert y.tolist() == [0.0] * 4


def test_kernel_paths_in_registry_resolve():
    for kind, spec in MEMBERSHIPS.items():
        assert spec.kernel_function() is KERNELS[kind]


# --- parameter validation through the registry -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("triangular", [1, 2], "triangular takes 3 parameters [a, b, c], got 2: [1, 2]"),
        ("trapezoidal", [1, 2, 3], "trapezoidal takes 4 parameters [a, b, c, d], got 3"),
        ("gaussian", [1, 2, 3], "gaussian takes 2 parameters [mean, sigma], got 3"),
        ("triangular", [40, 20, 0], "expected a <= b <= c, got [40, 20, 0]"),
        ("triangular", [30, 20, 40], "expected a <= b <= c, got [30, 20, 40]"),
        ("triangular", [5, 5, 5], "expected a < c (the set has zero width), got [5, 5, 5]"),
        ("trapezoidal", [0, 2, 1, 3], "expected a <= b <= c <= d, got [0, 2, 1, 3]"),
        ("trapezoidal", [1, 1, 1, 1], "expected a < d (the set has zero width)"),
        ("gaussian", [0, 0], "expected sigma > 0, got [0, 0]"),
        ("gaussian", [0, -1.5], "expected sigma > 0, got [0, -1.5]"),
        ("gbell", [0, 2, 50], "expected width > 0, got [0, 2, 50]"),
        ("gbell", [-1, 2, 50], "expected width > 0"),
        ("gbell", [1, 0, 50], "expected slope > 0, got [1, 0, 50]"),
        ("sigmoid", [50, 0], "expected slope != 0"),
        ("triangular", [0, "b", 1], "parameter b must be a finite number, got 'b'"),
        ("gaussian", [0, None], "parameter sigma must be a finite number, got None"),
        ("sigmoid", [True, 1], "parameter center must be a finite number, got True"),
        ("gaussian", [float("nan"), 1], "parameter mean must be a finite number, got nan"),
        ("gaussian", "50, 10", "expected a list [mean, sigma], got '50, 10'"),
    ],
)
def test_validation_messages(kind, params, message):
    with pytest.raises(ValueError) as exc:
        get_membership_spec(kind).validate(params)
    assert message in str(exc.value)


def test_validation_accepts_shoulders_and_returns_floats():
    assert get_membership_spec("triangular").validate([0, 0, 30]) == (0.0, 0.0, 30.0)
    assert get_membership_spec("TRAPEZOIDAL").validate((0, 1, 2, 2)) == (0.0, 1.0, 2.0, 2.0)
    assert get_membership_spec("gbell").validate([1, 2.5, -3]) == (1.0, 2.5, -3.0)


def test_unknown_membership_type_lists_known():
    with pytest.raises(KeyError, match="known types: triangular, trapezoidal"):
        get_membership_spec("bell")


@pytest.mark.parametrize("mtype,params", [
    ("triangular", [30, 50, 70]), ("trapezoidal", [20, 40, 60, 80]), ("gaussian", [50, 10]),
    ("sigmoid", [50, 0.2]), ("gbell", [20, 2, 50]),
])
def test_two_thread_split_equals_the_single_kernel(mtype, params):
    """Inputs at or above SPLIT_MIN are computed in chunks by two threads: bit-identical results."""
    import importlib

    wrapper = importlib.import_module("fuzzyvec.features.membership")

    rng = np.random.default_rng(5)
    kernel = get_membership_spec(mtype).kernel_function()
    for n in (wrapper.SPLIT_MIN - 1, wrapper.SPLIT_MIN, wrapper.SPLIT_MIN + 12_345):
        x = rng.uniform(-10, 110, n)
        x[::997] = np.nan
        got = wrapper.membership(mtype, x, params)
        want = kernel(x, np.array(params, dtype=np.float64))
        np.testing.assert_array_equal(got, want)
        assert got.shape == x.shape
