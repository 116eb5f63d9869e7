"""Benchmark of the KNN engine against scikit-learn and against the bare distance computation.

Scenario: one user with ``n`` ratings (50, 200, 1,000) over a synthetic catalogue of 62,000
movies x 30 features (uniform in [0, 1], seeded); predict the user's rating of every unrated
movie (62,000 - n queries) with k = 20 and distance weights. For each size, in the same run,
with the measurements interleaved so that machine noise hits all contenders alike:

* ``ours``    ``KNNRegressor(20, weights="distance").fit(X, y).predict(Q)``
* ``sklearn`` ``KNeighborsRegressor(20, weights="distance", algorithm="brute")``, fit + predict
* ``floor``   just the squared Euclidean distances of all queries to the rated movies,
  ``||q||^2 - 2 Q @ X.T + ||x||^2`` (GEMM plus norms) over the whole matrix at once: what any
  GEMM-based method pays before selecting anything.
* ``floor/blk`` the same computed block by block into a reused cache-sized buffer (no
  allocation, nothing kept): a stricter floor, shown for information.

Prints medians (ms) over ``--repeats`` runs after a warm-up, the ratios, whether the goals are
met (PASS/FAIL; nothing is raised), the agreement of the predictions with scikit-learn, and the
peak extra memory of one ``predict`` (tracemalloc) next to the size of the full distance matrix.

Usage: ``.venv/bin/python bench/engine.py [--repeats 7] [--sizes 50,200,1000]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.neighbors import KNeighborsRegressor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.engine.knn import KNNRegressor

N_MOVIES = 62_000
N_FEATURES = 30
K = 20
SEED = 20240611
GOAL_VS_SKLEARN = 1.0  # ours / sklearn must not exceed this (the aim is 0.5)
GOAL_VS_FLOOR = 4.0  # ours / floor must not exceed this
FLOOR_BLOCK_BYTES = 4 * 1024 * 1024


def make_problem(
    n_rated: int, rng: np.random.Generator, catalogue: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rated rows X (n, 30), their ratings y (n,) in 0.5..5 and the unrated rows Q."""
    rated = np.zeros(N_MOVIES, dtype=bool)
    rated[rng.choice(N_MOVIES, size=n_rated, replace=False)] = True
    y = rng.integers(1, 11, size=n_rated) / 2.0
    return catalogue[rated], y, catalogue[~rated]


def ours(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
    return KNNRegressor(n_neighbors=K, weights="distance").fit(X, y).predict(Q)


def sklearn(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
    model = KNeighborsRegressor(n_neighbors=K, weights="distance", algorithm="brute")
    return model.fit(X, y).predict(Q)


def floor_full(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
    d2 = Q @ X.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", X, X)
    d2 += np.einsum("ij,ij->i", Q, Q)[:, None]
    return d2


def floor_blocked(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
    x_sq = np.einsum("ij,ij->i", X, X)
    q_sq = np.einsum("ij,ij->i", Q, Q)
    step = max(1, FLOOR_BLOCK_BYTES // (8 * X.shape[0]))
    buf = np.empty((step, X.shape[0]))
    for start in range(0, Q.shape[0], step):
        block = Q[start : start + step]
        out = buf[: block.shape[0]]
        np.matmul(block, X.T, out=out)
        out *= -2.0
        out += x_sq
        out += q_sq[start : start + step, None]
    return buf


CONTENDERS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "ours": ours,
    "sklearn": sklearn,
    "floor": floor_full,
    "floor/blk": floor_blocked,
}


def time_once(fn: Callable[..., object], *args: object) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1e3


def peak_predict_bytes(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> int:
    """Peak memory allocated during one predict beyond what was allocated before it."""
    model = KNNRegressor(n_neighbors=K, weights="distance").fit(X, y)
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        model.predict(Q)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per contender")
    parser.add_argument(
        "--sizes", default="50,200,1000", help="comma-separated numbers of rated movies"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    repeats = max(1, args.repeats)

    rng = np.random.default_rng(SEED)
    catalogue = rng.random((N_MOVIES, N_FEATURES))
    print(
        f"catalogue {N_MOVIES} x {N_FEATURES} uniform[0,1], k={K}, weights='distance', "
        f"metric='euclidean'; median of {repeats} runs after a warm-up (ms)"
    )
    header = (
        f"{'n_rated':>7} {'queries':>7} {'ours':>8} {'sklearn':>8} {'floor':>8} "
        f"{'floor/blk':>9} {'ours/sk':>8} {'ours/floor':>10} {'ours/blk':>8}  goals"
    )
    print(header)
    print("-" * len(header))

    all_ok = True
    notes = []
    for n in sizes:
        X, y, Q = make_problem(n, rng, catalogue)
        # Warm-up (caches, BLAS threads, lazy imports) and agreement check in one go.
        ref = sklearn(X, y, Q)
        got = ours(X, y, Q)
        max_diff = float(np.max(np.abs(got - ref)))
        for name, fn in CONTENDERS.items():
            if name not in ("ours", "sklearn"):
                fn(X, y, Q)
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for _ in range(repeats):
            # Interleaved, so that a burst of machine noise does not hit one contender only.
            for name, fn in CONTENDERS.items():
                times[name].append(time_once(fn, X, y, Q))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        vs_sk = med["ours"] / med["sklearn"]
        vs_floor = med["ours"] / med["floor"]
        vs_blk = med["ours"] / med["floor/blk"]
        ok = vs_sk <= GOAL_VS_SKLEARN and vs_floor <= GOAL_VS_FLOOR and max_diff < 1e-9
        all_ok &= ok
        print(
            f"{n:>7} {Q.shape[0]:>7} {med['ours']:>8.1f} {med['sklearn']:>8.1f} "
            f"{med['floor']:>8.1f} {med['floor/blk']:>9.1f} {vs_sk:>8.2f} {vs_floor:>10.2f} "
            f"{vs_blk:>8.2f}  {'PASS' if ok else 'FAIL'}"
        )
        peak = peak_predict_bytes(X, y, Q)
        full = Q.shape[0] * n * 8
        notes.append(
            f"n_rated={n}: max |ours - sklearn| = {max_diff:.1e}; peak extra memory of one "
            f"predict {peak / 2**20:.1f} MiB (full distance matrix would be "
            f"{full / 2**20:.1f} MiB); ours min/max {min(times['ours']):.1f}/"
            f"{max(times['ours']):.1f} ms"
        )
    print()
    for line in notes:
        print(line)
    print()
    print(
        f"goals: ours/sklearn <= {GOAL_VS_SKLEARN} (aim 0.5) and ours/floor <= {GOAL_VS_FLOOR} "
        f"at every size, predictions equal to scikit-learn's within 1e-9: "
        f"{'PASS' if all_ok else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
