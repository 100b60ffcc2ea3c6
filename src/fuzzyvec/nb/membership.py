"""Membership-function kernels (SPEC §3.2).

One kernel per membership type, one implementation (there is no separate scalar path: a
scalar is a length-1 array). Every kernel takes ``x`` (float64, 1-D) and ``p`` (float64,
1-D parameters in :data:`fuzzyvec.strategy.registry.MEMBERSHIPS` order) and returns float64 values in
[0, 1]; a NaN input gives a NaN output. Parameters are validated at load time by
:meth:`fuzzyvec.strategy.registry.MembershipSpec.validate`, not here.

Reference: scikit-fuzzy 0.5 ``trimf``, ``trapmf``, ``gaussmf``, ``sigmf(x, center, slope)``
and ``gbellmf``; the results agree to 1e-12 (in practice to an ulp or two) away from the
shoulders, where fuzzyvec deliberately differs: a triangular set with ``a == b`` (or a
trapezoid with ``a == b``) is a *left shoulder* that stays at 1 for every ``x`` below its
peak, and ``b == c`` (``c == d``) is a *right shoulder*. scikit-fuzzy returns 0 there.

Speed (benchmarks/bench_kernels.py, memberships vs scikit-fuzzy): every inner loop is
branch-free and call-free, so LLVM vectorises it, with 512-bit vectors where the CPU has
AVX-512 (:func:`_prefer_512bit_vectors`):

- triangular and trapezoidal sets are one ramp ``(x - a) / (b - a)`` or ``(d - x) / (d - c)``
  per element, chosen by a select and clamped to [0, 1]; the shoulder cases are separate
  loops chosen once per call. The ramps are scikit-fuzzy's divisions, so the values are
  bit-identical to it away from the shoulders (and exactly 1 at the peak);
- ``exp`` is :func:`_exp_nb`: Cody-Waite range reduction, a degree-11 polynomial and the
  power of two built from exponent bits. numba's ``np.exp`` on a scalar is a libm call per
  element, which does not vectorise, and numba's SVML path is unavailable (llvmlite 0.50 is
  built without the SVML patch). At most 1 ulp from the correctly rounded value, like
  numpy's exp; same overflow, underflow and NaN behaviour;
- gbell with ``2 * slope`` an integer or a half-integer up to 63.5 (slope 1, 2, 0.75, ...)
  uses multiplications (and one ``sqrt``) instead of ``pow``, and ``* (1 / width)`` instead
  of ``/ width`` (a few ulp from scikit-fuzzy's ``pow``, at most 5e-15 in the tests).

The kernels are single-threaded (and ``nogil``). numba's ``parallel=True`` was measured and
left out: on this project's 2-core machine it halves a 1M-point call when the other core is
idle, but makes it 5-10x slower when the other core is busy (the parallel region waits for
a thread that is not scheduled). :func:`fuzzyvec.membership` instead splits large inputs between the
calling thread and a helper through the ``*_into_nb`` kernels (:data:`INTO_KERNELS`),
without ever waiting for a helper that has not started.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# fastmath flags for the exp-based loops: only FMA contraction (no reassociation, no
# reciprocal approximations, NaN and inf semantics kept).
_FM = {"contract"}

# --- branch-free exp ------------------------------------------------------------------------

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm: 32 significant bits, k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
# exp(r) = 1 + r + r**2 * q(r) on |r| <= ln(2) / 2; q: Chebyshev fit of degree 9 (mpmath),
# |q error| < 1.1e-16, highest power first.
_Q0 = 2.5100375832561234e-08
_Q1 = 2.7620075879983367e-07
_Q2 = 2.7557268480310024e-06
_Q3 = 2.4801521322368692e-05
_Q4 = 0.00019841269863040545
_Q5 = 0.0013888888917196719
_Q6 = 0.008333333333330065
_Q7 = 0.041666666666624164
_Q8 = 0.16666666666666669
_Q9 = 0.5000000000000001
_ROUND = 6755399441055744.0  # 1.5 * 2**52
_ROUND_BITS = np.int64(0x4338000000000000)  # its bit pattern


@njit(cache=True, inline="always", fastmath=_FM)
def _exp_core_nb(v):
    """``exp(v)`` for ``-746 <= v <= 710`` (not NaN), without branches or calls.

    Reference: ``numpy.exp``; at most 1 ulp from the correctly rounded value (numpy's: the
    same), measured against mpmath; 0 below -745.2 (subnormals from -708.4), ``inf`` above
    709.78.
    """
    # k = round(v / ln 2): adding 1.5 * 2**52 rounds to an integer and leaves it in the low
    # mantissa bits of t (exact: no reassociation flag on this function)
    t = v * _LOG2E + _ROUND
    kf = t - _ROUND
    r = (v - kf * _LN2_HI) - kf * _LN2_LO  # |r| <= ln(2) / 2
    q = _Q0
    q = q * r + _Q1
    q = q * r + _Q2
    q = q * r + _Q3
    q = q * r + _Q4
    q = q * r + _Q5
    q = q * r + _Q6
    q = q * r + _Q7
    q = q * r + _Q8
    q = q * r + _Q9
    y = 1.0 + (r + (r * r) * q)
    # times 2**k as two normal powers of two, so that k down to -1076 (subnormal results) and
    # up to 1024 (overflow to inf) need no special case
    k = np.float64(t).view(np.int64) - _ROUND_BITS
    k1 = k >> 1
    k2 = k - k1
    y = y * np.int64((k1 + 1023) << 52).view(np.float64)
    return y * np.int64((k2 + 1023) << 52).view(np.float64)


@njit(cache=True, inline="always", fastmath=_FM)
def _exp_nb(v):
    """``exp(v)`` for any float64 ``v`` (NaN gives NaN), without branches or calls.

    Reference: ``numpy.exp`` (see :func:`_exp_core_nb`).
    """
    vc = v if v > -746.0 else -746.0  # NaN -> -746: the integer part stays defined
    vc = vc if vc < 710.0 else 710.0
    y = _exp_core_nb(vc)
    return y if v == v else v


# --- element loops (write into ``out``; branch-free, so that LLVM vectorises them) ---------


@intrinsic
def _prefer_512bit_vectors(typingctx):
    """Ask LLVM for 512-bit vectors in the calling function (clang's ``-mprefer-vector-width=512``).

    On AVX-512 CPUs LLVM vectorises with 256-bit registers unless a function says otherwise;
    the exp-bound loops run about 1.6x faster with 512-bit ones. Without AVX-512 the hint
    has no effect. Only an optimisation hint: if llvmlite ever refuses it, nothing changes.
    """

    def codegen(context, builder, signature, args):
        try:  # llvmlite's FunctionAttributes checks names against a list without key="value" ones
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # pragma: no cover - a hint only
            pass
        return context.get_dummy_value()

    return types.void(), codegen


@njit(cache=True, error_model="numpy")
def _tent_loop_nb(x, out, a, b, d, w_left, w_right):
    """``(x - a) / w_left`` for ``x < b``, else ``(d - x) / w_right``; clamped to [0, 1]."""
    _prefer_512bit_vectors()
    for i in range(x.shape[0]):
        xi = x[i]
        below = xi < b
        num = (xi - a) if below else (d - xi)
        den = w_left if below else w_right
        v = num / den
        v = 0.0 if v <= 0.0 else v  # NaN stays NaN (both comparisons are false)
        out[i] = 1.0 if v >= 1.0 else v


@njit(cache=True, error_model="numpy")
def _rise_loop_nb(x, out, a, w):
    """``(x - a) / w`` clamped to [0, 1]."""
    _prefer_512bit_vectors()
    for i in range(x.shape[0]):
        v = (x[i] - a) / w
        v = 0.0 if v <= 0.0 else v
        out[i] = 1.0 if v >= 1.0 else v


@njit(cache=True, error_model="numpy")
def _fall_loop_nb(x, out, d, w):
    """``(d - x) / w`` clamped to [0, 1]."""
    _prefer_512bit_vectors()
    for i in range(x.shape[0]):
        v = (d - x[i]) / w
        v = 0.0 if v <= 0.0 else v
        out[i] = 1.0 if v >= 1.0 else v


@njit(cache=True)
def _one_loop_nb(x, out):
    """1 everywhere, NaN for NaN."""
    for i in range(x.shape[0]):
        xi = x[i]
        out[i] = 1.0 if xi == xi else xi


@njit(cache=True, fastmath=_FM)
def _gauss_loop_nb(x, out, mean, neg_inv_den):
    _prefer_512bit_vectors()
    for i in range(x.shape[0]):
        d = x[i] - mean
        v = (d * d) * neg_inv_den  # <= 0 or NaN: only the lower clamp of _exp_nb is needed
        y = _exp_core_nb(v if v > -746.0 else -746.0)
        out[i] = y if v == v else v


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _sigmoid_loop_nb(x, out, center, neg_slope):
    _prefer_512bit_vectors()
    for i in range(x.shape[0]):
        out[i] = 1.0 / (1.0 + _exp_nb(neg_slope * (x[i] - center)))


@njit(cache=True, inline="always")
def _ipow_nb(t, b0, b1, b2, b3, b4, b5):
    """``t ** h`` for ``0 <= h < 64`` given by its bits ``b0..b5`` (loop-invariant selects)."""
    y = t if b0 else 1.0
    s = t * t
    y = y * s if b1 else y
    s = s * s
    y = y * s if b2 else y
    s = s * s
    y = y * s if b3 else y
    s = s * s
    y = y * s if b4 else y
    s = s * s
    return y * s if b5 else y


@njit(cache=True, error_model="numpy")
def _gbell_int_loop_nb(x, out, center, inv_width, m):
    """``1 / (1 + |t| ** (m / 2))``, ``t = (x - center) * inv_width``, integer ``1 <= m <= 127``.

    ``|t| ** (m // 2)`` by squaring (the bits of ``m // 2`` are fixed for the whole loop, so
    the selects vectorise), times ``sqrt(|t|)`` when ``m`` is odd. A few ulp from ``pow``.
    """
    _prefer_512bit_vectors()
    h = m >> 1
    b0 = (h & 1) != 0
    b1 = (h & 2) != 0
    b2 = (h & 4) != 0
    b3 = (h & 8) != 0
    b4 = (h & 16) != 0
    b5 = (h & 32) != 0
    if m & 1:
        for i in range(x.shape[0]):
            t = abs((x[i] - center) * inv_width)
            out[i] = 1.0 / (1.0 + math.sqrt(t) * _ipow_nb(t, b0, b1, b2, b3, b4, b5))
    else:
        for i in range(x.shape[0]):
            t = abs((x[i] - center) * inv_width)
            out[i] = 1.0 / (1.0 + _ipow_nb(t, b0, b1, b2, b3, b4, b5))


@njit(cache=True)
def _gbell_pow_loop_nb(x, out, center, width, e):
    for i in range(x.shape[0]):
        out[i] = 1.0 / (1.0 + np.abs((x[i] - center) / width) ** e)


# --- public kernels -------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def triangular_into_nb(x, p, out):
    """:func:`triangular_1d_nb` written into ``out`` (float64, same length as ``x``)."""
    a = p[0]
    b = p[1]
    c = p[2]
    if a == b and b == c:
        _one_loop_nb(x, out)
    elif a == b:
        _fall_loop_nb(x, out, c, c - b)
    elif b == c:
        _rise_loop_nb(x, out, a, b - a)
    else:
        _tent_loop_nb(x, out, a, b, c, b - a, c - b)


@njit(cache=True, nogil=True)
def triangular_1d_nb(x, p):
    """Triangular membership ``p = [a, b, c]`` with ``a <= b <= c``.

    Reference: scikit-fuzzy ``trimf(x, [a, b, c])``: 0 outside the open interval (a, c),
    ``(x - a) / (b - a)`` on (a, b), 1 at ``b``, ``(c - x) / (c - b)`` on (b, c).

    Shoulders (SPEC §3.2, not in scikit-fuzzy): ``a == b`` is a left shoulder, 1 for every
    ``x <= b``, falling on [b, c] and 0 for ``x >= c``; ``b == c`` is a right shoulder, 0 for
    ``x <= a``, rising on [a, b] and 1 for every ``x >= b``. (``a == b == c`` is rejected by
    validation; the kernel would return 1 everywhere.)

    Computed as a ramp clamped to [0, 1]: the rising ramp below ``b``, the falling one from
    ``b`` on (exactly 1 at ``b``); a shoulder keeps only its other ramp.

    Parameters
    ----------
    x : float64 array (n,)
        Input values; NaN passes through.
    p : float64 array (3,)
        ``[a, b, c]``.

    Returns
    -------
    float64 array (n,)
        Membership degrees in [0, 1].
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    triangular_into_nb(x, p, out)
    return out


@njit(cache=True, nogil=True)
def trapezoidal_into_nb(x, p, out):
    """:func:`trapezoidal_1d_nb` written into ``out`` (float64, same length as ``x``)."""
    a = p[0]
    b = p[1]
    c = p[2]
    d = p[3]
    if a == b and c == d:
        _one_loop_nb(x, out)
    elif a == b:
        _fall_loop_nb(x, out, d, d - c)
    elif c == d:
        _rise_loop_nb(x, out, a, b - a)
    else:
        _tent_loop_nb(x, out, a, b, d, b - a, d - c)


@njit(cache=True, nogil=True)
def trapezoidal_1d_nb(x, p):
    """Trapezoidal membership ``p = [a, b, c, d]`` with ``a <= b <= c <= d``.

    Reference: scikit-fuzzy ``trapmf(x, [a, b, c, d])``: 0 outside the open interval (a, d),
    ``(x - a) / (b - a)`` on (a, b), 1 on [b, c], ``(d - x) / (d - c)`` on (c, d).

    Shoulders (SPEC §3.2, not in scikit-fuzzy): ``a == b`` is a left shoulder, 1 for every
    ``x <= c``; ``c == d`` is a right shoulder, 1 for every ``x >= b``.

    Computed as a ramp clamped to [0, 1]: the rising ramp below ``b``, the falling one from
    ``b`` on (at least 1 on [b, c]); a shoulder keeps only its other ramp.

    Parameters
    ----------
    x : float64 array (n,)
        Input values; NaN passes through.
    p : float64 array (4,)
        ``[a, b, c, d]``.

    Returns
    -------
    float64 array (n,)
        Membership degrees in [0, 1].
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    trapezoidal_into_nb(x, p, out)
    return out


@njit(cache=True, nogil=True)
def gaussian_into_nb(x, p, out):
    """:func:`gaussian_1d_nb` written into ``out`` (float64, same length as ``x``)."""
    mean = p[0]
    sigma = p[1]
    neg_inv_den = -1.0 / (2.0 * sigma**2.0)
    _gauss_loop_nb(x, out, mean, neg_inv_den)


@njit(cache=True, nogil=True)
def gaussian_1d_nb(x, p):
    """Gaussian membership ``p = [mean, sigma]``: ``exp(-(x - mean)**2 / (2 * sigma**2))``.

    Reference: scikit-fuzzy ``gaussmf(x, mean, sigma)``. Computed as
    ``exp((x - mean)**2 * (-1 / (2 * sigma**2)))`` with :func:`_exp_nb`.

    Parameters
    ----------
    x : float64 array (n,)
        Input values; NaN passes through.
    p : float64 array (2,)
        ``[mean, sigma]`` with ``sigma > 0``.

    Returns
    -------
    float64 array (n,)
        Membership degrees in [0, 1].
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    gaussian_into_nb(x, p, out)
    return out


@njit(cache=True, nogil=True)
def sigmoid_into_nb(x, p, out):
    """:func:`sigmoid_1d_nb` written into ``out`` (float64, same length as ``x``)."""
    center = p[0]
    slope = p[1]
    _sigmoid_loop_nb(x, out, center, -slope)


@njit(cache=True, nogil=True)
def sigmoid_1d_nb(x, p):
    """Sigmoid membership ``p = [center, slope]``: ``1 / (1 + exp(-slope * (x - center)))``.

    Reference: scikit-fuzzy ``sigmf(x, center, slope)``. A negative slope gives a falling
    set. Overflow of ``exp`` gives exactly 0 (never NaN) for finite ``x``.

    Parameters
    ----------
    x : float64 array (n,)
        Input values; NaN passes through.
    p : float64 array (2,)
        ``[center, slope]``.

    Returns
    -------
    float64 array (n,)
        Membership degrees in [0, 1].
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    sigmoid_into_nb(x, p, out)
    return out


@njit(cache=True, nogil=True)
def gbell_into_nb(x, p, out):
    """:func:`gbell_1d_nb` written into ``out`` (float64, same length as ``x``)."""
    width = p[0]
    slope = p[1]
    center = p[2]
    e = 2.0 * slope
    m2 = 2.0 * e
    inv_width = 1.0 / width
    # multiplications instead of pow, and instead of the division by width (1 / width must be
    # a normal number for that: width below ~4.5e307)
    fast = m2 >= 1.0 and m2 <= 127.0 and m2 == math.floor(m2)
    if fast and inv_width >= 2.2250738585072014e-308 and not math.isinf(inv_width):
        _gbell_int_loop_nb(x, out, center, inv_width, np.int64(m2))
    else:
        _gbell_pow_loop_nb(x, out, center, width, e)


@njit(cache=True, nogil=True)
def gbell_1d_nb(x, p):
    """Generalised bell membership ``p = [width, slope, center]``.

    ``1 / (1 + |(x - center) / width| ** (2 * slope))``.

    Reference: scikit-fuzzy ``gbellmf(x, width, slope, center)``. When ``4 * slope`` is an
    integer up to 127 (``2 * slope`` an integer or a half-integer, e.g. slope 1, 2, 0.75) the
    power is multiplications (and a ``sqrt``) and the division by ``width`` a multiplication
    by ``1 / width`` (a few ulp from scikit-fuzzy's ``pow``); otherwise the formula above.

    Parameters
    ----------
    x : float64 array (n,)
        Input values; NaN passes through.
    p : float64 array (3,)
        ``[width, slope, center]`` with ``width > 0`` and ``slope > 0``.

    Returns
    -------
    float64 array (n,)
        Membership degrees in [0, 1].
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    gbell_into_nb(x, p, out)
    return out


#: ``*_1d_nb`` kernel name -> the same kernel writing into a given output array
#: (``fuzzyvec.membership`` fills one output from two threads with it).
INTO_KERNELS = {
    "triangular_1d_nb": triangular_into_nb,
    "trapezoidal_1d_nb": trapezoidal_into_nb,
    "gaussian_1d_nb": gaussian_into_nb,
    "sigmoid_1d_nb": sigmoid_into_nb,
    "gbell_1d_nb": gbell_into_nb,
}
