"""The engine's threads: same answers as one thread, BLAS given back its threads, safe overlap."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from recommender.engine import _search, parallel
from recommender.engine.knn import KNNClassifier, KNNRegressor, QueryMatrix


@pytest.fixture
def threads():
    before = parallel.threads()
    yield parallel.set_threads
    parallel.set_threads(before)


@pytest.fixture
def small_blocks(monkeypatch):
    # Many small blocks, so several tasks run on the threads even for a small test problem.
    monkeypatch.setattr(_search, "BLOCK_BYTES", 8 * 64 * 40)
    monkeypatch.setattr(_search, "GEMM_BLOCK_BYTES", 8 * 128 * 40)


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((40, 5))
    y = rng.integers(1, 6, 40).astype(np.float64)
    Q = rng.random((3000, 5))
    return X, y, Q


@pytest.mark.parametrize("n_threads", [2, 3])
def test_several_threads_give_the_answers_of_one(threads, small_blocks, n_threads):
    X, y, Q = problem()
    threads(1)
    model = KNNRegressor(7, weights="distance").fit(X, y)
    dist1, ind1 = model.kneighbors(Q)
    pred1 = model.predict(Q)
    labels1 = KNNClassifier(7).fit(X, y.astype(int)).predict(Q)
    threads(n_threads)
    dist, ind = model.kneighbors(Q)
    np.testing.assert_array_equal(ind, ind1)
    np.testing.assert_allclose(dist, dist1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict(Q), pred1, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(KNNClassifier(7).fit(X, y.astype(int)).predict(Q), labels1)


def test_blas_gets_its_threads_back_after_a_search_and_after_a_failing_one(threads, small_blocks):
    X, y, Q = problem()
    threads(2)
    before = blas_threads()
    model = KNNRegressor(5).fit(X, y)
    during = model.map_neighbors(Q, lambda block, dist, ind: blas_threads())
    assert len(during) > 2 and all(seen == [1] * len(before) for seen in during)
    assert blas_threads() == before

    def fail(block, dist, ind):
        if block.start > 0:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.map_neighbors(Q, fail)
    assert blas_threads() == before


def test_overlapping_searches_from_several_request_threads(threads, small_blocks):
    X, y, Q = problem()
    threads(2)
    model = KNNRegressor(5).fit(X, y)
    expected = model.predict(Q)
    before = blas_threads()
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            for _ in range(3):
                results.append(model.predict(Q))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=request) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len(results) == 12
    for got in results:
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert blas_threads() == before


def test_map_neighbors_over_picked_rows_of_a_query_matrix(threads, small_blocks):
    X, y, Q = problem()
    threads(2)
    model = KNNRegressor(6).fit(X, y)
    rows = np.random.default_rng(1).permutation(3000)[:1700]
    parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def keep(block, dist, ind):
        parts[block.start] = (dist, ind)
        return block

    blocks = model.map_neighbors(QueryMatrix(Q), keep, rows=rows)
    assert [b.start for b in blocks] == sorted(parts)  # in query order
    assert blocks[-1].stop == 1700
    dist = np.concatenate([parts[s][0] for s in sorted(parts)])
    ind = np.concatenate([parts[s][1] for s in sorted(parts)])
    expected_dist, expected_ind = model.kneighbors(Q[rows])
    np.testing.assert_array_equal(ind, expected_ind)
    np.testing.assert_allclose(dist, expected_dist, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.array([[0, 1]]), "1-D array of integers"),
        (np.array([0.5]), "1-D array of integers"),
        (np.array([3000]), "out of range"),
        (np.array([-3001]), "out of range"),
    ],
)
def test_map_neighbors_refuses_bad_rows(rows, message):
    X, y, Q = problem()
    model = KNNRegressor(3).fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.map_neighbors(Q, lambda *a: None, rows=rows)


def test_a_query_matrix_is_validated_once_when_made():
    with pytest.raises(ValueError, match="NaN or infinity"):
        QueryMatrix(np.array([[0.0, np.nan]]))
    model = KNNRegressor(1).fit(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="3 features"):
        model.map_neighbors(QueryMatrix(np.zeros((2, 2))), lambda *a: None)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_threads_refuses_what_is_not_a_positive_count(bad):
    with pytest.raises(ValueError, match="number of threads"):
        parallel.set_threads(bad)
