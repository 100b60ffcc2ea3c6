"""Membership-function wrappers: validate parameters, call the kernel.

Large inputs (at least :data:`SPLIT_MIN` points) are computed in chunks by the calling thread
and one helper thread, sharing a chunk counter. The caller never waits for a helper that has
not started (a busy machine may not schedule it for milliseconds): whatever the helper has
not taken, the caller computes itself, so a busy second core costs a few percent instead of
a stalled call. The kernels are element-wise, so the result does not depend on who computed
which chunk. Feature frames call the kernels directly and are not affected.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import StrategyError
from ..strategy.registry import get_membership_spec

__all__ = ["membership"]

#: Inputs with at least this many points are split between two threads.
SPLIT_MIN = 1 << 19
_CHUNK = 1 << 16


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
    # no copy for a contiguous float64 array (the common case); a scalar becomes shape (1,)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    flat = xs.reshape(-1)
    pa = np.array(p, dtype=np.float64)
    if flat.shape[0] >= SPLIT_MIN and _two_threads():
        from ..nb.membership import INTO_KERNELS

        into = INTO_KERNELS.get(spec.kernel.partition(":")[2])
        if into is not None:
            out = np.empty(flat.shape[0], dtype=np.float64)
            _fill_in_chunks(into, flat, pa, out)
            return out.reshape(xs.shape)
    return spec.kernel_function()(flat, pa).reshape(xs.shape)


# --- two-thread split for large inputs ------------------------------------------------------


def _two_threads() -> bool:
    """More than one CPU available, and numba's thread limit (NUMBA_NUM_THREADS) above 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    from numba import config

    return cpus > 1 and config.NUMBA_NUM_THREADS > 1


_helper_lock = threading.Lock()
_helper_jobs: queue.SimpleQueue | None = None


def _helper_loop(jobs: queue.SimpleQueue) -> None:
    while True:
        jobs.get()()


def _helper() -> queue.SimpleQueue:
    """The job queue of the helper thread (a daemon, started on first use)."""
    global _helper_jobs
    with _helper_lock:
        if _helper_jobs is None:
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            threading.Thread(target=_helper_loop, args=(jobs,), name="fuzzyvec-membership",
                             daemon=True).start()
            _helper_jobs = jobs
        return _helper_jobs


def _forget_helper() -> None:  # pragma: no cover - runs in a forked child
    """A forked child has no helper thread; start a new one on first use."""
    global _helper_jobs, _helper_lock
    _helper_jobs = None
    _helper_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def _fill_in_chunks(into: Callable[..., None], x: np.ndarray, p: np.ndarray, out: np.ndarray) -> None:
    """``into(x[lo:hi], p, out[lo:hi])`` over chunks, on this thread and the helper thread.

    ``into`` is a ``nogil`` numba kernel, so both threads run at once. Each thread takes the
    next chunk from a shared counter; once every chunk is taken, this thread waits only for
    chunks in progress, never for a helper that has not started yet.
    """
    n = x.shape[0]
    n_chunks = -(-n // _CHUNK)
    lock = threading.Lock()
    idle = threading.Condition(lock)
    state = {"next": 0, "running": 0}
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                c = state["next"]
                if c >= n_chunks or errors:
                    return
                state["next"] = c + 1
                state["running"] += 1
            lo = c * _CHUNK
            hi = min(n, lo + _CHUNK)
            try:
                into(x[lo:hi], p, out[lo:hi])
            except BaseException as exc:  # re-raised on the calling thread
                with lock:
                    errors.append(exc)
            finally:
                with lock:
                    state["running"] -= 1
                    if state["running"] == 0:
                        idle.notify_all()

    _helper().put(work)
    work()
    with lock:
        while state["running"]:
            idle.wait()
    if errors:
        raise errors[0]
