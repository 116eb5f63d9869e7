"""The ranking score: the user's rated movies vote for a candidate (DESIGN §5b, §6), and the
who-rated-what item space it ranks in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recommender.engine.factors import (
    Factors,
    FactorSettings,
    fit_factors,
    implicit_item_vectors,
    item_evidence,
    item_feature_columns,
    place_unrated_items,
)
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorSettings,
    UserRatings,
    cold_start_scores,
    compute_predictions,
    ranking_scores,
    update_predictions,
)
from recommender.engine.scale import RatingScale

SCALE = RatingScale(1.0, 5.0, 1.0)


def plane_features(angles_deg, evidence=None, popularity=None) -> CatalogueFeatures:
    """Unit vectors in the plane at the given angles: cos between two is cos(angle apart)."""
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    n = len(angles)
    movie_ids = np.arange(1, n + 1, dtype=np.int64)
    return CatalogueFeatures(
        version=1,
        movie_ids=movie_ids,
        matrix=np.c_[np.cos(angles), np.sin(angles)],
        columns=("x", "y"),
        item_baseline=np.full(n, 3.0),
        popularity=np.zeros(n) if popularity is None else np.asarray(popularity, float),
        global_mean=3.0,
        row_of_movie={int(m): i for i, m in enumerate(movie_ids)},
        evidence=None if evidence is None else np.asarray(evidence, dtype=np.float64),
    )


def test_score_is_evidence_times_the_similarity_weighted_votes():
    # Rated: row 0 (at 0 deg, rated 5) and row 1 (at 90 deg, rated 1); user mean 3.
    # Candidate row 2 at 60 deg: cos 0.5 to row 0, cos 0.5 (30 deg) to row 1.
    features = plane_features([0, 90, 60, 30], evidence=[1.0, 1.0, 2.0, 1.0])
    settings = PredictorSettings(k=2, scale=SCALE, like_weight=0.5, profile_weight=0.0)
    entry = compute_predictions(features, UserRatings([0, 1], [5.0, 1.0]), settings)
    # votes: 1 + 0.5 * (5 - 3) = 2 and 1 + 0.5 * (1 - 3) = 0
    # row 2: 2 * (0.5 * 2 + cos(30) * 0) = 2.0; row 3: 1 * (cos(30) * 2 + cos(60) * 0)
    np.testing.assert_allclose(entry.score, [2.0, np.sqrt(3)], rtol=1e-12)


def test_a_liked_neighbour_raises_the_score_and_a_disliked_one_lowers_it():
    features = plane_features([0, 90, 10, 80])
    settings = PredictorSettings(k=2, scale=SCALE, like_weight=0.5, profile_weight=0.0)
    neutral = compute_predictions(features, UserRatings([0, 1], [3.0, 3.0]), settings).score
    liked = compute_predictions(features, UserRatings([0, 1], [5.0, 3.0]), settings).score
    # Row 2 sits beside row 0: liking row 0 raises it; row 3 sits beside row 1, which now
    # lies below the user's mean (3.5) and pulls it down.
    assert liked[0] > neutral[0]
    assert liked[1] < neutral[1]
    # With like_weight 1 a rating 2 below the mean votes -1: against.
    strong = dataclasses.replace(settings, like_weight=1.0)
    disliked = compute_predictions(features, UserRatings([0, 1], [1.0, 5.0]), strong).score
    assert disliked[0] < 0 < disliked[1]


def test_dissimilar_neighbours_cast_no_vote():
    # Row 2 is at 180 deg from row 0 (cos -1): clipped to 0, not a negative vote.
    features = plane_features([0, 90, 180])
    settings = PredictorSettings(k=1, scale=SCALE, profile_weight=0.0)
    entry = compute_predictions(features, UserRatings([0, 1], [5.0, 5.0]), settings)
    np.testing.assert_allclose(entry.score, [0.0], atol=1e-12)


def test_every_rated_movie_also_votes_with_its_plain_cosine():
    # Rated: row 0 (0 deg, rated 5) and row 1 (90 deg, rated 1); like_weight 1: votes 3, -1.
    features = plane_features([0, 90, 180, 30])
    settings = PredictorSettings(k=1, scale=SCALE, like_weight=1.0, profile_weight=0.4, ranking_k=1)
    entry = compute_predictions(features, UserRatings([0, 1], [5.0, 1.0]), settings)
    cos30 = np.sqrt(3) / 2
    # Row 2 (180 deg): its nearest rated movie, row 1, is at cos 0 (no neighbour vote); the
    # profile votes cos(180) * 3 + cos(90) * -1 = -3: against.
    # Row 3 (30 deg): the neighbour row 0 votes cos30 * 3; the profile cos30 * 3 + cos60 * -1.
    expected = [0.4 * -3.0, 3 * cos30 + 0.4 * (3 * cos30 - 0.5)]
    np.testing.assert_allclose(entry.score, expected, rtol=1e-12)


def test_the_profile_vote_uses_the_neighbours_cosine_off_the_unit_sphere_too():
    # Content features are not L2-normalised: the profile vote is still sum_j (1 - d^2/2) v_j.
    rng = np.random.default_rng(3)
    features = dataclasses.replace(
        plane_features(np.zeros(30), evidence=rng.uniform(0.5, 2.0, 30)),
        matrix=rng.normal(size=(30, 2)),
    )
    ratings = UserRatings(np.arange(0, 30, 3), rng.integers(1, 6, 10).astype(float))
    with_profile = PredictorSettings(k=2, scale=SCALE, like_weight=0.5, profile_weight=0.7)
    without = dataclasses.replace(with_profile, profile_weight=0.0)
    difference = ranking_scores(features, ratings, with_profile) - ranking_scores(
        features, ratings, without
    )
    votes = 1 + 0.5 * (ratings.values - ratings.values.mean())
    squared = ((features.matrix[:, None, :] - features.matrix[ratings.rows]) ** 2).sum(-1)
    expected = 0.7 * features.evidence * ((1 - squared / 2) @ votes)
    np.testing.assert_allclose(difference, expected, rtol=1e-9, atol=1e-9)


def test_ranking_scores_match_the_cached_entry_above_k():
    rng = np.random.default_rng(0)
    features = plane_features(rng.uniform(0, 360, 60), evidence=rng.uniform(0.5, 2.0, 60))
    ratings = UserRatings(np.arange(0, 40, 4), rng.integers(1, 6, 10).astype(float))
    settings = PredictorSettings(k=3, scale=SCALE)
    entry = compute_predictions(features, ratings, settings)
    scores = ranking_scores(features, ratings, settings)
    assert scores.shape == (60,)
    np.testing.assert_allclose(scores[entry.unrated_rows], entry.score, rtol=1e-12)


def test_cold_start_scores_are_popularity_times_baseline_plus_every_ratings_vote():
    features = plane_features([0, 90, 60, 30], popularity=[0.1, 0.2, 0.3, 0.9])
    features = dataclasses.replace(features, item_baseline=np.array([3.0, 3.0, 2.0, 4.0]))
    settings = PredictorSettings(
        k=5, scale=SCALE, like_weight=0.5, popularity_weight=2.0, profile_weight=0.0
    )
    np.testing.assert_allclose(
        ranking_scores(features, UserRatings.none(), settings), [0.6, 1.2, 1.2, 7.2]
    )
    # Two ratings (at or below k = 5): row 2 gets 2 * 0.3 * 2 + 0.5 * 2 + cos(30) * 0.
    scores = cold_start_scores(features, UserRatings([0, 1], [5.0, 1.0]), settings)
    np.testing.assert_allclose(scores[2:], [2.2, 7.2 + np.sqrt(3)], rtol=1e-12)


def test_incremental_update_keeps_the_score_equal_to_a_full_recompute():
    rng = np.random.default_rng(4)
    features = plane_features(rng.uniform(0, 360, 80), evidence=rng.uniform(0.5, 2.0, 80))
    settings = PredictorSettings(k=4, scale=SCALE, weights="cosine2", shrinkage=1.0)
    rows = np.arange(0, 48, 3)
    values = rng.integers(1, 6, len(rows)).astype(float)
    previous = compute_predictions(features, UserRatings(rows, values), settings)
    # One new rating, one removed, one changed.
    new_rows = np.r_[rows[1:], 70]
    new_values = np.r_[values[1:], 5.0]
    new_values[0] = 1.0 if new_values[0] != 1.0 else 5.0
    ratings = UserRatings(new_rows, new_values)
    updated = update_predictions(features, previous, ratings, settings, ratings_version=1)
    full = compute_predictions(features, ratings, settings)
    np.testing.assert_array_equal(updated.unrated_rows, full.unrated_rows)
    np.testing.assert_allclose(updated.score, full.score, rtol=1e-12, atol=1e-12)


def test_negative_like_weight_is_refused():
    with pytest.raises(ValueError, match="like_weight >= 0"):
        PredictorSettings(k=3, scale=SCALE, like_weight=-1.0)


def test_negative_profile_weight_is_refused():
    with pytest.raises(ValueError, match="profile_weight >= 0"):
        PredictorSettings(k=3, scale=SCALE, profile_weight=-0.1)


def test_implicit_item_vectors_are_the_svd_of_who_rated_what():
    rng = np.random.default_rng(5)
    # 12 movies: the randomised range (factors + oversampling) spans them all, so it is exact.
    x = (rng.random((30, 12)) < 0.3).astype(float)
    users, items = np.nonzero(x)
    vectors = implicit_item_vectors(users, items, 30, 12, 4, power=1.0)
    _, singular, vt = np.linalg.svd(x)
    expected = vt[:4].T * singular[:4]
    # Singular vectors are unique up to sign: compare column by column.
    signs = np.sign((vectors * expected).sum(0))
    np.testing.assert_allclose(vectors * signs, expected, atol=1e-6)
    np.testing.assert_allclose(item_evidence(vectors), np.linalg.norm(expected, axis=1), atol=1e-6)


def test_item_columns_mix_the_two_cosines_by_the_implicit_share():
    rng = np.random.default_rng(6)
    users = rng.integers(0, 25, 200)
    items = rng.integers(0, 15, 200)
    values = rng.integers(1, 6, 200).astype(float)
    settings = FactorSettings(n_factors=3, n_iterations=3, implicit_factors=4, implicit_share=0.7)
    factors = fit_factors(users, items, values, 25, 15, settings)
    matrix, columns = item_feature_columns(factors)
    assert len(columns) == 3 + 1 + 4
    rated = np.linalg.norm(matrix, axis=1) > 0
    np.testing.assert_allclose(np.linalg.norm(matrix[rated], axis=1), 1.0)
    ratings_part, _ = item_feature_columns(dataclasses.replace(factors, implicit_item_factors=None))
    watched = factors.implicit_item_factors / np.linalg.norm(
        factors.implicit_item_factors, axis=1, keepdims=True
    )
    np.testing.assert_allclose(
        matrix @ matrix.T, 0.3 * ratings_part @ ratings_part.T + 0.7 * watched @ watched.T
    )


def test_movies_nobody_rated_are_placed_by_a_regression_from_their_attributes():
    # Learned vectors that are an exact linear function of two attributes (plus an
    # intercept): with no penalty the regression recovers them for the unrated items.
    rng = np.random.default_rng(7)
    attributes = rng.random((12, 2))
    truth = np.c_[attributes, np.ones(12)] @ rng.normal(size=(3, 4))
    rated = np.arange(12) < 8
    zero_unrated = np.where(rated[:, None], truth, 0.0)
    factors = Factors(
        3.0,
        np.zeros(5),
        zero_unrated[:, 2],
        np.zeros((5, 2)),
        zero_unrated[:, :2],
        zero_unrated[:, 3:],
        0.5,
    )
    placed = place_unrated_items(factors, attributes, reg=0.0)
    np.testing.assert_allclose(placed.item_factors, truth[:, :2], atol=1e-9)
    np.testing.assert_allclose(placed.item_bias, truth[:, 2], atol=1e-9)
    np.testing.assert_allclose(placed.implicit_item_factors, truth[:, 3:], atol=1e-9)
    # Rated items keep their learned vectors exactly.
    np.testing.assert_array_equal(placed.item_factors[rated], factors.item_factors[rated])


def test_one_search_serves_both_answers_when_ranking_k_exceeds_k():
    rng = np.random.default_rng(8)
    features = plane_features(rng.uniform(0, 360, 120), evidence=rng.uniform(0.5, 2.0, 120))
    ratings = UserRatings(np.arange(0, 90, 3), rng.integers(1, 6, 30).astype(float))
    wide = PredictorSettings(k=4, scale=SCALE, ranking_k=10)
    entry = compute_predictions(features, ratings, wide)
    assert entry.neighbour_rows.shape[1] == 10
    # Predictions are those of a k-only search; scores those of a ranking_k-only search.
    narrow = compute_predictions(features, ratings, dataclasses.replace(wide, ranking_k=4))
    np.testing.assert_allclose(entry.predicted, narrow.predicted, rtol=1e-12)
    ten = compute_predictions(features, ratings, dataclasses.replace(wide, k=10))
    np.testing.assert_allclose(entry.score, ten.score, rtol=1e-12)
    assert not np.allclose(entry.score, narrow.score)


@pytest.mark.parametrize("n_ratings", [8, 30])  # below and above max(k, ranking_k) = 10
def test_incremental_update_with_the_wider_search_equals_a_full_recompute(n_ratings):
    rng = np.random.default_rng(n_ratings)
    features = plane_features(rng.uniform(0, 360, 120), evidence=rng.uniform(0.5, 2.0, 120))
    settings = PredictorSettings(k=4, scale=SCALE, ranking_k=10)
    rows = rng.choice(100, n_ratings, replace=False)
    values = rng.integers(1, 6, n_ratings).astype(float)
    previous = compute_predictions(features, UserRatings(rows, values), settings)
    for new_rows, new_values in (
        (np.r_[rows, 110], np.r_[values, 5.0]),  # one added
        (rows[1:], values[1:]),  # one removed
    ):
        ratings = UserRatings(new_rows, new_values)
        updated = update_predictions(features, previous, ratings, settings, ratings_version=1)
        full = compute_predictions(features, ratings, settings)
        np.testing.assert_array_equal(updated.neighbour_rows, full.neighbour_rows)
        np.testing.assert_allclose(updated.predicted, full.predicted, rtol=1e-12)
        np.testing.assert_allclose(updated.score, full.score, rtol=1e-12, atol=1e-12)
