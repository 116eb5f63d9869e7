"""Float32 keys with a float64 re-check (``_search.float32_keys``, ``_select.refined_smallest``).

From ``FLOAT32_MIN_SAMPLES`` reference rows on, the Euclidean keys come from a float32 product
and only the keys within the slack of each row's k-th are computed again in float64. The
answers must be those of the float64 keys: the same neighbours in the same order, distances
and predictions equal within rounding, scikit-learn's within 1e-9.

The data are multiples of 2^-10 below 4 in magnitude wherever keys are compared exactly: their
float64 dot products are exact whatever the summation order (29 significant bits at most),
while their float32 sums round, so the slack is exercised and ties are real ties.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor

from recommender.engine import _search
from recommender.engine.knn import KNNRegressor


def dyadic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-4 * 1024, 4 * 1024, size=shape) / 1024.0


class CountingKernel:
    """The compiled kernel, counting the calls of its float32 selection."""

    def __init__(self, kernel: object) -> None:
        self.kernel = kernel
        self.refined_calls = 0

    def refined_smallest(self, *args: object) -> None:
        self.refined_calls += 1
        self.kernel.refined_smallest(*args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.kernel, name)


@pytest.fixture
def counting_kernel(monkeypatch: pytest.MonkeyPatch) -> CountingKernel:
    assert _search.compiled_select is not None
    counting = CountingKernel(_search.compiled_select)
    monkeypatch.setattr(_search, "compiled_select", counting)
    return counting


def refined(
    X: np.ndarray, Q: np.ndarray, m: int, slack: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's m smallest keys of Q's rows against X from float32 keys, and the float64
    keys (exact for dyadic data)."""
    ref = _search.prepare_reference(X, "euclidean")
    queries = _search.augmented_queries(Q)
    q_sq = _search.query_sq_norms(Q, ref)
    keys32 = queries.astype(np.float32) @ ref.augmented.astype(np.float32).T
    if slack is None:
        slack = _search.float32_slack(q_sq, ref)
    vals = np.empty((len(Q), m))
    cols = np.empty((len(Q), m), dtype=np.intp)
    _search.compiled_select.refined_smallest(keys32, slack, queries, ref.augmented, vals, cols)
    return vals, cols, queries @ ref.augmented.T


@pytest.mark.parametrize("n", [1, 20, 21, 300, 2_000])
@pytest.mark.parametrize("m", [1, 21, 61])
@pytest.mark.parametrize("duplicates", [False, True])
def test_the_refined_selection_is_a_stable_sort_of_the_float64_keys(
    n: int, m: int, duplicates: bool
) -> None:
    if m > n:
        return
    rng = np.random.default_rng(n * 100 + m + duplicates)
    X = dyadic(rng, (n, 30))
    if duplicates:  # equal keys: the lower column first
        X[1::5] = X[0]
    Q = np.vstack([dyadic(rng, (40, 30)), X[:3]])
    vals, cols, exact = refined(X, Q, m)
    order = np.lexsort((np.broadcast_to(np.arange(n), exact.shape), exact), axis=1)[:, :m]
    np.testing.assert_array_equal(cols, order)
    np.testing.assert_array_equal(vals, np.take_along_axis(exact, order, axis=1))


def test_the_slack_is_needed_and_is_enough() -> None:
    # Samples along one axis from a query far from the origin, the farther ones first: their
    # float64 keys differ by multiples of 2^-20, less than float32's spacing at the query's
    # squared norm (about 190), so the float32 keys tie or misorder them.
    rng = np.random.default_rng(7)
    centre = dyadic(rng, (30,))
    centre *= 2.5 / np.abs(centre).max()  # |centre|^2 near 190, entries still below 4
    centre = np.round(centre * 1024) / 1024
    n = 400
    X = np.tile(centre, (n, 1))
    X[:, 0] += (n - np.arange(n)) / 1024.0
    Q = np.vstack([centre, dyadic(rng, (20, 30))])
    vals, cols, exact = refined(X, Q, 21)
    ref = _search.prepare_reference(X, "euclidean")
    keys32 = _search.augmented_queries(Q).astype(np.float32) @ ref.augmented.astype(np.float32).T
    columns = np.broadcast_to(np.arange(n), exact.shape)
    order32 = np.lexsort((columns, keys32), axis=1)[:, :21]
    order = np.lexsort((columns, exact), axis=1)[:, :21]
    assert (order32[0] != order[0]).any()  # float32 alone gets the first row wrong
    assert order[0].tolist() == list(range(n - 1, n - 22, -1))
    np.testing.assert_array_equal(cols, order)
    np.testing.assert_array_equal(vals, np.take_along_axis(exact, order, axis=1))
    # Every float32 key is within half the slack of its float64 key.
    slack = _search.float32_slack(_search.query_sq_norms(Q, ref), ref)
    assert (np.abs(keys32 - exact).max(axis=1) <= slack / 2).all()


def test_a_row_with_every_key_in_the_slack_is_computed_whole_in_float64() -> None:
    # A slack wider than the keys' spread lets every key through, more than the candidates'
    # room: the row is computed in float64 throughout, and is as exact.
    rng = np.random.default_rng(3)
    X = dyadic(rng, (500, 30))
    Q = dyadic(rng, (5, 30))
    vals, cols, exact = refined(X, Q, 21, slack=np.full(5, 1e6))
    order = np.lexsort((np.broadcast_to(np.arange(500), exact.shape), exact), axis=1)[:, :21]
    np.testing.assert_array_equal(cols, order)
    np.testing.assert_array_equal(vals, np.take_along_axis(exact, order, axis=1))


@pytest.mark.parametrize(
    ("keys", "slack", "queries", "reference", "error", "message"),
    [
        (np.zeros((2, 5)), np.zeros(2), np.zeros((2, 3)), np.zeros((5, 3)), TypeError, "float32"),
        (
            np.zeros((2, 5), np.float32),
            np.zeros(3),
            np.zeros((2, 3)),
            np.zeros((5, 3)),
            ValueError,
            "slack",
        ),
        (
            np.zeros((2, 5), np.float32),
            np.zeros(2),
            np.zeros((2, 3)),
            np.zeros((4, 3)),
            ValueError,
            "reference",
        ),
        (
            np.zeros((2, 5), np.float32),
            np.zeros(2),
            np.zeros((2, 3)),
            np.zeros((5, 2)),
            ValueError,
            "reference",
        ),
    ],
)
def test_the_refined_kernel_checks_its_arguments(
    keys: np.ndarray,
    slack: np.ndarray,
    queries: np.ndarray,
    reference: np.ndarray,
    error: type,
    message: str,
) -> None:
    vals, cols = np.zeros((2, 3)), np.zeros((2, 3), np.intp)
    with pytest.raises(error, match=message):
        _search.compiled_select.refined_smallest(keys, slack, queries, reference, vals, cols)


def test_the_engine_takes_float32_keys_from_the_threshold_on(
    counting_kernel: CountingKernel,
) -> None:
    rng = np.random.default_rng(11)
    threshold = _search.FLOAT32_MIN_SAMPLES
    for n, expected in ((threshold - 1, False), (threshold, True)):
        X = dyadic(rng, (n, 8))
        assert (_search.prepare_reference(X, "euclidean").augmented32 is not None) == expected
        counting_kernel.refined_calls = 0
        KNNRegressor(10).fit(X, rng.random(n)).predict(dyadic(rng, (50, 8)))
        assert (counting_kernel.refined_calls > 0) == expected


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_float32_keys_give_the_float64_keys_answers(
    monkeypatch: pytest.MonkeyPatch, counting_kernel: CountingKernel, weights: str
) -> None:
    rng = np.random.default_rng(5)
    n = 900
    X = dyadic(rng, (n, 20))
    X[1::9] = X[0]  # duplicated samples: tied distances, settled by training index
    X[2::9] = X[0] + 2.0**-10  # near-ties a float32 product cannot tell apart
    y = rng.random(n)
    Q = np.vstack([dyadic(rng, (400, 20)), X[:12], X[0] + 2.0**-11])  # some at distance 0
    model = KNNRegressor(20, weights=weights).fit(X, y)
    float32 = (*model.kneighbors(Q), model.predict(Q))
    assert counting_kernel.refined_calls > 0
    monkeypatch.setattr(_search, "FLOAT32_MIN_SAMPLES", 10**9)
    model = KNNRegressor(20, weights=weights).fit(X, y)
    calls = counting_kernel.refined_calls
    float64 = (*model.kneighbors(Q), model.predict(Q))
    assert counting_kernel.refined_calls == calls  # this time float64 keys throughout
    np.testing.assert_array_equal(float32[1], float64[1])
    np.testing.assert_allclose(float32[0], float64[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(float32[2], float64[2], rtol=0, atol=1e-12)
    assert (float32[0][400:412, 0] == 0.0).all()
    reference = KNeighborsRegressor(20, weights=weights, algorithm="brute").fit(X, y)
    np.testing.assert_allclose(float32[2], reference.predict(Q), rtol=0, atol=1e-9)


def test_entries_beyond_float32s_safe_range_keep_float64_keys(
    counting_kernel: CountingKernel,
) -> None:
    rng = np.random.default_rng(2)
    n = _search.FLOAT32_MIN_SAMPLES + 50
    X = rng.normal(size=(n, 6))
    y = rng.random(n)
    big = X * 2.0**60  # a reference above FLOAT32_MAX_ENTRY: no float32 copy is made
    assert _search.prepare_reference(big, "euclidean").augmented32 is None
    # A reference in range and a query above it: that query's block keeps float64 keys.
    model = KNNRegressor(5).fit(X, y)
    Q = np.vstack([rng.normal(size=(30, 6)), [[2.0**60] * 6]])
    got = model.predict(Q)
    assert counting_kernel.refined_calls == 0
    reference = KNeighborsRegressor(5, algorithm="brute").fit(X, y).predict(Q)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-9)
    # The same queries without the large one take float32 keys, with the same answers.
    np.testing.assert_allclose(model.predict(Q[:30]), got[:30], rtol=0, atol=1e-12)
    assert counting_kernel.refined_calls > 0
