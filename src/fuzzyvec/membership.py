"""Membership-function wrappers: validate parameters, call the kernel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import StrategyError
from .registry import get_membership_spec

__all__ = ["membership"]


def membership(type: str, x: Any, params: Sequence[float]) -> np.ndarray:
    """Degree of membership of ``x`` in a fuzzy set.

    Parameters
    ----------
    type:
        ``triangular`` [a, b, c], ``trapezoidal`` [a, b, c, d], ``gaussian`` [mean, sigma],
        ``sigmoid`` [center, slope] or ``gbell`` [width, slope, center].
    x:
        Values (array-like); NaN gives NaN.
    params:
        Parameters in the order above; validated like a strategy file.

    Returns
    -------
    numpy.ndarray
        float64 values in [0, 1] (NaN where ``x`` is NaN).
    """
    try:
        spec = get_membership_spec(type)
        p = spec.validate(list(params))
    except (KeyError, ValueError) as exc:
        raise StrategyError(f"membership({type!r}, params={list(params)!r}): {exc.args[0]}") from None
    xs = np.ascontiguousarray(np.atleast_1d(np.asarray(x, dtype=np.float64)))
    return spec.kernel_function()(xs.ravel(), np.asarray(p, dtype=np.float64)).reshape(xs.shape)
