"""Per-movie neighbour lists answer heavy users exactly as the full search does."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.knn import KNNRegressor
from recommender.engine.neighbour_lists import (
    NeighbourLists,
    build_neighbour_lists,
    nearest_rated,
    worth_using,
)
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorSettings,
    UserRatings,
    compute_predictions,
)
from recommender.engine.scale import RatingScale

SCALE = RatingScale(0.5, 5.0, 0.5)


def unit_rows(n: int, dims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dims))
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def features_of(matrix: np.ndarray, lists: NeighbourLists | None) -> CatalogueFeatures:
    n = len(matrix)
    rng = np.random.default_rng(1)
    ids = np.arange(1, n + 1, dtype=np.int64)
    return CatalogueFeatures(
        version=1,
        movie_ids=ids,
        matrix=matrix,
        columns=tuple(f"f{i}" for i in range(matrix.shape[1])),
        item_baseline=rng.uniform(2.0, 4.5, n),
        popularity=rng.random(n),
        global_mean=3.5,
        row_of_movie={int(m): i for i, m in enumerate(ids)},
        evidence=rng.random(n),
        neighbour_lists=lists,
    )


def full_search(matrix, rated_rows, query_rows, k):
    model = KNNRegressor(n_neighbors=k).fit(matrix[rated_rows], np.zeros(len(rated_rows)))
    dist, index = model.kneighbors(matrix[query_rows])
    return rated_rows[index], dist


def test_lists_hold_each_rows_nearest_rows_in_the_engines_order():
    matrix = unit_rows(300, 6, seed=0)
    lists = build_neighbour_lists(matrix, length=20)
    rows, dist = full_search(matrix, np.arange(300), np.arange(300), 20)
    np.testing.assert_array_equal(lists.rows, rows)
    np.testing.assert_allclose(lists.dist, dist, rtol=0, atol=1e-12)
    assert lists.rows.dtype == np.int32 and lists.length == 20


@pytest.mark.parametrize("share", [0.2, 0.5, 0.9])
def test_settled_rows_equal_the_full_search(share):
    matrix = unit_rows(800, 8, seed=2)
    lists = build_neighbour_lists(matrix, length=40)
    rng = np.random.default_rng(3)
    rated_rows = np.sort(rng.choice(800, int(800 * share), replace=False))
    rated = np.zeros(800, dtype=bool)
    rated[rated_rows] = True
    query_rows = np.flatnonzero(~rated)
    settled, rows, dist = nearest_rated(lists, query_rows, rated, 10)
    expected_rows, expected_dist = full_search(matrix, rated_rows, query_rows[settled], 10)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(dist, expected_dist, rtol=0, atol=1e-12)
    if share >= 0.5:  # with half the catalogue rated, nearly every list settles its row
        assert settled.mean() > 0.9


def test_ties_at_the_end_of_a_list_leave_the_row_to_the_full_search():
    # Points on an integer grid: many movies at exactly equal distances.
    grid = np.array([(x, y) for x in range(12) for y in range(12)], dtype=np.float64)
    lists = build_neighbour_lists(grid, length=9)
    rated = np.zeros(len(grid), dtype=bool)
    rated[::2] = True
    query_rows = np.flatnonzero(~rated)
    settled, rows, dist = nearest_rated(lists, query_rows, rated, 4)
    expected_rows, expected_dist = full_search(grid, np.flatnonzero(rated), query_rows, 4)
    np.testing.assert_array_equal(rows, expected_rows[settled])
    np.testing.assert_array_equal(dist, expected_dist[settled])
    # A row whose 4th rated neighbour ties with the list's last entry is not settled.
    kth = expected_dist[:, 3]
    last = lists.dist[query_rows, -1]
    assert not settled[kth >= last].any()
    assert (kth >= last).any() and settled.any()


def test_worth_using_asks_for_k_rated_movies_per_list_on_average_and_the_same_metric():
    lists = NeighbourLists(np.zeros((100, 10), np.int32), np.zeros((100, 10)))
    assert worth_using(lists, "euclidean", n_rated=40, n_rows=100, k=4)
    assert not worth_using(lists, "euclidean", n_rated=39, n_rows=100, k=4)
    assert not worth_using(lists, "manhattan", n_rated=100, n_rows=100, k=4)
    assert not worth_using(lists, "euclidean", n_rated=100, n_rows=100, k=11)
    assert not worth_using(None, "euclidean", n_rated=100, n_rows=100, k=4)


@pytest.mark.parametrize("user_offset", [False, True])
def test_predictions_with_lists_equal_those_without(user_offset):
    matrix = unit_rows(1500, 12, seed=4)
    lists = build_neighbour_lists(matrix, length=64)
    plain, listed = features_of(matrix, None), features_of(matrix, lists)
    rng = np.random.default_rng(5)
    rated_rows = np.sort(rng.choice(1500, 700, replace=False))
    ratings = UserRatings(rated_rows, rng.integers(1, 11, 700) / 2.0)
    settings = PredictorSettings(
        k=20, scale=SCALE, weights="cosine2", shrinkage=1.0, user_offset=user_offset
    )
    assert worth_using(lists, settings.metric, len(ratings), 1500, settings.search_k(700))
    expected = compute_predictions(plain, ratings, settings)
    got = compute_predictions(listed, ratings, settings)
    np.testing.assert_array_equal(got.unrated_rows, expected.unrated_rows)
    np.testing.assert_array_equal(got.neighbour_rows, expected.neighbour_rows)
    np.testing.assert_allclose(got.neighbour_dist, expected.neighbour_dist, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.predicted, expected.predicted, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.score, expected.score, rtol=1e-12, atol=1e-12)


def test_a_user_with_few_ratings_never_reads_the_lists():
    matrix = unit_rows(500, 6, seed=6)
    # Lists that would give wrong neighbours if they were read: every row's list is the even
    # rows 0..62 at distances 0..31.
    bogus = NeighbourLists(
        np.tile(np.arange(0, 64, 2, dtype=np.int32), (500, 1)), np.tile(np.arange(32.0), (500, 1))
    )
    ratings = UserRatings(np.arange(0, 500, 25), np.full(20, 4.0))
    settings = PredictorSettings(k=5, scale=SCALE)
    got = compute_predictions(features_of(matrix, bogus), ratings, settings)
    expected = compute_predictions(features_of(matrix, None), ratings, settings)
    np.testing.assert_array_equal(got.neighbour_rows, expected.neighbour_rows)
    # And with the same lists a heavy user would read them (so the test above means something).
    heavy = UserRatings(np.arange(320), np.full(320, 4.0))
    with_bogus = compute_predictions(features_of(matrix, bogus), heavy, settings)
    assert (
        with_bogus.neighbour_rows
        != compute_predictions(features_of(matrix, None), heavy, settings).neighbour_rows
    ).any()
