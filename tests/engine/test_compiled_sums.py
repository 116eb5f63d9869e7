"""The compiled neighbour sums (engine/_select.c ``weighted_sums``) against the numpy path.

The predictor's rule and its ranking vote read each row's weighted sums over its neighbours;
the kernel computes them in one pass, numpy is the reference (``compiled_selection(False)``
turns the kernel off), and every answer must agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recommender.engine import _search
from recommender.engine.predictor import (
    UserRatings,
    compute_predictions,
    predict_for_rows,
    update_predictions,
)
from tests.engine.test_predictor_options import LEARNED, unit_features

kernel = _search.compiled_select


def test_the_sums_of_a_row_by_hand():
    # Unit rows: d = 0 is cos 1, d = sqrt(2) cos 0, d = 1 cos 1/2, d = 2 cos -1 (clipped).
    dist = np.array([[0.0, np.sqrt(2.0), 1.0, 2.0]])
    rows = np.array([[3, 0, 1, 2]], dtype=np.int64)
    values = np.array([10.0, 20.0, 30.0, 40.0])
    out = np.empty((1, 2))
    kernel.weighted_sums(dist, rows, 4, values, 2, 0.0, out)
    np.testing.assert_allclose(out, [[1.25, 40.0 + 0.25 * 20.0]], atol=1e-12)
    kernel.weighted_sums(dist, rows, 3, values, 1, 0.5, out)  # three neighbours, 0.5 added
    np.testing.assert_allclose(out, [[1.5 + 0.5 + 1.0, 1.5 * 40 + 0.5 * 10 + 1.0 * 20]])
    kernel.weighted_sums(dist, rows, 2, values, 0, 0.0, out)  # uniform
    np.testing.assert_allclose(out, [[2.0, 50.0]])


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((np.zeros((2, 3)), np.full((2, 3), 5), 3, np.zeros(5)), IndexError, "outside values"),
        ((np.zeros((2, 3)), np.full((2, 3), -1), 3, np.zeros(5)), IndexError, "outside values"),
        ((np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int64), 4, np.zeros(5)), ValueError, "w"),
        ((np.zeros((2, 3)), np.zeros((2, 2), dtype=np.int64), 2, np.zeros(5)), ValueError, "w"),
        ((np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int32), 3, np.zeros(5)), TypeError, "int64"),
    ],
)
def test_the_kernel_checks_its_arguments(args, error, message):
    dist, rows, width, values = args
    with pytest.raises(error, match=message):
        kernel.weighted_sums(dist, rows, width, values, 2, 0.0, np.empty((2, 2)))


@pytest.mark.parametrize("weights", ["uniform", "cosine", "cosine2", "distance"])
@pytest.mark.parametrize("shrinkage", [0.0, 1.0])
def test_predictions_and_scores_agree_with_the_numpy_path(weights, shrinkage):
    features = unit_features(n_movies=500, n_features=6)
    settings = dataclasses.replace(LEARNED, k=7, ranking_k=12, weights=weights, shrinkage=shrinkage)
    rng = np.random.default_rng(4)
    rows = rng.choice(500, size=40, replace=False)
    ratings = UserRatings(rows, rng.integers(1, 11, 40) / 2.0)
    answers = {}
    for compiled in (True, False):
        with _search.compiled_selection(compiled):
            full = compute_predictions(features, ratings, settings)
            before = UserRatings(ratings.rows[:-1], ratings.values[:-1])
            previous = compute_predictions(features, before, settings)
            updated = update_predictions(features, previous, ratings, settings, ratings_version=2)
            some = np.arange(0, 500, 7)
            some = some[~np.isin(some, ratings.rows)]
            by_rows, _ = predict_for_rows(features, ratings, some, settings, ks=(3, 7))
            answers[compiled] = (full, updated, by_rows)
    (full, updated, by_rows), (ref_full, ref_updated, ref_by_rows) = answers[True], answers[False]
    np.testing.assert_array_equal(full.neighbour_rows, ref_full.neighbour_rows)
    for got, expected in ((full, ref_full), (updated, ref_updated)):
        np.testing.assert_allclose(got.predicted, expected.predicted, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.score, expected.score, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.vote_sums, expected.vote_sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by_rows, ref_by_rows, rtol=1e-12, atol=1e-12)
    # The answers mean something: the correction moves predictions off the baselines.
    baseline = features.item_baseline[full.unrated_rows]
    assert np.abs(full.predicted - np.clip(baseline, 0.5, 5.0)).max() > 0.01
