"""Stop-adjustment callbacks for vectorbt's ``Portfolio.from_signals`` (SPEC §7).

vectorbt checks a column's stops *before* it looks at that bar's signal, and a stop hit
cancels the signal (one order per bar and column). With ``execution: next_open`` a signal
executes at the bar's **open**, before anything else can happen in the bar, so on a bar
where a column has an exit signal its stops must not be checked. These two callbacks do
that: vectorbt calls them for every (bar, column) before the stop check, and they switch
the column's stops off on the bars flagged in ``skip`` while a position is open. The
position is closed by the signal on that bar anyway, and vectorbt clears the stops of a
closed position, so nothing else changes.

``skip`` is a boolean (n_bars, n_columns) array; with ``execution: close`` it is all False
(the stop is hit during the bar, before the close at which the signal executes).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def skip_sl_on_signal_nb(c, skip):
    """``adjust_sl_func_nb`` for ``Portfolio.from_signals``: no stop-loss on skipped bars.

    Reference: the bar order of SPEC §7 with next-open execution (the signal fills at the
    open, the stop can only be hit after it), as simulated bar by bar in
    ``tests/reference_sim.py``. Returns ``(nan, False)`` when ``skip[c.i, c.col]`` and a
    position is open, else vectorbt's current ``(c.curr_stop, c.curr_trail)`` unchanged.
    """
    if c.position_now != 0 and skip[c.i, c.col]:
        return np.nan, False
    return c.curr_stop, c.curr_trail


@njit(cache=True)
def skip_tp_on_signal_nb(c, skip):
    """``adjust_tp_func_nb`` for ``Portfolio.from_signals``: no take-profit on skipped bars.

    Reference: as :func:`skip_sl_on_signal_nb`. Returns ``nan`` when ``skip[c.i, c.col]``
    and a position is open, else vectorbt's current ``c.curr_stop``.
    """
    if c.position_now != 0 and skip[c.i, c.col]:
        return np.nan
    return c.curr_stop
