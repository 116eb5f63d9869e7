"""Property-based tests (hypothesis) of the KNN estimators."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recommender.engine.distances import METRICS
from recommender.engine.knn import KNNClassifier, KNNRegressor

SETTINGS = settings(max_examples=40, deadline=None)

# No subnormals: 1/d of a subnormal distance overflows, which the engine deliberately treats
# as a zero distance but a naive reference cannot.
coordinates = st.floats(-100.0, 100.0, allow_subnormal=False, width=64)


@st.composite
def problems(draw: st.DrawFn, min_samples: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows X, targets y and queries Q; values may repeat (ties are possible)."""
    n = draw(st.integers(min_samples, 40))
    f = draw(st.integers(1, 4))
    X = draw(hnp.arrays(np.float64, (n, f), elements=coordinates))
    y = draw(hnp.arrays(np.float64, n, elements=st.floats(-5, 5, width=64)))
    Q = draw(hnp.arrays(np.float64, (draw(st.integers(1, 12)), f), elements=coordinates))
    return X, y, Q


def brute_distances(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    diff = Q[:, None, :] - X[None, :, :]
    if metric == "euclidean":
        return np.sqrt((diff**2).sum(axis=2))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=2)
    return (diff != 0).mean(axis=2)


@SETTINGS
@given(
    data=problems(min_samples=2),
    k_frac=st.floats(0, 1),
    metric=st.sampled_from(METRICS),
    weights=st.sampled_from(["uniform", "distance"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_permuting_training_rows_does_not_change_predictions_without_boundary_ties(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    k_frac: float,
    metric: str,
    weights: str,
    seed: int,
) -> None:
    X, y, Q = data
    k = 1 + int(k_frac * (len(X) - 1))
    perm = np.random.default_rng(seed).permutation(len(X))
    a = KNNRegressor(k, weights=weights, metric=metric).fit(X, y).predict(Q)
    b = KNNRegressor(k, weights=weights, metric=metric).fit(X[perm], y[perm]).predict(Q)
    s = np.sort(brute_distances(Q, X, metric), axis=1)
    # Where the k-th and (k+1)-th distances tie, the neighbour set legitimately depends on the
    # training order; elsewhere it must not.
    free = np.ones(len(Q), bool) if k == len(X) else s[:, k] - s[:, k - 1] > 1e-9 * (1 + s[:, k])
    np.testing.assert_allclose(a[free], b[free], rtol=1e-9, atol=1e-9)


@SETTINGS
@given(
    data=problems(),
    k_frac=st.floats(0, 1),
    metric=st.sampled_from(METRICS),
    weights=st.sampled_from(["uniform", "distance", "callable"]),
)
def test_regressor_predictions_lie_within_the_range_of_targets(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], k_frac: float, metric: str, weights: str
) -> None:
    X, y, Q = data
    k = 1 + int(k_frac * (len(X) - 1))
    w = (lambda d: np.exp(-d)) if weights == "callable" else weights
    pred = KNNRegressor(k, weights=w, metric=metric).fit(X, y).predict(Q)
    span = 1e-12 * (1 + np.abs(y).max())
    assert (pred >= y.min() - span).all()
    assert (pred <= y.max() + span).all()


@SETTINGS
@given(data=problems(), metric=st.sampled_from(METRICS))
def test_k_equal_n_uniform_predicts_the_mean_of_all_targets(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], metric: str
) -> None:
    X, y, Q = data
    pred = KNNRegressor(len(X), metric=metric).fit(X, y).predict(Q)
    np.testing.assert_allclose(pred, np.full(len(Q), y.mean()), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=problems(), metric=st.sampled_from(METRICS))
def test_k_equal_n_distance_weights_predict_the_inverse_distance_weighted_mean(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], metric: str
) -> None:
    X, y, Q = data
    D = brute_distances(Q, X, metric)
    pred = KNNRegressor(len(X), weights="distance", metric=metric).fit(X, y).predict(Q)
    far = (D > 0).all(axis=1)  # rows without a zero distance: plain 1/d weights
    w = 1.0 / D[far]
    np.testing.assert_allclose(pred[far], (w @ y) / w.sum(axis=1), rtol=1e-9, atol=1e-12)
    for row in np.flatnonzero(~far):  # zero-distance rule: mean over the exact matches
        np.testing.assert_allclose(pred[row], y[D[row] == 0].mean(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=problems(), k_frac=st.floats(0, 1), metric=st.sampled_from(METRICS))
def test_kneighbors_returns_the_k_smallest_distances_in_index_order_on_ties(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], k_frac: float, metric: str
) -> None:
    X, y, Q = data
    k = 1 + int(k_frac * (len(X) - 1))
    dist, ind = KNNRegressor(k, metric=metric).fit(X, y).kneighbors(Q)
    D = brute_distances(Q, X, metric)
    np.testing.assert_allclose(dist, np.sort(D, axis=1)[:, :k], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(D, ind, axis=1), dist, rtol=1e-9, atol=1e-9)
    assert (np.diff(dist, axis=1) >= 0).all()
    # Exact ties (equal reported distances) list lower training indices first.
    same = np.diff(dist, axis=1) == 0
    assert (np.diff(ind, axis=1)[same] > 0).all()


@SETTINGS
@given(data=problems(), k_frac=st.floats(0, 1), metric=st.sampled_from(METRICS))
def test_classifier_probabilities_are_a_distribution_and_predict_a_most_voted_label(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], k_frac: float, metric: str
) -> None:
    X, y, Q = data
    k = 1 + int(k_frac * (len(X) - 1))
    labels = np.where(y > 0, "up", "down")
    model = KNNClassifier(k, weights="distance", metric=metric).fit(X, labels)
    proba = model.predict_proba(Q)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()
    chosen = np.searchsorted(model.classes_, model.predict(Q))
    best = proba.max(axis=1)
    assert (proba[np.arange(len(Q)), chosen] >= best * (1 - 1e-9)).all()
