"""Computed predictions at MovieLens-25M shape, without the database: the engine's share of a
computed recommendation request.

A catalogue of 62,000 movies x 101 learned-like features (random, L2-normalised rows, the
learned space's weights: cosine2, shrinkage, the user offset) and users with as many ratings
as the 25M dataset's median, p90 and p99 users (71, 327, 1,330). For each, in the same run and
interleaved, so that machine noise hits both alike, ``compute_predictions``:

* ``engine``    as the engine runs it: from ``_search.FLOAT32_MIN_SAMPLES`` ratings on, the
  keys come from a float32 product and the few near each row's k-th are computed again in
  float64 (the same neighbours, the same predictions within rounding);
* ``f64 keys``  every key from the float64 product (``FLOAT32_MIN_SAMPLES`` above the
  user's ratings), as before;
* ``floor``     the blocked matrix product of the whole catalogue with the user's rows alone,
  in the engine's precision, and ``f64 floor`` the float64 one (``bench/floor.py``): what the
  arithmetic costs before anything is selected.

Prints medians (ms) over ``--repeats`` runs after a warm-up, on the engine's threads and on
one, the engine's time over the others', and the largest difference of the two paths'
predictions.

Usage: ``.venv/bin/python bench/predict.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import engine_precision, gemm_floor_ms

from recommender.engine import _search, parallel
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorOptions,
    PredictorSettings,
    UserRatings,
    compute_predictions,
)
from recommender.engine.scale import RatingScale

N_MOVIES = 62_000
N_FEATURES = 101
USERS = {"p50": 71, "p90": 327, "p99": 1_330}
SEED = 20261203
# Each path: its FLOAT32_MIN_SAMPLES (None: the engine's own; above every user's ratings, the
# float64 keys throughout).
PATHS = {"engine": None, "f64 keys": 10**9}


def catalogue(rng: np.random.Generator) -> CatalogueFeatures:
    matrix = rng.normal(size=(N_MOVIES, N_FEATURES))
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = np.arange(1, N_MOVIES + 1, dtype=np.int64)
    return CatalogueFeatures(
        version=1,
        movie_ids=ids,
        matrix=matrix,
        columns=tuple(f"f{i}" for i in range(N_FEATURES)),
        item_baseline=rng.uniform(2.0, 4.5, N_MOVIES),
        popularity=rng.random(N_MOVIES),
        global_mean=3.5,
        row_of_movie={int(movie): row for row, movie in enumerate(ids)},
        evidence=rng.random(N_MOVIES),
        predictor_options=PredictorOptions(weights="cosine2", shrinkage=1.0, user_offset=True),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    features = catalogue(rng)
    settings = PredictorSettings(k=20, scale=RatingScale(0.5, 5.0, 0.5))
    threads = parallel.threads()
    print(
        f"catalogue {N_MOVIES:,} x {N_FEATURES}, k=20, ranking_k=20, cosine2 weights; "
        f"median of {args.repeats} runs after a warm-up (ms)"
    )
    print(
        f"{'user':<12}{'threads':>8}{'engine':>9}{'f64 keys':>10}{'floor':>8}{'keys':>9}"
        f"{'f64 floor':>10}{'/f64 keys':>10}{'/floor':>8}{'/f64 floor':>11}{'max diff':>10}"
    )
    min_samples = _search.FLOAT32_MIN_SAMPLES
    for name, count in USERS.items():
        rows = rng.choice(N_MOVIES, size=count, replace=False)
        ratings = UserRatings(rows, rng.integers(1, 11, count) / 2.0)
        rated = features.matrix[ratings.rows]
        precision = engine_precision(rated)
        floor = gemm_floor_ms(features.matrix, rated, args.repeats, precision)
        f64_floor = floor
        if precision != "float64":
            f64_floor = gemm_floor_ms(features.matrix, rated, args.repeats, "float64")
        for n_threads in (threads, 1):
            parallel.set_threads(n_threads)
            times: dict[str, list[float]] = {label: [] for label in PATHS}
            predicted: dict[str, np.ndarray] = {}
            try:
                for repeat in range(args.repeats + 1):  # the first round is the warm-up
                    for label, path_min_samples in PATHS.items():
                        _search.FLOAT32_MIN_SAMPLES = path_min_samples or min_samples
                        started = time.perf_counter()
                        result = compute_predictions(features, ratings, settings)
                        took = (time.perf_counter() - started) * 1e3
                        predicted[label] = result.predicted
                        if repeat:
                            times[label].append(took)
            finally:
                _search.FLOAT32_MIN_SAMPLES = min_samples
                parallel.set_threads(threads)
            ms = {label: statistics.median(values) for label, values in times.items()}
            diff = float(np.max(np.abs(predicted["engine"] - predicted["f64 keys"])))
            print(
                f"{name} ({count:,})".ljust(12)
                + f"{n_threads:>8}{ms['engine']:>9.1f}{ms['f64 keys']:>10.1f}{floor:>8.1f}"
                f"{precision:>9}{f64_floor:>10.1f}{ms['engine'] / ms['f64 keys']:>10.2f}"
                f"{ms['engine'] / floor:>8.2f}{ms['engine'] / f64_floor:>11.2f}{diff:>10.1e}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
