"""Computed predictions at MovieLens-25M shape, without the database: the engine's share of a
computed recommendation request.

A catalogue of 62,000 movies x 101 learned-like features (random, L2-normalised rows, the
learned space's weights: cosine2, shrinkage, the user offset) and users with as many ratings
as the 25M dataset's median, p90 and p99 users (71, 327, 1,330). For each, in the same run and
interleaved, so that machine noise hits both alike, ``compute_predictions``:

* ``engine``    as the engine runs it: a user's unrated rows (ascending), when they are at
  least ``_search.IN_PLACE_MIN_SHARE`` of the catalogue, are searched where they lie, every
  row's keys from a contiguous view, the rated rows' answers dropped (fewer are gathered);
  each row's weighted sums over its neighbours come from the compiled kernel in one pass;
* ``gathered``  the unrated rows copied out block by block first (``IN_PLACE_MIN_SHARE``
  above 1), as before;
* ``np sums``   the weighted sums by the numpy path (``predictor.compiled_sums`` off);
* ``floor``     the blocked matrix product of the whole catalogue with the user's rows alone
  (``bench/floor.py``): what the arithmetic costs before anything is selected.

Prints medians (ms) over ``--repeats`` runs after a warm-up, on the engine's threads and on
one, and the engine's time over each of the others.

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

from floor import gemm_floor_ms

from recommender.engine import _search, parallel, predictor
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
# Each path: its IN_PLACE_MIN_SHARE (None: the engine's own; above 1 nothing is searched in
# place) and whether the neighbour sums are compiled.
PATHS = {"engine": (None, True), "gathered": (2.0, True), "np sums": (None, False)}


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


def elapsed_ms(run) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1e3


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
        f"{'user':<12}{'threads':>8}{'engine':>9}{'gathered':>10}{'np sums':>9}{'floor':>8}"
        f"{'/gathered':>11}{'/np sums':>10}{'/floor':>8}"
    )
    share = _search.IN_PLACE_MIN_SHARE
    for name, count in USERS.items():
        rows = rng.choice(N_MOVIES, size=count, replace=False)
        ratings = UserRatings(rows, rng.integers(1, 11, count) / 2.0)
        floor = gemm_floor_ms(features.matrix, features.matrix[ratings.rows], args.repeats)
        for n_threads in (threads, 1):
            parallel.set_threads(n_threads)
            times: dict[str, list[float]] = {label: [] for label in PATHS}
            try:
                for repeat in range(args.repeats + 1):  # the first round is the warm-up
                    for label, (min_share, compiled) in PATHS.items():
                        _search.IN_PLACE_MIN_SHARE = share if min_share is None else min_share
                        predictor.compiled_sums = compiled
                        took = elapsed_ms(
                            lambda r=ratings: compute_predictions(features, r, settings)
                        )
                        if repeat:
                            times[label].append(took)
            finally:
                _search.IN_PLACE_MIN_SHARE = share
                predictor.compiled_sums = True
                parallel.set_threads(threads)
            ms = {label: statistics.median(values) for label, values in times.items()}
            print(
                f"{name} ({count:,})".ljust(12)
                + f"{n_threads:>8}{ms['engine']:>9.1f}{ms['gathered']:>10.1f}{ms['np sums']:>9.1f}"
                f"{floor:>8.1f}{ms['engine'] / ms['gathered']:>11.2f}"
                f"{ms['engine'] / ms['np sums']:>10.2f}{ms['engine'] / floor:>8.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
