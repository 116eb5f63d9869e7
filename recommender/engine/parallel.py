"""The engine's thread policy: its own threads over blocks of queries, BLAS on one thread (private).

A neighbour search is a matrix product per block of queries followed by a selection of the k
smallest keys per row, which is numpy work on one thread. Left to OpenBLAS, only the product
used the second core, and its threads kept spinning after each product, competing with the
selection; with the other core busy they degraded further (issue 16: slower than scikit-learn).
So the engine runs whole blocks (product *and* selection) on its own worker threads, one block
per task, with OpenBLAS held at one thread meanwhile: every core does useful work all the time,
the tasks balance themselves when a core is taken by something else, and nothing spins.
numpy releases the GIL in the products, sorts and elementwise passes that make up a block.

:func:`set_threads` chooses the number of worker threads (default: the CPUs this process may
use, at most :data:`MAX_DEFAULT_THREADS`); ``1`` runs everything on the calling thread. The
neighbours found do not depend on it: rows are independent, and the distances agree to the
last bits that the matrix product's rounding leaves open anyway (see :mod:`_search`; the tests
check one thread against several).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

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
_controller: ThreadpoolController | None = None
# BLAS libraries whose thread count the engine lowered, with the count to restore, and how many
# engine calls are inside the single-threaded section (calls may overlap in a threaded server).
_blas_saved: list[tuple[Any, int]] = []
_blas_depth = 0


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
    # A forked child (a gunicorn worker) inherits the pool object but not its threads.
    global _pool, _state_lock, _blas_depth
    _pool = None
    _state_lock = threading.Lock()
    _blas_saved.clear()
    _blas_depth = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _state_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="knn")
        return _pool


@contextmanager
def blas_single_threaded() -> Iterator[None]:
    """Hold the BLAS libraries at one thread while the block (and any overlapping one) runs."""
    global _controller, _blas_depth
    with _state_lock:
        if _blas_depth == 0:
            if _controller is None:
                # Finding the loaded libraries costs milliseconds: once per process.
                _controller = ThreadpoolController()
            for lib in _controller.lib_controllers:
                if lib.user_api == "blas":
                    previous = lib.get_num_threads()
                    if previous != 1:
                        lib.set_num_threads(1)
                        _blas_saved.append((lib, previous))
        _blas_depth += 1
    try:
        yield
    finally:
        with _state_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                for lib, previous in _blas_saved:
                    lib.set_num_threads(previous)
                _blas_saved.clear()


def map_blocks(fn: Callable[[T], R], items: Sequence[T]) -> Iterable[R]:
    """``fn`` over ``items`` on the worker threads, results in order (all computed on return).

    With one thread, or one item, it runs on the calling thread with BLAS left as it is (one
    product can then use BLAS's own threads, which is what a single block wants).
    """
    if _threads == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with blas_single_threaded():
        futures = [_get_pool().submit(fn, item) for item in items]
        wait(futures)  # all of them, even when one fails, before BLAS gets its threads back
        return [future.result() for future in futures]
