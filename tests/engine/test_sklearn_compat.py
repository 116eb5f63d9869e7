"""The scikit-learn spellings the estimators accept (metric aliases, ``weights=None``), the
not-fitted error class, and where the engine deliberately keeps rules of its own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.metrics import pairwise_distances as sk_pairwise_distances
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from recommender.engine.distances import pairwise_distances
from recommender.engine.knn import KNNClassifier, KNNRegressor, NotFittedError

# (metric, p) as scikit-learn spells them; each is one of the engine's metrics.
ALIASES = [("minkowski", 2), ("minkowski", 1), ("minkowski", 2.0), ("l2", 2), ("cityblock", 2)]
ALIASES += [("l1", 2), ("euclidean", 1), ("manhattan", 2)]


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X, Q = rng.normal(size=(80, 5)), rng.normal(size=(30, 5))
    return X, Q, rng.normal(size=80), rng.integers(0, 3, 80)


@pytest.mark.parametrize(("metric", "p"), ALIASES)
def test_metric_aliases_match_sklearn(metric: str, p: float) -> None:
    X, Q, y, labels = data()
    ours = KNNRegressor(7, weights="distance", metric=metric, p=p).fit(X, y)
    theirs = KNeighborsRegressor(
        n_neighbors=7, weights="distance", metric=metric, p=p, algorithm="brute"
    ).fit(X, y)
    dist, ind = ours.kneighbors(Q)
    ref_dist, ref_ind = theirs.kneighbors(Q)
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(Q), theirs.predict(Q), rtol=1e-10)
    clf = KNNClassifier(7, metric=metric, p=p).fit(X, labels)
    ref_clf = KNeighborsClassifier(n_neighbors=7, metric=metric, p=p, algorithm="brute")
    np.testing.assert_allclose(
        clf.predict_proba(Q), ref_clf.fit(X, labels).predict_proba(Q), rtol=1e-12
    )


@pytest.mark.parametrize("metric", ["l2", "cityblock", "l1"])
def test_pairwise_distances_accept_the_aliases(metric: str) -> None:
    X, Q, _, _ = data(1)
    np.testing.assert_allclose(
        pairwise_distances(Q, X, metric), sk_pairwise_distances(Q, X, metric=metric), atol=1e-12
    )


@pytest.mark.parametrize("p", [1, 2])
def test_pairwise_distances_accept_minkowski_with_p_one_or_two(p: int) -> None:
    X, Q, _, _ = data(2)
    np.testing.assert_allclose(
        pairwise_distances(Q, X, "minkowski", p=p),
        sk_pairwise_distances(Q, X, metric="minkowski", p=p),
        atol=1e-12,
    )


@pytest.mark.parametrize("p", [3, 0.5, np.inf, True, "2"])
def test_minkowski_powers_other_than_one_and_two_are_refused(p: object) -> None:
    X, _, y, _ = data()
    with pytest.raises(ValueError, match=r"Unsupported Minkowski power p=.*; expected 1 or 2"):
        KNNRegressor(3, metric="minkowski", p=p).fit(X, y)  # type: ignore[arg-type]


def test_weights_none_is_uniform_as_in_sklearn() -> None:
    X, Q, y, labels = data(3)
    ours = KNNRegressor(5, weights=None).fit(X, y)
    np.testing.assert_array_equal(ours.predict(Q), KNNRegressor(5).fit(X, y).predict(Q))
    theirs = KNeighborsRegressor(n_neighbors=5, weights=None, algorithm="brute").fit(X, y)
    np.testing.assert_allclose(ours.predict(Q), theirs.predict(Q), rtol=1e-12)
    clf = KNNClassifier(5, weights=None).fit(X, labels)
    ref = KNeighborsClassifier(n_neighbors=5, weights=None, algorithm="brute").fit(X, labels)
    np.testing.assert_allclose(clf.predict_proba(Q), ref.predict_proba(Q), rtol=1e-12)


@pytest.mark.parametrize("estimator", [KNNRegressor, KNNClassifier])
@pytest.mark.parametrize("caught", [NotFittedError, ValueError, AttributeError])
def test_the_not_fitted_error_is_caught_as_sklearns_is(estimator: type, caught: type) -> None:
    # scikit-learn's NotFittedError is both a ValueError and an AttributeError; ours too.
    assert issubclass(SkNotFittedError, ValueError) and issubclass(SkNotFittedError, AttributeError)
    with pytest.raises(caught, match=r"not fitted yet; call fit\(X, y\) first"):
        estimator().predict([[0.0, 0.0]])


def test_equal_distances_follow_our_rule_lower_index_first() -> None:
    # Our rule, not scikit-learn's: samples 1 and 3 are both at sqrt(2) from the query, and we
    # take the lower index (scikit-learn's brute force returns [0, 4, 3] here).
    X = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0]], dtype=float)
    ind = KNNRegressor(3).fit(X, np.zeros(5)).kneighbors([[1.0, 0.0]], return_distance=False)
    np.testing.assert_array_equal(ind, [[0, 4, 1]])


def test_multi_output_regression_is_refused_saying_so() -> None:
    X, _, y, _ = data()
    with pytest.raises(ValueError, match=r"Expected y to be 1-D .*multi-output .*not supported"):
        KNNRegressor(3).fit(X, np.column_stack([y, y]))
