"""The engine's thread policy: its own threads over blocks of queries, BLAS on one thread.

A neighbour search is a matrix product per block of queries followed by a selection of the k
smallest keys per row, which is numpy work on one thread. Left to OpenBLAS, only the product
used the second core, and its threads kept spinning after each product, competing with the
selection; with the other core busy they degraded further (issue 16: slower than scikit-learn).
So the engine runs whole blocks (product *and* selection, and the caller's reduction) on its
own worker threads, one block per task: every core does useful work, the tasks balance
themselves when a core is taken by something else, and numpy releases the GIL in the products,
sorts and elementwise passes that make up a block.

While the engine has more than one thread, the process's BLAS libraries are held at one thread,
from the first search on and for good. Lowering them only around each search was not enough:
OpenBLAS's idle threads, woken by any product outside it (the ranking's matrix-vector product,
say), spin for a while and took the second core from the engine's threads (a 71-rating user at
62,000 movies: 57 ms and 142 ms of CPU, against 45 ms and 79 ms with BLAS at one thread), and
another thread's ``threadpool_limits`` could restore BLAS's threads in the middle of a search.
Work that wants BLAS's threads (none in the web process; ALS runs on one thread anyway) can ask
for them with ``threadpoolctl.threadpool_limits``.

:func:`set_threads` chooses the number of worker threads (default: the CPUs this process may
use, at most :data:`MAX_DEFAULT_THREADS`); ``1`` runs everything on the calling thread and
leaves BLAS as it is. The neighbours found do not depend on it: rows are independent, and the
distances agree to the last bits that the matrix product's rounding leaves open anyway (see
:mod:`_search`; the tests check one thread against several).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")

# More threads than this measured no faster for one request on the machines we target, and a
# server runs several requests at once anyway.
MAX_DEFAULT_THREADS = 4


def _default_threads() -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_DEFAULT_THREADS))


_state_lock = threading.Lock()
_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_blas_held = False


def threads() -> int:
    """Number of worker threads a search uses."""
    return _threads


def set_threads(n: int) -> None:
    """Use ``n`` worker threads (>= 1) for the following searches."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Expected a number of threads >= 1, got {n!r}")
    with _state_lock:
        if n != _threads and _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None
        _threads = n


def _reset_after_fork() -> None:
    # A forked child (a gunicorn worker) inherits the pool object but not its threads; BLAS's
    # thread count is library state, inherited as it was.
    global _pool, _state_lock
    _pool = None
    _state_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _state_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="knn")
        return _pool


def hold_blas_at_one_thread() -> None:
    """Set every loaded BLAS library to one thread, once per process (see the module's
    docstring); finding the libraries costs milliseconds, so it is done once."""
    global _blas_held
    with _state_lock:
        if _blas_held:
            return
        ThreadpoolController().limit(limits=1, user_api="blas")
        _blas_held = True


def map_blocks(fn: Callable[[T], R], items: Sequence[T]) -> Iterable[R]:
    """``fn`` over ``items`` on the worker threads, results in order (all computed on return).

    With one thread it runs on the calling thread and leaves BLAS as it is; with more, BLAS is
    held at one thread (:func:`hold_blas_at_one_thread`) and a single item runs on the caller.
    """
    if _threads == 1:
        return [fn(item) for item in items]
    hold_blas_at_one_thread()
    if len(items) <= 1:
        return [fn(item) for item in items]
    futures = [_get_pool().submit(fn, item) for item in items]
    wait(futures)  # all of them, even when one fails
    return [future.result() for future in futures]
