"""The per-user predictor: full and incremental predictions, cold start, item baselines."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.knn import KNNRegressor
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorSettings,
    UserPredictions,
    UserRatings,
    cold_start_predictions,
    compute_predictions,
    explain_prediction,
    is_personal,
    item_baselines,
    personal_goal,
    update_predictions,
)
from recommender.engine.scale import RatingScale

# One search of k neighbours (ranking_k = k): these tests are about the neighbours'
# bookkeeping; the wider search for the ranking score has its own in test_predictor_ranking.py.
SETTINGS = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5), ranking_k=5)


def make_features(n_movies: int = 400, n_features: int = 6, seed: int = 0, version: int = 1):
    rng = np.random.default_rng(seed)
    movie_ids = np.arange(10, 10 + n_movies, dtype=np.int64)
    return CatalogueFeatures(
        version=version,
        movie_ids=movie_ids,
        matrix=rng.random((n_movies, n_features)),
        columns=tuple(f"f{i}" for i in range(n_features)),
        item_baseline=rng.uniform(2.0, 4.5, n_movies),
        popularity=rng.random(n_movies),
        global_mean=3.5,
        row_of_movie={int(m): i for i, m in enumerate(movie_ids)},
        evidence=rng.uniform(0.5, 2.0, n_movies),
    )


def random_ratings(rng, features, n):
    rows = rng.choice(len(features.movie_ids), size=n, replace=False).astype(np.intp)
    return rows, rng.integers(1, 11, size=n) / 2.0


def assert_same(incremental: UserPredictions, full: UserPredictions) -> None:
    np.testing.assert_array_equal(incremental.rated_rows, full.rated_rows)
    np.testing.assert_array_equal(incremental.unrated_rows, full.unrated_rows)
    np.testing.assert_array_equal(incremental.neighbour_rows, full.neighbour_rows)
    np.testing.assert_allclose(incremental.neighbour_dist, full.neighbour_dist, rtol=1e-12)
    np.testing.assert_allclose(incremental.predicted, full.predicted, rtol=1e-12)
    np.testing.assert_allclose(incremental.score, full.score, rtol=1e-12, atol=1e-12)


def test_full_predictions_are_baseline_plus_the_engines_residual_regression():
    features = make_features()
    rng = np.random.default_rng(1)
    rows, values = random_ratings(rng, features, 40)
    entry = compute_predictions(features, UserRatings(rows, values), SETTINGS)

    unrated = np.setdiff1d(np.arange(len(features.movie_ids)), rows)
    residuals = values - features.item_baseline[rows]
    model = KNNRegressor(n_neighbors=5, weights="distance").fit(features.matrix[rows], residuals)
    expected = features.item_baseline[unrated] + model.predict(features.matrix[unrated])
    np.testing.assert_allclose(entry.predicted, np.clip(expected, 0.5, 5.0))
    np.testing.assert_array_equal(entry.unrated_rows, unrated)
    assert not np.isin(entry.unrated_rows, rows).any()
    assert np.isin(entry.neighbour_rows, rows).all()
    assert (np.diff(entry.neighbour_dist, axis=1) >= 0).all()


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
@pytest.mark.parametrize("seed", range(6))
def test_one_new_rating_updated_incrementally_equals_a_full_recompute(seed, metric):
    settings = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5), metric=metric)
    features = make_features(seed=seed)
    rng = np.random.default_rng(seed)
    rows, values = random_ratings(rng, features, 30)
    previous = compute_predictions(features, UserRatings(rows[:-1], values[:-1]), settings)

    incremental = update_predictions(
        features, previous, UserRatings(rows, values), settings, ratings_version=2
    )
    full = compute_predictions(features, UserRatings(rows, values), settings, ratings_version=2)

    assert_same(incremental, full)
    assert incremental.ratings_version == 2


def test_incremental_update_recomputes_only_rows_the_new_rating_enters():
    features = make_features(n_movies=2000)
    rng = np.random.default_rng(3)
    rows, values = random_ratings(rng, features, 200)
    previous = compute_predictions(features, UserRatings(rows[:-1], values[:-1]), SETTINGS)
    updated = update_predictions(
        features, previous, UserRatings(rows, values), SETTINGS, ratings_version=1
    )

    kept = np.isin(previous.unrated_rows, updated.unrated_rows)
    changed = (previous.neighbour_rows[kept] != updated.neighbour_rows).any(axis=1)
    entered = (updated.neighbour_rows == rows[-1]).any(axis=1)
    np.testing.assert_array_equal(changed, entered)
    assert 0 < entered.sum() < 0.2 * len(entered)


@pytest.mark.parametrize("seed", range(6))
def test_changed_removed_and_added_ratings_together_equal_a_full_recompute(seed):
    features = make_features(seed=seed)
    rng = np.random.default_rng(100 + seed)
    rows, values = random_ratings(rng, features, 40)
    previous = compute_predictions(features, UserRatings(rows, values), SETTINGS)

    new_rows, new_values = rows.copy(), values.copy()
    new_values[:3] = np.where(new_values[:3] == 5.0, 0.5, new_values[:3] + 0.5)  # re-rated
    new_rows, new_values = new_rows[5:], new_values[5:]  # five removed (two of them re-rated)
    extra = np.setdiff1d(np.arange(len(features.movie_ids)), rows)[:4]
    new_rows = np.concatenate([new_rows, extra])
    new_values = np.concatenate([new_values, [1.0, 2.0, 3.0, 4.0]])

    incremental = update_predictions(
        features, previous, UserRatings(new_rows, new_values), SETTINGS, ratings_version=7
    )
    assert_same(
        incremental, compute_predictions(features, UserRatings(new_rows, new_values), SETTINGS)
    )


def test_a_rating_changed_in_place_moves_only_predictions_that_lean_on_it():
    features = make_features()
    rng = np.random.default_rng(5)
    rows, values = random_ratings(rng, features, 30)
    previous = compute_predictions(features, UserRatings(rows, values), SETTINGS)
    new_values = values.copy()
    new_values[0] = 5.0 if values[0] < 3 else 0.5

    updated = update_predictions(
        features, previous, UserRatings(rows, new_values), SETTINGS, ratings_version=1
    )

    leans = (previous.neighbour_rows == rows[0]).any(axis=1)
    assert leans.any()
    assert not np.allclose(updated.predicted[leans], previous.predicted[leans])
    np.testing.assert_array_equal(updated.predicted[~leans], previous.predicted[~leans])
    assert_same(updated, compute_predictions(features, UserRatings(rows, new_values), SETTINGS))


def test_incremental_update_leaves_the_previous_entry_untouched():
    features = make_features()
    rng = np.random.default_rng(9)
    rows, values = random_ratings(rng, features, 30)
    previous = compute_predictions(features, UserRatings(rows[:-1], values[:-1]), SETTINGS)
    snapshot = previous.predicted.copy(), previous.neighbour_rows.copy()
    update_predictions(features, previous, UserRatings(rows, values), SETTINGS, ratings_version=1)
    np.testing.assert_array_equal(previous.predicted, snapshot[0])
    np.testing.assert_array_equal(previous.neighbour_rows, snapshot[1])


def test_cache_entries_survive_serialisation():
    features = make_features()
    rows, values = random_ratings(np.random.default_rng(2), features, 20)
    entry = compute_predictions(
        features, UserRatings(rows, values), SETTINGS, user_id=7, ratings_version=3
    )
    again = UserPredictions.from_bytes(entry.to_bytes())
    assert (again.user_id, again.ratings_version, again.feature_version) == (7, 3, 1)
    assert_same(again, entry)
    assert entry.nbytes > 0


def test_cold_start_is_the_item_baseline_plus_a_damped_user_offset():
    features = make_features()
    rows = np.array([0, 1, 2], dtype=np.intp)
    values = features.item_baseline[rows] + 1.0  # the user rates everything one star higher
    predicted = cold_start_predictions(features, UserRatings(rows, values), SETTINGS)
    offset = 3 * 1.0 / (3 + SETTINGS.user_damping)
    expected = np.clip(features.item_baseline + offset, 0.5, 5.0)
    np.testing.assert_allclose(predicted, expected)


def test_cold_start_without_ratings_is_the_item_baseline():
    features = make_features()
    empty = np.empty(0, dtype=np.intp)
    predicted = cold_start_predictions(features, UserRatings(empty, np.empty(0)), SETTINGS)
    np.testing.assert_allclose(predicted, np.clip(features.item_baseline, 0.5, 5.0))


def test_item_baselines_start_at_the_prior_and_move_to_the_mean_with_ratings():
    prior = np.array([4.0, np.nan, 2.0])
    no_ratings, mean_without = item_baselines(prior, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(no_ratings, [4.0, 3.0, 2.0])  # unknown prior: mean of priors
    assert mean_without == 3.0

    sums, counts = np.array([1000.0, 20.0, 0.0]), np.array([500.0, 5.0, 0.0])
    baselines, global_mean = item_baselines(prior, sums, counts, damping=5.0)
    assert global_mean == pytest.approx(1020 / 505)
    assert baselines[0] == pytest.approx((1000 + 5 * 4.0) / 505)  # near its own mean 2.0
    assert baselines[1] == pytest.approx((20 + 5 * global_mean) / 10)
    assert baselines[2] == pytest.approx(2.0)  # unrated: its prior


def test_user_ratings_are_kept_in_row_order_with_their_values():
    ratings = UserRatings(np.array([7, 2, 5]), np.array([1.0, 4.0, 2.5]))
    np.testing.assert_array_equal(ratings.rows, [2, 5, 7])
    np.testing.assert_array_equal(ratings.values, [4.0, 2.5, 1.0])
    assert ratings.rows.dtype == np.intp and len(ratings) == 3
    assert len(UserRatings.none()) == 0
    with pytest.raises(ValueError, match="rows and values of the same length"):
        UserRatings(np.array([1, 2]), np.array([3.0]))


def test_predictions_are_personal_above_k_ratings():
    assert [is_personal(n, 3) for n in (0, 3, 4, 10)] == [False, False, True, True]
    assert personal_goal(3) == 4 and is_personal(personal_goal(3), 3)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
def test_explained_prediction_is_the_computed_one_with_its_neighbours(metric):
    features = make_features(seed=4)
    settings = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5), metric=metric)
    ratings = UserRatings(*random_ratings(np.random.default_rng(5), features, 25))
    entry = compute_predictions(features, ratings, settings)
    for i in (0, 17, len(entry.unrated_rows) - 1):
        explained = explain_prediction(features, ratings, int(entry.unrated_rows[i]), settings)
        # Same neighbours (the entry's first k: it holds max(k, ranking_k) for the ranking
        # score); Euclidean distances may differ in the last bit with the position of the
        # query in its block (see engine/knn.py).
        first_k = slice(0, settings.k)
        np.testing.assert_array_equal(
            ratings.rows[explained.neighbours], entry.neighbour_rows[i, first_k]
        )
        np.testing.assert_allclose(
            explained.distances, entry.neighbour_dist[i, first_k], rtol=1e-12
        )
        assert explained.predicted == pytest.approx(entry.predicted[i], rel=1e-12)
        assert explained.shares.sum() == pytest.approx(1.0)
