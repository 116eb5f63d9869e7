"""Predictor options for learned features: similarity weights, shrinkage, the user offset,
and options a feature version asks for (``predictor_options``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recommender.engine.predictor import (
    SIMILARITY_WEIGHTS,
    CatalogueFeatures,
    PredictorOptions,
    PredictorSettings,
    UserRatings,
    cold_start_predictions,
    compute_predictions,
    predict_for_rows,
    settings_for,
    update_predictions,
    weight_shares,
)
from recommender.engine.scale import RatingScale

LEARNED = PredictorSettings(
    k=5, scale=RatingScale(0.5, 5.0, 0.5), weights="cosine2", shrinkage=1.0, user_offset=True
)


def unit_features(n_movies=300, n_features=5, seed=0, options=None):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n_movies, n_features))
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    movie_ids = np.arange(1, n_movies + 1, dtype=np.int64)
    return CatalogueFeatures(
        version=1,
        movie_ids=movie_ids,
        matrix=matrix,
        columns=tuple(f"f{i}" for i in range(n_features)),
        item_baseline=rng.uniform(2.5, 4.0, n_movies),
        popularity=rng.random(n_movies),
        global_mean=3.5,
        row_of_movie={int(m): i for i, m in enumerate(movie_ids)},
        predictor_options=PredictorOptions.from_dict(options or {}),
    )


def test_unknown_weights_and_negative_shrinkage_are_refused():
    with pytest.raises(ValueError, match="Unknown weights 'cos'"):
        PredictorSettings(k=3, scale=RatingScale(1, 5, 1), weights="cos")
    with pytest.raises(ValueError, match="shrinkage >= 0"):
        PredictorSettings(k=3, scale=RatingScale(1, 5, 1), shrinkage=-1)


def test_cosine2_weights_are_squared_cosines_of_unit_rows():
    # On unit rows, euclidean d gives cos = 1 - d^2 / 2.
    dist = np.array([[0.0, np.sqrt(2.0), 1.0, 2.0]])
    np.testing.assert_allclose(SIMILARITY_WEIGHTS["cosine2"](dist), [[1, 0, 0.25, 0]], atol=1e-9)


def test_shrinkage_pulls_the_correction_toward_the_baseline_by_hand():
    features = unit_features()
    rows = np.arange(6, dtype=np.intp)
    values = features.item_baseline[rows] + np.array([1.0, -0.5, 0.5, 1.0, 0.0, 0.25])
    settings = dataclasses.replace(LEARNED, user_offset=False)
    query = np.array([100], dtype=np.intp)
    (predicted,), _ = predict_for_rows(features, UserRatings(rows, values), query, settings)
    cos = features.matrix[rows] @ features.matrix[100]
    dist = np.sqrt(np.maximum(2 - 2 * cos, 0))
    nearest = np.argsort(dist)[:5]
    w = np.maximum(cos[nearest], 0) ** 2 + 1e-12
    residuals = values[nearest] - features.item_baseline[rows[nearest]]
    expected = features.item_baseline[100] + (w * residuals).sum() / (w.sum() + 1.0)
    assert predicted[0] == pytest.approx(expected, rel=1e-9)
    shares = weight_shares(np.sort(dist)[None, :5], settings)
    assert shares.sum() == pytest.approx(w.sum() / (w.sum() + 1.0))


def test_user_offset_cancels_without_shrinkage():
    features = unit_features()
    rng = np.random.default_rng(1)
    rows = rng.choice(300, 30, replace=False).astype(np.intp)
    values = rng.integers(1, 11, 30) / 2.0
    plain = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5), weights="cosine2")
    with_offset = dataclasses.replace(plain, user_offset=True)
    a = compute_predictions(features, UserRatings(rows, values), plain).predicted
    b = compute_predictions(features, UserRatings(rows, values), with_offset).predicted
    np.testing.assert_allclose(a, b, atol=1e-12)
    c = compute_predictions(features, UserRatings(rows, values), LEARNED).predicted
    assert not np.allclose(a, c)  # with shrinkage the offset matters


def test_incremental_update_matches_full_recompute_with_the_user_offset():
    features = unit_features()
    rng = np.random.default_rng(2)
    rows = rng.choice(300, 30, replace=False).astype(np.intp)
    values = rng.integers(1, 11, 30) / 2.0
    previous = compute_predictions(features, UserRatings(rows, values), LEARNED)
    unrated = np.setdiff1d(np.arange(300), rows)
    new_rows = np.r_[rows[1:], unrated[:2]].astype(np.intp)
    new_values = np.r_[values[1:], [5.0, 0.5]]
    new_values[0] = 5.0 if new_values[0] != 5.0 else 1.0
    updated = update_predictions(
        features, previous, UserRatings(new_rows, new_values), LEARNED, ratings_version=1
    )
    full = compute_predictions(features, UserRatings(new_rows, new_values), LEARNED)
    np.testing.assert_array_equal(updated.unrated_rows, full.unrated_rows)
    np.testing.assert_allclose(updated.predicted, full.predicted, rtol=1e-12)
    np.testing.assert_allclose(updated.score, full.score, rtol=1e-12, atol=1e-12)


def test_feature_version_options_override_the_service_settings():
    options = {"weights": "cosine2", "shrinkage": 1.0, "user_offset": True}
    features = unit_features(options=options)
    service = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5))
    assert settings_for(features, service) == LEARNED
    rng = np.random.default_rng(3)
    rows = rng.choice(300, 20, replace=False).astype(np.intp)
    values = rng.integers(1, 11, 20) / 2.0
    plain = dataclasses.replace(features, predictor_options=PredictorOptions())
    np.testing.assert_allclose(
        compute_predictions(features, UserRatings(rows, values), service).predicted,
        compute_predictions(plain, UserRatings(rows, values), LEARNED).predicted,
    )
    np.testing.assert_allclose(
        cold_start_predictions(features, UserRatings(rows, values), service),
        cold_start_predictions(plain, UserRatings(rows, values), LEARNED),
    )


def test_predict_for_rows_serves_several_k_from_one_search():
    features = unit_features()
    rng = np.random.default_rng(4)
    rows = rng.choice(300, 12, replace=False).astype(np.intp)
    values = rng.integers(1, 11, 12) / 2.0
    entry_rows = np.setdiff1d(np.arange(300), rows)[:20].astype(np.intp)
    predicted, cold = predict_for_rows(
        features, UserRatings(rows, values), entry_rows, LEARNED, ks=(3, 8, 12)
    )
    assert cold.tolist() == [False, False, True]
    for j, k in enumerate((3, 8)):
        full = compute_predictions(
            features, UserRatings(rows, values), dataclasses.replace(LEARNED, k=k)
        )
        at = np.searchsorted(full.unrated_rows, entry_rows)
        np.testing.assert_allclose(predicted[j], full.predicted[at], rtol=1e-12)
    np.testing.assert_allclose(
        predicted[2],
        cold_start_predictions(features, UserRatings(rows, values), LEARNED)[entry_rows],
    )


def test_predictor_options_round_trip_through_their_stored_form():
    options = PredictorOptions(weights="cosine2", shrinkage=1.0, user_offset=True)
    assert options.to_dict() == {"weights": "cosine2", "shrinkage": 1.0, "user_offset": True}
    assert PredictorOptions.from_dict(options.to_dict()) == options
    assert PredictorOptions().to_dict() == {}
    service = PredictorSettings(k=5, scale=RatingScale(0.5, 5.0, 0.5))
    assert PredictorOptions().apply(service) is service
    assert options.apply(service) == LEARNED


def test_unknown_predictor_options_are_refused_when_read_not_at_request_time():
    with pytest.raises(ValueError, match=r"Unknown predictor options 'shrinkag'; expected some of"):
        PredictorOptions.from_dict({"weights": "cosine2", "shrinkag": 1.0})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": "cos"}, r"Unknown weights 'cos'"),
        ({"shrinkage": -1.0}, r"shrinkage >= 0"),
        ({"metric": "cosine"}, r"Unknown metric 'cosine'"),
        ({"shrinkage": "1.0"}, r"Predictor option 'shrinkage' has the wrong type: '1.0'"),
        ({"user_damping": True}, r"Predictor option 'user_damping' has the wrong type: True"),
        ({"user_offset": 1}, r"Predictor option 'user_offset' has the wrong type: 1"),
    ],
)
def test_bad_predictor_option_values_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        PredictorOptions.from_dict(options)
