"""Decision kernel: class probabilities → positions (SPEC §6).

One kernel, :func:`decide_nb`. The sequential state (current position, bars since the last
acted signal) lives in local variables of its loop; nothing else holds position state. The
same kernel serves a live bar: called with one row and the state returned by the previous
call it gives the position the batch run would give.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: "bars since the last acted signal" for "never": large, and far from int64 overflow.
NEVER_BARS_SINCE = 1 << 40


@njit(cache=True)
def decide_nb(
    probs,
    thresholds,
    min_signal_separation,
    position_awareness,
    allow_short_from_flat,
    reverse_on_opposite,
    allow_short,
    init_position,
    init_bars_since,
):
    """Turn class probabilities into positions, one column per confidence threshold.

    Reference: SPEC §6, applied bar by bar to each column ``j`` (threshold ``thresholds[j]``)
    with the state ``pos`` (−1 short, 0 flat, +1 long) and ``since`` (bars since the last
    acted signal). At each row ``t``, first ``since += 1`` (saturating at
    :data:`NEVER_BARS_SINCE`), then, in order:

    1. any NaN in ``probs[t]`` → HOLD;
    2. ``confidence = max(probs[t])``; ``confidence < threshold`` → HOLD;
    3. ``signal = argmax(probs[t])`` (ties: lowest index, i.e. BUY before HOLD before SELL);
       ``signal == HOLD`` → HOLD;
    4. ``since < min_signal_separation`` → HOLD;
    5. target position:

       - with ``position_awareness``: BUY while long / SELL while short → HOLD; BUY while
         flat → long; SELL while flat → short if ``allow_short_from_flat`` and
         ``allow_short``, else HOLD; an opposite signal (BUY while short, SELL while long)
         closes to flat, or with ``reverse_on_opposite`` reverses (to short only if
         ``allow_short``, else flat);
       - without it: BUY → long; SELL → short if ``allow_short`` else flat.

    HOLD keeps ``pos``. A signal is *acted* when it changes ``pos``; then ``since = 0``.

    So ``since`` at row ``t`` is ``t - (last row that changed the position)``, counted from
    the state before row 0: an acted signal on row ``t0`` allows the next one at row
    ``t0 + min_signal_separation`` at the earliest (``min_signal_separation <= 1`` disables
    the filter). ``init_bars_since`` has the meaning of the returned ``final_bars_since``: the
    counter *after* the row preceding row 0 (0 if that row acted); use
    :data:`NEVER_BARS_SINCE` for "never".

    Parameters
    ----------
    probs : float64 array (n, 3)
        Class probabilities, columns BUY = 0, HOLD = 1, SELL = 2.
    thresholds : float64 array (k,)
        Confidence thresholds, one output column each.
    min_signal_separation : int
        Minimum distance in bars between two acted signals.
    position_awareness, allow_short_from_flat, reverse_on_opposite, allow_short : bool
        Rule switches (see above).
    init_position : int64 array (k,)
        Position before row 0, in {−1, 0, 1}.
    init_bars_since : int64 array (k,)
        Bars since the last acted signal, as of the row before row 0.

    Returns
    -------
    positions : int8 array (n, k)
        Position held after each row's decision.
    final_position : int64 array (k,)
        Position after the last row (``init_position`` when ``n == 0``).
    final_bars_since : int64 array (k,)
        Counter after the last row; pass both back in to continue with the next row.
    """
    n = probs.shape[0]
    k = thresholds.shape[0]
    # Per-row signal and confidence do not depend on the column: compute them once.
    signal = np.empty(n, dtype=np.int64)  # -1 for a NaN row
    conf = np.empty(n, dtype=np.float64)
    for t in range(n):
        best = 0
        has_nan = False
        for c in range(3):
            if np.isnan(probs[t, c]):
                has_nan = True
            elif c > 0 and probs[t, c] > probs[t, best]:
                best = c
        if has_nan:
            signal[t] = -1
            conf[t] = np.nan
        else:
            signal[t] = best
            conf[t] = probs[t, best]

    positions = np.empty((n, k), dtype=np.int8)
    final_position = np.empty(k, dtype=np.int64)
    final_bars_since = np.empty(k, dtype=np.int64)
    for j in range(k):
        thr = thresholds[j]
        pos = init_position[j]
        since = init_bars_since[j]
        for t in range(n):
            if since < NEVER_BARS_SINCE:
                since += 1
            sig = signal[t]
            new = pos
            if sig >= 0 and sig != 1 and not conf[t] < thr and since >= min_signal_separation:
                if position_awareness:
                    if sig == 0:  # BUY
                        if pos == 0:
                            new = 1
                        elif pos == -1:
                            new = 1 if reverse_on_opposite else 0
                    else:  # SELL
                        if pos == 0:
                            if allow_short_from_flat and allow_short:
                                new = -1
                        elif pos == 1:
                            new = -1 if (reverse_on_opposite and allow_short) else 0
                else:
                    if sig == 0:
                        new = 1
                    else:
                        new = -1 if allow_short else 0
            if new != pos:
                pos = new
                since = 0
            positions[t, j] = pos
        final_position[j] = pos
        final_bars_since[j] = since
    return positions, final_position, final_bars_since
