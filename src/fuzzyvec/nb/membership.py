"""Membership-function kernels (SPEC §3.2).

One kernel per membership type, one implementation (there is no separate scalar path: a
scalar is a length-1 array). Every kernel takes ``x`` (float64, 1-D) and ``p`` (float64,
1-D parameters in :data:`fuzzyvec.registry.MEMBERSHIPS` order) and returns float64 values in
[0, 1]; a NaN input gives a NaN output. Parameters are validated at load time by
:meth:`fuzzyvec.registry.MembershipSpec.validate`, not here.

Reference: scikit-fuzzy 0.5 ``trimf``, ``trapmf``, ``gaussmf``, ``sigmf(x, center, slope)``
and ``gbellmf``; the formulas below are written in the same arithmetic order so the results
agree to 1e-12 (in practice bit for bit) away from the shoulders, where fuzzyvec deliberately
differs: a triangular set with ``a == b`` (or a trapezoid with ``a == b``) is a *left
shoulder* that stays at 1 for every ``x`` below its peak, and ``b == c`` (``c == d``) is a
*right shoulder*. scikit-fuzzy returns 0 there.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def triangular_1d_nb(x, p):
    """Triangular membership ``p = [a, b, c]`` with ``a <= b <= c``.

    Reference: scikit-fuzzy ``trimf(x, [a, b, c])``: 0 outside the open interval (a, c),
    ``(x - a) / (b - a)`` on (a, b), 1 at ``b``, ``(c - x) / (c - b)`` on (b, c).

    Shoulders (SPEC §3.2, not in scikit-fuzzy): ``a == b`` is a left shoulder, 1 for every
    ``x <= b``, falling on [b, c] and 0 for ``x >= c``; ``b == c`` is a right shoulder, 0 for
    ``x <= a``, rising on [a, b] and 1 for every ``x >= b``. (``a == b == c`` is rejected by
    validation; the kernel would return 1 everywhere.)

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
    a = p[0]
    b = p[1]
    c = p[2]
    left = a == b
    right = b == c
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        xi = x[i]
        if np.isnan(xi):
            out[i] = np.nan
        elif xi == b:
            out[i] = 1.0
        elif xi < b:
            if left:
                out[i] = 1.0
            elif xi > a:
                out[i] = (xi - a) / (b - a)
            else:
                out[i] = 0.0
        else:  # xi > b
            if right:
                out[i] = 1.0
            elif xi < c:
                out[i] = (c - xi) / (c - b)
            else:
                out[i] = 0.0
    return out


@njit(cache=True)
def trapezoidal_1d_nb(x, p):
    """Trapezoidal membership ``p = [a, b, c, d]`` with ``a <= b <= c <= d``.

    Reference: scikit-fuzzy ``trapmf(x, [a, b, c, d])``: 0 outside the open interval (a, d),
    ``(x - a) / (b - a)`` on (a, b), 1 on [b, c], ``(d - x) / (d - c)`` on (c, d).

    Shoulders (SPEC §3.2, not in scikit-fuzzy): ``a == b`` is a left shoulder, 1 for every
    ``x <= c``; ``c == d`` is a right shoulder, 1 for every ``x >= b``.

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
    a = p[0]
    b = p[1]
    c = p[2]
    d = p[3]
    left = a == b
    right = c == d
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        xi = x[i]
        if np.isnan(xi):
            out[i] = np.nan
        elif xi >= b and xi <= c:
            out[i] = 1.0
        elif xi < b:
            if left:
                out[i] = 1.0
            elif xi > a:
                out[i] = (xi - a) / (b - a)
            else:
                out[i] = 0.0
        else:  # xi > c
            if right:
                out[i] = 1.0
            elif xi < d:
                out[i] = (d - xi) / (d - c)
            else:
                out[i] = 0.0
    return out


@njit(cache=True)
def gaussian_1d_nb(x, p):
    """Gaussian membership ``p = [mean, sigma]``: ``exp(-(x - mean)**2 / (2 * sigma**2))``.

    Reference: scikit-fuzzy ``gaussmf(x, mean, sigma)``.

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
    mean = p[0]
    sigma = p[1]
    den = 2.0 * sigma**2.0
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        d = x[i] - mean
        out[i] = np.exp(-(d**2.0) / den)
    return out


@njit(cache=True)
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
    center = p[0]
    slope = p[1]
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = 1.0 / (1.0 + np.exp(-slope * (x[i] - center)))
    return out


@njit(cache=True)
def gbell_1d_nb(x, p):
    """Generalised bell membership ``p = [width, slope, center]``.

    ``1 / (1 + |(x - center) / width| ** (2 * slope))``.

    Reference: scikit-fuzzy ``gbellmf(x, width, slope, center)``.

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
    width = p[0]
    slope = p[1]
    center = p[2]
    e = 2.0 * slope
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = 1.0 / (1.0 + np.abs((x[i] - center) / width) ** e)
    return out
