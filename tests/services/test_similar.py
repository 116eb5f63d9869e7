""" "More like this": the nearest rows of the feature matrix, nearest first, cached per version."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.services.similar import SimilarMovies, nearest_rows
from tests.engine.test_predictor import make_features


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_nearest_rows_match_a_brute_force_search(metric):
    features = make_features(n_movies=300, seed=3)
    matrix = features.matrix
    for row in (0, 17, 299):
        if metric == "euclidean":
            distances = np.sqrt(((matrix - matrix[row]) ** 2).sum(axis=1))
        else:
            distances = np.abs(matrix - matrix[row]).sum(axis=1)
        distances[row] = np.inf
        expected = np.argsort(distances, kind="stable")[:8]
        got = nearest_rows(features, row, 8, metric)
        assert row not in got
        assert got.tolist() == expected.tolist()


def test_ties_come_in_row_order_and_n_is_capped():
    features = make_features(n_movies=5)
    features.matrix[:] = 1.0  # every movie at distance 0 from every other
    assert nearest_rows(features, 2, 10).tolist() == [0, 1, 3, 4]


def test_ids_are_cached_per_feature_version():
    first = make_features(n_movies=50, seed=1, version=1)
    second = make_features(n_movies=50, seed=2, version=2)
    similar = SimilarMovies()
    movie_id = int(first.movie_ids[4])
    ids = similar.of(first, movie_id, 5)
    assert len(ids) == 5 and movie_id not in ids
    assert similar.of(first, movie_id, 5) is ids  # a lookup, not a new search
    expected = [int(second.movie_ids[r]) for r in nearest_rows(second, 4, 5)]
    assert similar.of(second, movie_id, 5) == expected


def test_a_movie_outside_the_version_has_no_neighbours():
    assert SimilarMovies().of(make_features(n_movies=20), 999_999, 5) == []
