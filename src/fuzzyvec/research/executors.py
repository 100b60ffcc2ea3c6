"""One executor interface for work that fans out: sweep chunks, walk-forward folds, batch runs, search.

Two executors, one contract (SPEC §13):

``local`` (default)
    A process pool on this machine. ``workers=1`` runs every task in this process, in order
    (deterministic, debuggable, no pickling). With ``workers > 1`` this process is one of the
    workers and ``workers - 1`` pool processes are the others: the driver takes the next
    unclaimed task whenever it waits for a result, so work starts at once, before the pool has
    booted (each task is claimed exactly once, through an exclusive-create file). The pool's
    processes come from a ``forkserver`` (fresh processes: a fork of a process that already ran
    torch or numba threads is not safe) and stay warm for the executor's lifetime, across maps.
    The inputs every task of a map shares (bars, feature frames, the strategy) are pickled ONCE
    into a temporary file that each worker process reads once; a task itself only carries its
    small item (a fold, a chunk of combinations, a candidate).

``ray``
    Ray tasks on the cluster named by ``RAY_ADDRESS`` (or ``address=``), else on a local
    cluster started for the run (dashboard off, ``num_cpus=workers``) and shut down by
    :meth:`RayExecutor.close`. A cluster that is already initialised in this process is used as
    is. Shared inputs go into the object store once (``ray.put``); each worker process fetches
    and unpickles them once and keeps them for the other tasks of the same map.

Both return results in the order of the items, so a result never depends on the executor or
on the number of workers (each task is a pure function of its shared inputs and its item;
training is seeded and single-threaded). Task functions must be importable module-level
functions: ``fn(shared, item)`` when ``shared`` is given, ``fn(item)`` otherwise.

>>> with make_executor("local", workers=2) as ex:          # doctest: +SKIP
...     results = list(ex.map(score, candidates, shared=data))
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import FuzzyvecError, UsageError

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "make_executor",
    "require_ray",
    "run_tasks",
]

#: names accepted by :func:`make_executor` and ``--executor``
EXECUTORS = ("local", "ray")

RAY_HINT = 'pip install "fuzzyvec[ray]" (installs the tested ray[tune]==2.60.0)'

_NO_SHARED: Any = object()


class Executor:
    """Runs ``fn`` over items and yields the results in item order.

    Attributes
    ----------
    name:
        ``"local"`` or ``"ray"``.
    workers:
        How many tasks run at once (for Ray: the CPUs of the cluster).
    """

    name = "base"
    workers = 1

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED) -> Iterator[Any]:
        """Yield ``fn(shared, item)`` (or ``fn(item)`` without ``shared``) for each item, in order.

        Parameters
        ----------
        fn:
            A module-level function (it is sent to other processes by reference).
        items:
            The per-task arguments; keep them small.
        shared:
            Inputs every task reads (bars, frames, the strategy): sent to each worker once.
        """
        raise NotImplementedError

    def start(self, *, warm_training: bool = True) -> Executor:
        """Boot the workers in the background (a no-op where there is nothing to boot); returns self."""
        return self

    def close(self) -> None:
        """Release processes or the cluster this executor started (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


def _call(fn: Callable[..., Any], shared: Any, item: Any) -> Any:
    return fn(item) if shared is _NO_SHARED else fn(shared, item)


# ---------------------------------------------------------------------------------------------
# local: in-process or a process pool
# ---------------------------------------------------------------------------------------------

_WORKER_CACHE: dict[str, Any] = {}
#: imported once by the fork server, so every worker forks with them loaded (none starts a thread;
#: training uses fuzzyvec.model.optim, so torch._dynamo, ~0.8 s, is not among them)
_PRELOAD = ("numpy", "polars", "torch", "fuzzyvec.research.pipeline", "fuzzyvec.backtest.engine",
            "fuzzyvec.backtest.sweep", "fuzzyvec.nb.engine")


def _init_worker(threads: int) -> None:
    """Pool initializer: numba kernels use this worker's share of the CPUs (no oversubscription)."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _warm_worker() -> int:
    """Pay the first-use costs a worker's first task would pay, while the driver still loads its data.

    Numba's first kernel in a process, even one loaded from the cache, initialises its typing
    and target registries (~0.4 s of imports: scipy.linalg, cffi's C parser); one tiny cached
    kernel pays that. Torch's lazy imports and autograd allocations: a tiny training step.
    """
    import numpy as np
    import torch
    from torch import nn

    from ..model.optim import Adam
    from ..nb.ma import sma_1d_nb

    sma_1d_nb(np.zeros(8), 3)

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.1), nn.Linear(4, 3))
    opt = Adam(model.parameters(), lr=1e-3)
    x = torch.zeros(8, 4)
    loss = nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long), weight=torch.ones(3))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return os.getpid()


class _Taken:
    """What a pool task returns for an item the driver process claimed first."""


def _claim(prefix: str, index: int) -> bool:
    """Claim task ``index`` of a map for the calling process; False when another one has it."""
    try:
        os.close(os.open(f"{prefix}.{index}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _pool_task(fn: Callable[..., Any], key: str | None, path: str | None, claim: tuple[str, int] | None,
               item: Any) -> Any:
    """Body of every pool task: claim it, load the map's shared inputs once per worker process, call."""
    if claim is not None and not _claim(*claim):
        return _Taken()
    if key is None:
        return fn(item)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()  # keep only the current map's inputs alive
        with open(path, "rb") as fh:
            _WORKER_CACHE[key] = pickle.load(fh)
    return fn(_WORKER_CACHE[key], item)


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _numba_threads(n: int) -> Iterator[None]:
    """Numba kernels called from this thread use ``n`` threads inside the block."""
    import sys

    numba = sys.modules.get("numba")
    if numba is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class LocalExecutor(Executor):
    """This machine: in-process for ``workers=1``, else this process plus a warm process pool.

    With ``workers=n > 1`` the driver and ``n - 1`` ``forkserver`` processes run the tasks: while
    the driver waits for the next result in order it claims and runs the next unclaimed task
    itself, so a map makes progress from its first moment (the pool boots in the meantime) and
    no core idles on a driver that only waits. The pool starts on the first :meth:`map` that
    needs it (or :meth:`start`) and stays up, with its workers' imported libraries and loaded
    kernels, until :meth:`close` (or the ``with`` block ends): the folds, chunks and candidates
    of later maps reuse the same warm processes. Each map's shared inputs are pickled once into
    a temporary file that every worker reads once (the driver uses its own copy).

    Parameters
    ----------
    workers:
        Tasks to run at once (this process included); None: the CPUs available to this process.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = _check_workers(workers) or _cpu_count()
        self._pool: Any = None
        self._tmp: Any = None
        self._maps = 0
        self._lock = threading.Lock()
        self._starter: threading.Thread | None = None
        self._tidy: list[threading.Thread] = []  # cleanups of maps that returned before the pool booted
        self._threads = 1

    def start(self, *, warm_training: bool = True) -> LocalExecutor:
        """Start the pool in the background now, so its processes boot while this one prepares.

        The commands that fan out call this right after creating the executor: the fork
        server's imports, the workers' forks and (with ``warm_training``) a tiny torch training
        step in each worker (torch's first-use cost) overlap the data loading of the driver.
        Returns the executor; a no-op with ``workers=1``.
        """
        if self.workers > 1 and self._starter is None:
            def boot() -> None:
                pool = self._ensure_pool()
                if warm_training:
                    for _ in range(self.workers - 1):
                        pool.submit(_warm_worker)

            self._starter = threading.Thread(target=boot, name="fuzzyvec-pool-start", daemon=True)
            self._starter.start()
        return self

    def _ensure_pool(self) -> Any:
        with self._lock:
            return self._make_pool()

    def _make_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            import tempfile
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("forkserver")
            # the fork server imports the heavy libraries once; each worker forks from it with them
            # loaded (it never ran a thread pool, so the fork is safe) instead of importing them again
            ctx.set_forkserver_preload(list(_PRELOAD))
            threads = max(1, _cpu_count() // self.workers)
            self._threads = threads
            self._pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=ctx,
                                             initializer=_init_worker, initargs=(threads,))
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._tmp = tempfile.TemporaryDirectory(prefix="fuzzyvec-pool-", dir=shm)
        return self._pool

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED) -> Iterator[Any]:
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            for item in items:
                yield _call(fn, shared, item)
            return
        pool = self._ensure_pool()
        self._maps += 1
        key = f"{os.getpid()}-{id(self)}-{self._maps}"
        prefix = os.path.join(self._tmp.name, f"{key}.claim")
        path = None
        if shared is not _NO_SHARED:
            path = os.path.join(self._tmp.name, f"{key}.pkl")
            with open(path, "wb") as fh:
                pickle.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        # a thread hands the tasks to the pool: the pool's first submit waits until the fork server
        # has imported its libraries (seconds), and this process works in the meantime
        futures: list[Any] = []
        stop = threading.Event()

        def feed() -> None:
            for i, item in enumerate(items):
                if stop.is_set():
                    return
                futures.append(pool.submit(_pool_task, fn, key if path else None, path, (prefix, i), item))

        feeder = threading.Thread(target=feed, name="fuzzyvec-pool-feed", daemon=True)
        feeder.start()
        mine: dict[int, tuple[bool, Any]] = {}  # results of the tasks this process ran: (ok, value)
        next_claim = 0
        try:
            for i in range(len(items)):
                while i not in mine and next_claim < len(items) and not (len(futures) > i and futures[i].done()):
                    j, next_claim = next_claim, next_claim + 1
                    if _claim(prefix, j):  # the pool has not started task j: run it here
                        try:
                            with _numba_threads(self._threads):
                                mine[j] = (True, _call(fn, shared, items[j]))
                        except Exception as exc:  # raised in item order, as a pool task's error is
                            mine[j] = (False, exc)
                if i in mine:
                    ok, value = mine.pop(i)
                    if not ok:
                        raise value
                    yield value
                else:  # the pool claimed task i, so it was submitted
                    yield futures[i].result()
        finally:
            stop.set()

            def cleanup() -> None:
                feeder.join()
                for f in futures:
                    f.cancel()
                for f in futures:  # files are needed until every started task has read them
                    if not f.cancelled():
                        f.exception()
                for name in ([path] if path else []) + [f"{prefix}.{i}" for i in range(len(items))]:
                    with contextlib.suppress(OSError):
                        os.unlink(name)

            if feeder.is_alive():
                # its first submit still waits for the fork server: when this process ran every task
                # itself, return now and let a thread tidy up once the pool answers (close() waits for it)
                tidy = threading.Thread(target=cleanup, name="fuzzyvec-pool-tidy", daemon=True)
                tidy.start()
                self._tidy.append(tidy)
            else:
                cleanup()

    def close(self) -> None:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        for tidy in self._tidy:
            tidy.join()
        self._tidy.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# ---------------------------------------------------------------------------------------------
# ray
# ---------------------------------------------------------------------------------------------


def require_ray(what: str = "--executor ray") -> Any:
    """Import and return :mod:`ray`, or raise :class:`UsageError` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"{what} needs Ray, which is not installed ({exc}); install the extra: {RAY_HINT}") from None
    return ray


_RAY_CACHE: dict[str, Any] = {}


def _ray_task(fn: Callable[..., Any], shared_ref: list[Any] | None, item: Any) -> Any:
    """Body of every Ray task: resolve the shared object once per worker process, then call."""
    if shared_ref is None:
        return fn(item)
    import ray

    key = shared_ref[0].hex()
    if key not in _RAY_CACHE:
        _RAY_CACHE.clear()  # keep only the current map's inputs alive
        _RAY_CACHE[key] = ray.get(shared_ref[0])
    return fn(_RAY_CACHE[key], item)


def _ray_get(ray: Any, ref: Any) -> Any:
    """``ray.get``, re-raising a task's own :class:`FuzzyvecError` (its message, not Ray's traceback)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, FuzzyvecError):
            raise cause from None
        raise


RAY_PROBE_SECONDS = 5.0


def check_ray_address(address: str, *, timeout: float = RAY_PROBE_SECONDS) -> None:
    """Refuse quickly (instead of ``ray.init`` retrying for minutes) when no cluster listens at ``address``.

    ``address`` is ``host:port`` (the head node's GCS, e.g. ``127.0.0.1:6379``) or
    ``ray://host:port`` (Ray Client); ``auto`` and ``local`` are left to Ray. A TCP connection
    to the port is tried for ``timeout`` seconds.

    Raises
    ------
    UsageError
        "cannot reach the Ray cluster at ADDRESS", with how to start one or run locally.
    """
    import socket

    text = address.strip()
    if text.lower() in ("auto", "local"):
        return
    hostport = text.split("://", 1)[1] if "://" in text else text
    host, _, port = hostport.rpartition(":")
    hint = ("start one with `ray start --head --port 6379` (and `ray start --address HEAD:6379` on the other "
            "nodes), or run on this machine: --executor local, or unset RAY_ADDRESS to let --executor ray start "
            "a local cluster")
    if not host or not port.isdigit():
        raise UsageError(f"cannot reach the Ray cluster at {address!r}: expected HOST:PORT (e.g. 127.0.0.1:6379) "
                         f"or ray://HOST:PORT; {hint}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); {hint}") from None


class RayExecutor(Executor):
    """Ray tasks (one CPU each) on an existing or a local cluster.

    Parameters
    ----------
    workers:
        CPUs of the local cluster started for the run (None: all of this machine's). Ignored
        when connecting to a running cluster, whose size Ray decides.
    address:
        A cluster to connect to; default ``RAY_ADDRESS`` from the environment. Without either,
        a local cluster is started (dashboard off) and shut down by :meth:`close`.
    """

    name = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None) -> None:
        ray = require_ray()
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            opts: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            if address:
                check_ray_address(address)
                ray.init(address=address, **opts)
            else:
                ray.init(num_cpus=_check_workers(workers) or _cpu_count(), include_dashboard=False, **opts)
            self._started = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *, shared: Any = _NO_SHARED) -> Iterator[Any]:
        ray = self._ray
        ref = None if shared is _NO_SHARED else [ray.put(shared)]  # a list: Ray must not resolve it per task
        refs = [self._remote.remote(fn, ref, item) for item in items]
        done = 0
        try:
            for r in refs:
                yield _ray_get(ray, r)
                done += 1
        finally:
            if done < len(refs):  # the caller gave up or a task failed: stop the tasks not finished yet
                _, pending = ray.wait(refs[done:], num_returns=len(refs) - done, timeout=0)
                for r in pending:
                    ray.cancel(r)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


# ---------------------------------------------------------------------------------------------
# construction and helpers
# ---------------------------------------------------------------------------------------------


def _check_workers(workers: int | None) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers: expected a positive integer, got {workers!r}")
    return workers


def make_executor(kind: str | Executor | None = "local", workers: int | None = None) -> Executor:
    """An executor by name (``local`` or ``ray``); an :class:`Executor` is returned as is.

    Raises
    ------
    UsageError
        An unknown name, a bad worker count, or ``ray`` without Ray installed (the message
        gives the install command).
    """
    if isinstance(kind, Executor):
        return kind
    kind = kind or "local"
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers)
    raise UsageError(f"executor: expected one of {list(EXECUTORS)}, got {kind!r}")


def run_tasks(executor: Any, fn: Callable[..., Any], items: Sequence[Any], shared: Any = _NO_SHARED) -> Iterator[Any]:
    """Map ``fn`` over ``items`` with ``executor``, in item order.

    ``executor`` is an :class:`Executor`, None (in this process), or any object with
    ``map(fn, items)`` such as a :class:`concurrent.futures.Executor` (the shared inputs then
    travel with every task).
    """
    if executor is None:
        executor = LocalExecutor(1)
    if isinstance(executor, Executor):
        return executor.map(fn, items, shared=shared)
    if shared is _NO_SHARED:
        return iter(executor.map(fn, items))
    return iter(executor.map(_call, [fn] * len(items), [shared] * len(items), items))
