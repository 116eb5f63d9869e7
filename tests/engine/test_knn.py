"""Tests of KNNRegressor / KNNClassifier: cross-checks against scikit-learn's brute force,
the zero-distance and tie rules, block-size invariance and input validation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from recommender.engine import _search
from recommender.engine.distances import METRICS
from recommender.engine.knn import KNNClassifier, KNNRegressor, neighbor_weights

# Every test here runs on the compiled selection and on its numpy reference.
pytestmark = pytest.mark.usefixtures("selection_path")


def similarity(d: np.ndarray) -> np.ndarray:
    """Similarity-style weights, as the service passes: finite even at d = 0."""
    return 1.0 / (d + 1e-3)


WEIGHTS: dict[str, str | Callable[[np.ndarray], np.ndarray]] = {
    "uniform": "uniform",
    "distance": "distance",
    "callable": similarity,
}


def direct_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    diff = A[:, None, :] - B[None, :, :]
    if metric == "euclidean":
        return np.sqrt((diff**2).sum(axis=2))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=2)
    return (diff != 0).mean(axis=2)


def make_data(seed: int, metric: str, n_train: int, n_queries: int = 40):
    """Continuous data (no distance ties) except for hamming, which needs repeated values."""
    rng = np.random.default_rng(seed)
    if metric == "hamming":
        # More queries: many of them tie at the k-th distance and are left out of comparisons.
        X = rng.integers(0, 3, (n_train, 16)).astype(float)
        Q = rng.integers(0, 3, (3 * n_queries, 16)).astype(float)
    else:
        X = rng.normal(size=(n_train, 5))
        Q = rng.normal(size=(n_queries, 5))
    return X, Q, rng


def determined_rows(D: np.ndarray, k: int) -> np.ndarray:
    """Rows whose set of k nearest is unambiguous: the k-th and (k+1)-th distances differ."""
    if k == D.shape[1]:
        return np.ones(D.shape[0], dtype=bool)
    s = np.sort(D, axis=1)
    return s[:, k] - s[:, k - 1] > 1e-9 * (1.0 + s[:, k])


def stable_reference(D: np.ndarray, k: int) -> np.ndarray:
    """The k nearest in (distance, training index) order: the engine's documented rule."""
    return np.argsort(D, axis=1, kind="stable")[:, :k]


CROSS_CHECK = pytest.mark.parametrize(
    ("metric", "weights", "k", "seed", "n_train"),
    [
        (metric, weights, k, seed, n_train)
        for metric in METRICS
        for weights in WEIGHTS
        for k in (1, 3, 7, "n")
        for seed in (0, 1, 2)
        # 30 samples: plain selection; 251: grouped selection with a tail column.
        for n_train in ((30, 251) if seed == 0 else (30,))
    ],
)


def resolve_k(k: int | str, n_train: int) -> int:
    return n_train if k == "n" else int(k)


@CROSS_CHECK
def test_regressor_matches_sklearn_brute_force(
    metric: str, weights: str, k: int | str, seed: int, n_train: int
) -> None:
    X, Q, rng = make_data(seed, metric, n_train)
    y = rng.normal(size=n_train)
    k = resolve_k(k, n_train)
    ours = KNNRegressor(n_neighbors=k, weights=WEIGHTS[weights], metric=metric).fit(X, y)
    ref = KNeighborsRegressor(
        n_neighbors=k, weights=WEIGHTS[weights], metric=metric, algorithm="brute"
    ).fit(X, y)

    dist, ind = ours.kneighbors(Q)
    ref_dist, ref_ind = ref.kneighbors(Q)
    D = direct_distances(Q, X, metric)
    det = determined_rows(D, k)
    if metric != "hamming":
        assert det.all()
    assert det.sum() >= 5  # the comparison below is not vacuous

    # Sorted distance lists do not depend on how ties are broken: compare every row.
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10, atol=1e-12)
    # Same neighbour sets where determined (order within equal distances may differ) ...
    np.testing.assert_array_equal(np.sort(ind[det], axis=1), np.sort(ref_ind[det], axis=1))
    if metric != "hamming":
        np.testing.assert_array_equal(ind, ref_ind)
    # ... and everywhere our documented order: (distance, training index).
    np.testing.assert_array_equal(ind, stable_reference(D, k))
    np.testing.assert_allclose(ours.predict(Q)[det], ref.predict(Q)[det], rtol=1e-10, atol=1e-12)


@CROSS_CHECK
def test_classifier_matches_sklearn_brute_force_without_vote_ties(
    metric: str, weights: str, k: int | str, seed: int, n_train: int
) -> None:
    X, Q, rng = make_data(seed, metric, n_train)
    labels = np.array(["drama", "comedy", "horror"])[rng.integers(0, 3, n_train)]
    k = resolve_k(k, n_train)
    ours = KNNClassifier(n_neighbors=k, weights=WEIGHTS[weights], metric=metric).fit(X, labels)
    ref = KNeighborsClassifier(
        n_neighbors=k, weights=WEIGHTS[weights], metric=metric, algorithm="brute"
    ).fit(X, labels)

    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    det = determined_rows(direct_distances(Q, X, metric), k)
    proba, ref_proba = ours.predict_proba(Q), ref.predict_proba(Q)
    np.testing.assert_allclose(proba[det], ref_proba[det], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    # sklearn breaks vote ties differently (smallest label): compare clear winners only.
    top2 = np.sort(ref_proba, axis=1)[:, -2:]
    clear = det & (top2[:, 1] - top2[:, 0] > 1e-6)
    assert clear.any()
    np.testing.assert_array_equal(ours.predict(Q)[clear], ref.predict(Q)[clear])


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_bench_sized_problem_matches_sklearn(weights: str) -> None:
    # n = 1,001 and k = 20: grouped selection (6 columns per group) with 5 tail columns.
    rng = np.random.default_rng(7)
    X, Q, y = rng.random((1001, 30)), rng.random((3000, 30)), rng.random(1001) * 5
    ours = KNNRegressor(20, weights=weights).fit(X, y)
    ref = KNeighborsRegressor(20, weights=weights, algorithm="brute").fit(X, y)
    dist, ind = ours.kneighbors(Q)
    ref_dist, ref_ind = ref.kneighbors(Q)
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(Q), ref.predict(Q), rtol=1e-10)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_querying_the_training_set_excludes_each_sample_like_sklearn(weights: str) -> None:
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    ours = KNNRegressor(4, weights=weights).fit(X, y)
    ref = KNeighborsRegressor(n_neighbors=4, weights=weights, algorithm="brute").fit(X, y)
    dist, ind = ours.kneighbors()
    ref_dist, ref_ind = ref.kneighbors()
    np.testing.assert_array_equal(ind, ref_ind)
    assert (ind != np.arange(60)[:, None]).all()
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(None), ref.predict(None), rtol=1e-10)


def test_kneighbors_n_neighbors_override_and_indices_only() -> None:
    rng = np.random.default_rng(9)
    X, Q = rng.normal(size=(50, 3)), rng.normal(size=(10, 3))
    model = KNNRegressor(n_neighbors=2).fit(X, np.zeros(50))
    dist, ind = model.kneighbors(Q, n_neighbors=6)
    assert dist.shape == ind.shape == (10, 6)
    assert (np.diff(dist, axis=1) >= 0).all()
    only = model.kneighbors(Q, return_distance=False)
    assert isinstance(only, np.ndarray)
    np.testing.assert_array_equal(only, ind[:, :2])


# ---------------------------------------------------------------------------------------------
# Zero distances, duplicates and distance ties
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_distance_weights_zero_distance_neighbours_share_weight(metric: str) -> None:
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [3.0, 3.0], [0.0, 0.0]])
    y = np.array([1.0, 2.0, 5.0, 10.0, 6.0])
    model = KNNRegressor(n_neighbors=4, weights="distance", metric=metric).fit(X, y)
    # Three training rows equal the query: they alone share the weight, [1, 1] gets none.
    assert model.predict([[0.0, 0.0]])[0] == pytest.approx((1.0 + 5.0 + 6.0) / 3)
    d, i = model.kneighbors([[1.0, 1.0]])
    assert d[0, 0] == 0.0 and i[0, 0] == 1
    # Away from the duplicates ordinary 1/d weights apply: four neighbours at one distance
    # (the first four by index for hamming, where every row differs in both coordinates).
    q = np.array([[0.5, 0.5]])
    nearest = stable_reference(direct_distances(q, X, metric), 4)[0]
    assert model.predict(q)[0] == pytest.approx(y[nearest].mean())


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_query_equal_to_a_training_row_is_at_distance_exactly_zero(offset: float) -> None:
    # With a large offset ||a||^2 - 2ab + ||b||^2 cancels to rounding noise; the engine must
    # still report 0 so that the zero-distance rule (prediction = that row's target) applies.
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 8)) + offset
    y = rng.normal(size=300)
    rows = [5, 17, 123, 299]
    model = KNNRegressor(n_neighbors=7, weights="distance").fit(X, y)
    dist, ind = model.kneighbors(X[rows])
    np.testing.assert_array_equal(dist[:, 0], 0.0)
    np.testing.assert_array_equal(ind[:, 0], rows)
    assert (dist[:, 1:] > 0).all()
    np.testing.assert_array_equal(model.predict(X[rows]), y[rows])


@pytest.mark.parametrize("metric", METRICS)
def test_duplicated_samples_have_equal_distances_and_come_in_index_order(metric: str) -> None:
    rng = np.random.default_rng(11)
    base = rng.integers(0, 4, (8, 5)).astype(float) + (100.0 if metric == "euclidean" else 0)
    X = base[rng.integers(0, 8, 120)]  # every sample has ~15 duplicates
    Q = rng.integers(0, 4, (50, 5)).astype(float) + (100.0 if metric == "euclidean" else 0)
    model = KNNRegressor(n_neighbors=25, metric=metric).fit(X, np.zeros(120))
    dist, ind = model.kneighbors(Q)
    D = direct_distances(Q, X, metric)
    np.testing.assert_array_equal(ind, stable_reference(D, 25))
    same_sample = (X[ind[:, 1:]] == X[ind[:, :-1]]).all(axis=2)
    assert same_sample.any()
    # Duplicates: bitwise-equal distances, increasing training index.
    np.testing.assert_array_equal(dist[:, 1:][same_sample], dist[:, :-1][same_sample])
    assert (ind[:, 1:][same_sample] > ind[:, :-1][same_sample]).all()


def test_equal_distances_from_different_samples_are_ordered_by_index() -> None:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [5.0, 5.0]])
    model = KNNRegressor(n_neighbors=3).fit(X, np.arange(5.0))
    dist, ind = model.kneighbors([[0.0, 0.0]])
    np.testing.assert_array_equal(ind, [[0, 1, 2]])
    np.testing.assert_array_equal(dist, [[1.0, 1.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# Classifier vote ties: the closest neighbour's label among the tied labels wins
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "query", "expected"),
    [
        (["b", "a"], 0.4, "b"),  # closest is the larger label (sklearn would say "a")
        (["b", "a"], 0.6, "a"),
        ([1, 0], 0.4, 1),
        ([1, 0], 0.6, 0),
    ],
)
def test_two_equally_weighted_labels_tie_goes_to_the_closest_neighbour(
    labels: list[object], query: float, expected: object
) -> None:
    X = np.array([[0.0], [1.0]])
    model = KNNClassifier(n_neighbors=2).fit(X, labels)
    assert model.predict([[query]])[0] == expected
    np.testing.assert_allclose(model.predict_proba([[query]]), [[0.5, 0.5]])


def test_tie_rule_differs_from_sklearn_smallest_label_rule() -> None:
    X, labels = np.array([[0.0], [1.0]]), ["b", "a"]
    ref = KNeighborsClassifier(n_neighbors=2, algorithm="brute").fit(X, labels)
    assert ref.predict([[0.4]])[0] == "a"
    assert KNNClassifier(n_neighbors=2).fit(X, labels).predict([[0.4]])[0] == "b"


def test_distance_weighted_tie_goes_to_the_closest_tied_label() -> None:
    # Query 0: "z" at distance 1 weighs 1/1; "a" twice at distance 2 weighs 1/2 + 1/2.
    X = np.array([[1.0], [-2.0], [2.0]])
    model = KNNClassifier(n_neighbors=3, weights="distance").fit(X, ["z", "a", "a"])
    assert model.predict([[0.0]])[0] == "z"
    # Move the query: "a" now clearly wins.
    assert model.predict([[-0.5]])[0] == "a"


def test_tie_among_some_labels_ignores_a_closer_untied_label() -> None:
    # Votes: a = 2, b = 2, c = 1. c is closest but not tied for the lead; b is the closest
    # neighbour among the tied labels a and b.
    X = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]])
    model = KNNClassifier(n_neighbors=5).fit(X, ["c", "b", "a", "a", "b"])
    assert model.predict([[0.0]])[0] == "b"


def test_classifier_zero_distance_neighbours_alone_vote() -> None:
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    model = KNNClassifier(n_neighbors=5, weights="distance").fit(X, [2, 2, 1, 1, 1])
    np.testing.assert_array_equal(model.predict_proba([[0.0, 0.0]]), [[0.0, 1.0]])
    assert model.predict([[0.0, 0.0]])[0] == 2


def test_classes_are_sorted_and_label_dtype_is_preserved() -> None:
    X = np.arange(6.0)[:, None]
    model = KNNClassifier(n_neighbors=1).fit(X, ["pg", "r", "g", "r", "pg", "g"])
    np.testing.assert_array_equal(model.classes_, ["g", "pg", "r"])
    np.testing.assert_array_equal(model.predict([[0.1], [1.2]]), ["pg", "r"])
    proba = model.predict_proba([[1.2]])
    np.testing.assert_array_equal(proba, [[0.0, 0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# Block size does not change the answers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("block", [1, 3, 7])
def test_tiny_blocks_give_the_same_results_as_one_block(
    metric: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, Q, rng = make_data(12, metric, 90, n_queries=50)
    y = rng.normal(size=90)
    labels = rng.integers(0, 3, 90)
    reg = KNNRegressor(n_neighbors=5, weights="distance", metric=metric).fit(X, y)
    clf = KNNClassifier(n_neighbors=5, metric=metric).fit(X, labels)
    whole = (*reg.kneighbors(Q), reg.predict(Q), reg.predict(None), clf.predict(Q))

    monkeypatch.setattr(_search, "MAX_BLOCK_ROWS", block)
    monkeypatch.setattr(_search, "MAX_GEMM_BLOCK_ROWS", 2 * block + 1)
    dist, ind = reg.kneighbors(Q)
    np.testing.assert_array_equal(ind, whole[1])
    np.testing.assert_array_equal(clf.predict(Q), whole[4])
    if metric == "euclidean":
        # The matrix product rounds a row differently depending on its position in the block;
        # the selected neighbours cannot change, the last bits of distances may.
        np.testing.assert_allclose(dist, whole[0], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(reg.predict(Q), whole[2], rtol=1e-13)
        np.testing.assert_allclose(reg.predict(None), whole[3], rtol=1e-13)
    else:
        np.testing.assert_array_equal(dist, whole[0])
        np.testing.assert_array_equal(reg.predict(Q), whole[2])
        np.testing.assert_array_equal(reg.predict(None), whole[3])


def test_empty_query_gives_empty_results() -> None:
    model = KNNClassifier(n_neighbors=2).fit(np.eye(3), ["x", "y", "z"])
    dist, ind = model.kneighbors(np.empty((0, 3)))
    assert dist.shape == ind.shape == (0, 2)
    assert model.predict(np.empty((0, 3))).shape == (0,)
    assert model.predict_proba(np.empty((0, 3))).shape == (0, 3)
    assert KNNRegressor(2).fit(np.eye(3), [1, 2, 3]).predict(np.empty((0, 3))).shape == (0,)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

X3 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
Y3 = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize("estimator", [KNNRegressor, KNNClassifier])
@pytest.mark.parametrize(
    ("params", "X", "y", "message"),
    [
        ({"n_neighbors": 0}, X3, Y3, r"Expected n_neighbors >= 1, got 0"),
        ({"n_neighbors": -2}, X3, Y3, r"Expected n_neighbors >= 1, got -2"),
        ({"n_neighbors": 2.0}, X3, Y3, r"Expected n_neighbors to be an integer, got 2\.0"),
        ({"n_neighbors": True}, X3, Y3, r"Expected n_neighbors to be an integer, got True"),
        ({"n_neighbors": 5}, X3, Y3, r"Expected n_neighbors <= n_samples, got 5 > 3"),
        ({"metric": "cosine"}, X3, Y3, r"Unknown metric 'cosine'"),
        ({"weights": "gaussian"}, X3, Y3, r"Unknown weights 'gaussian'"),
        ({"n_neighbors": 1}, [[0.0, np.nan], [1, 1], [2, 2]], Y3, r"X contains NaN or infinity"),
        ({"n_neighbors": 1}, [[0.0, np.inf], [1, 1], [2, 2]], Y3, r"X contains NaN or infinity"),
        ({"n_neighbors": 1}, [0.0, 1.0, 2.0], Y3, r"Expected X to be 2-D"),
        ({"n_neighbors": 1}, X3[:, :, None], Y3, r"Expected X to be 2-D"),
        ({"n_neighbors": 1}, np.empty((3, 0)), Y3, r"at least one feature in X"),
        ({"n_neighbors": 1}, np.empty((0, 2)), [], r"Expected at least one sample in X, got 0"),
        ({"n_neighbors": 1}, [["a", "b"]] * 3, Y3, r"X must contain only numbers"),
        ({"n_neighbors": 1}, X3, Y3[:, None], r"Expected y to be 1-D"),
        ({"n_neighbors": 1}, X3, Y3[:2], r"Expected len\(y\) == n_samples, got 2 != 3"),
        ({"n_neighbors": 1}, X3, [1.0, np.nan, 2.0], r"y contains NaN or infinity"),
        ({"n_neighbors": 1}, X3, [1.0, np.inf, 2.0], r"y contains NaN or infinity"),
    ],
)
def test_fit_rejects_bad_input_naming_the_problem(
    estimator: type, params: dict[str, object], X: object, y: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        estimator(**params).fit(X, y)


def test_regressor_rejects_non_numeric_targets() -> None:
    with pytest.raises(ValueError, match="y must contain only numbers"):
        KNNRegressor(1).fit(X3, ["a", "b", "c"])


def test_classifier_rejects_incomparable_labels() -> None:
    with pytest.raises(ValueError, match="mutually comparable"):
        KNNClassifier(1).fit(X3, np.array([1, "a", None], dtype=object))


def test_parameters_are_only_validated_by_fit() -> None:
    model = KNNRegressor(n_neighbors=-1, weights="nope", metric="nope")
    assert model.n_neighbors == -1
    with pytest.raises(ValueError, match="n_neighbors"):
        model.fit(X3, Y3)


def test_failed_refit_keeps_the_previous_fit() -> None:
    model = KNNRegressor(n_neighbors=1).fit(X3, Y3)
    with pytest.raises(ValueError, match="NaN"):
        model.fit([[np.nan, 0.0]], [1.0])
    np.testing.assert_array_equal(model.predict([[1.0, 0.0]]), [2.0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.predict([[0.0, np.nan]]), r"X contains NaN or infinity"),
        (lambda m: m.predict([[0.0, np.inf]]), r"X contains NaN or infinity"),
        (lambda m: m.predict([[0.0, 1.0, 2.0]]), r"Expected X with 2 features as in fit, got 3"),
        (lambda m: m.predict([0.0, 1.0]), r"Expected X to be 2-D"),
        (lambda m: m.kneighbors([[0.0, np.nan]]), r"X contains NaN or infinity"),
        (lambda m: m.kneighbors([[0.0]]), r"Expected X with 2 features as in fit, got 1"),
        (lambda m: m.kneighbors([[0, 0]], n_neighbors=4), r"n_neighbors <= n_samples, got 4 > 3"),
        (lambda m: m.kneighbors([[0, 0]], n_neighbors=0), r"Expected n_neighbors >= 1, got 0"),
        (lambda m: m.kneighbors(None, n_neighbors=3), r"n_neighbors < n_samples .*got 3 >= 3"),
    ],
)
def test_queries_are_validated_naming_the_problem(
    call: Callable[[KNNRegressor], object], message: str
) -> None:
    model = KNNRegressor(n_neighbors=2).fit(X3, Y3)
    with pytest.raises(ValueError, match=message):
        call(model)


@pytest.mark.parametrize(
    ("estimator", "method"),
    [
        (KNNRegressor, "predict"),
        (KNNRegressor, "kneighbors"),
        (KNNClassifier, "predict"),
        (KNNClassifier, "predict_proba"),
        (KNNClassifier, "kneighbors"),
    ],
)
def test_using_an_unfitted_model_says_to_call_fit_first(estimator: type, method: str) -> None:
    with pytest.raises(ValueError, match=r"not fitted yet; call fit\(X, y\) first"):
        getattr(estimator(), method)([[0.0, 0.0]])


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (lambda d: d[:, :1], r"weights callable to return an array of shape \(1, 2\)"),
        (lambda d: np.ones(d.size), r"weights callable to return an array of shape"),
        (lambda d: -np.ones_like(d), r"negative weights"),
        (lambda d: np.full_like(d, np.nan), r"NaN or infinity"),
        (lambda d: np.zeros_like(d), r"zero weight to all neighbours"),
    ],
)
def test_weights_callable_output_is_validated(
    weights: Callable[[np.ndarray], np.ndarray], message: str
) -> None:
    model = KNNRegressor(n_neighbors=2, weights=weights).fit(X3, Y3)
    with pytest.raises(ValueError, match=message):
        model.predict([[0.2, 0.1]])


def test_weights_callable_receives_the_sorted_neighbour_distances() -> None:
    seen: list[np.ndarray] = []

    def spy(d: np.ndarray) -> np.ndarray:
        seen.append(d.copy())
        return np.ones_like(d)

    model = KNNClassifier(n_neighbors=3, weights=spy).fit(X3, ["a", "b", "c"])
    model.predict([[0.0, 0.0]])
    np.testing.assert_allclose(seen[0], [[0.0, 1.0, 1.0]])


def test_private_selection_flags_float32_group_ties_as_unresolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two groups whose minima differ below float32 resolution: the grouped selection cannot
    # tell them apart and must hand the row to the exact path rather than guess.
    monkeypatch.setattr(_search, "use_compiled", False)  # the numpy path groups narrower rows
    n, k = 200, 1
    keys = np.full((1, n), 10.0)
    keys[0, 0] = 1.0
    keys[0, 1] = 1.0 + 1e-12
    assert _search.group_size(n, k) > 1
    _, _, unresolved = _search.select_smallest(keys, k, np.zeros(1), ordered=False)
    assert unresolved.all()
    # The public path resolves it exactly: the smaller distance (sample 0) wins.
    X = np.zeros((n, 1)) + 10.0
    X[0, 0], X[1, 0] = 1.0, 1.0 + 1e-12
    dist, ind = KNNRegressor(1, metric="manhattan").fit(X, np.zeros(n)).kneighbors([[0.0]])
    assert ind[0, 0] == 0 and dist[0, 0] == 1.0


def test_public_neighbor_weights_are_the_weights_predict_uses():
    rng = np.random.default_rng(7)
    X, y, query = rng.random((30, 4)), rng.random(30), rng.random((5, 4))
    model = KNNRegressor(n_neighbors=4, weights="distance").fit(X, y)
    dist, ind = model.kneighbors(query)
    w = neighbor_weights(dist, "distance")
    np.testing.assert_allclose((w * y[ind]).sum(1) / w.sum(1), model.predict(query))
    assert neighbor_weights(dist, "uniform") is None
