"""Kernel of the external-predictions backtest (SPEC §8): which direction acts at each bar.

The simulation itself is the one engine kernel (:func:`fuzzyvec.nb.engine.simulate_nb` with
``MODE_SIGNAL``); this module only turns a prediction file's signals and confidences into the
int8 column it reads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def acting_signals_nb(signal, confidence, threshold):
    """The direction that acts at each bar's open: +1 long, -1 short, 0 none (int8, (n,)).

    Reference: SPEC §8, "a signal acts at the open of its bar if ``confidence >=
    signal_threshold``". ``signal`` is int8 (+1 long, -1 short, 0 neutral or no row);
    ``confidence`` is NaN for bars without a row (NaN never reaches the threshold).
    """
    n = signal.shape[0]
    out = np.zeros(n, dtype=np.int8)
    for i in range(n):
        if signal[i] != 0 and confidence[i] >= threshold:
            out[i] = signal[i]
    return out
