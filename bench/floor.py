"""What the arithmetic alone costs: the engine's matrix product, blocked as the engine blocks it.

A neighbour search over n rated movies pays at least the product of every query with every
rated movie. :func:`gemm_floor_ms` times exactly that product, with the engine's operands
(``[-2q, 1] . [x, ||x||^2]``), in the engine's precision for those shapes (float32 from
``_search.FLOAT32_MIN_SAMPLES`` rated movies on, float64 below; ``precision`` picks one), its
outer block sizes and its buffers reused, two ways, and keeps the faster: on the engine's own
threads with BLAS at one thread (how the engine runs it), and block by block with BLAS's own
threads (as many as it had when the bench started). Nothing is selected or kept: it is a
floor, not a search. :func:`busy_core` loads one core for the "other core busy" measurements.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.engine import _search, parallel
from recommender.engine.knn import _key_buffer

# BLAS's threads as this process started, before the engine held them at one (parallel.py).
_STARTING_BLAS_THREADS = max(
    [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"] or [1]
)


def blas_threads_as_started() -> threadpool_limits:
    """A context giving BLAS back the threads it had when the bench started."""
    return threadpool_limits(limits=_STARTING_BLAS_THREADS, user_api="blas")


def _outer_rows(n_queries: int, n_samples: int) -> int:
    # The engine's outer block (recommender/engine/knn.py, _KNNBase._blocks).
    inner = _search.block_rows(n_samples)
    outer = max(inner, _search.block_rows(n_samples, _search.GEMM_BLOCK_BYTES))
    per_thread = -(-n_queries // (4 * parallel.threads()))
    outer = max(inner, min(outer, per_thread))
    return outer - outer % inner


def engine_precision(X: np.ndarray) -> str:
    """The precision of the engine's product with these reference rows: "float32" or "float64"."""
    ref = _search.prepare_reference(X, "euclidean")
    float32 = ref.augmented32 is not None and _search.compiled_kernel() is not None
    return "float32" if float32 else "float64"


def _products(Q: np.ndarray, X: np.ndarray, threaded: bool, precision: str) -> None:
    ref = _search.prepare_reference(X, "euclidean")
    assert ref.augmented is not None
    float32 = precision == "float32"
    # Made here even below FLOAT32_MIN_SAMPLES, where the engine makes none: precision picks.
    reference32 = ref.augmented.astype(np.float32) if float32 else None
    dtype = np.float32 if float32 else np.float64
    outer = _outer_rows(len(Q), len(X))
    starts = range(0, len(Q), outer)

    def product(block: np.ndarray, out: np.ndarray) -> None:
        if reference32 is not None:  # as _search.float32_keys: the float64 operand, converted
            np.matmul(_search.augmented_queries(block).astype(np.float32), reference32.T, out=out)
        else:
            _search.ranking_keys(block, ref, out=out)

    def task(start: int) -> None:
        block = Q[start : start + outer]
        product(block, _key_buffer(len(block), len(X), dtype))

    if threaded:
        parallel.map_blocks(task, starts)
        return
    buffer = np.empty((min(outer, len(Q)), len(X)), dtype=dtype)
    with blas_threads_as_started():
        for start in starts:
            block = Q[start : start + outer]
            product(block, buffer[: len(block)])


def gemm_floor_ms(
    Q: np.ndarray, X: np.ndarray, repeats: int = 5, precision: str | None = None
) -> float:
    """Median ms of the engine's blocked product of ``Q`` with ``X`` (the faster way), in
    ``precision`` ("float32" or "float64"; default :func:`engine_precision`)."""
    precision = precision or engine_precision(X)
    best = []
    for threaded in (True, False):
        _products(Q, X, threaded, precision)  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _products(Q, X, threaded, precision)
            times.append((time.perf_counter() - started) * 1e3)
        best.append(statistics.median(times))
    return min(best)


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Keep one core busy (a spinning process) while the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it get going
        yield
    finally:
        spinner.kill()
        spinner.wait()
