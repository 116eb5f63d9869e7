"""The engine's threads: same answers as one thread, BLAS given back its threads, safe overlap."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

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


PROBE = """
import json, numpy as np
from threadpoolctl import threadpool_info
from recommender.engine import _search, parallel
from recommender.engine.knn import KNNRegressor
_search.BLOCK_BYTES, _search.GEMM_BLOCK_BYTES = 8 * 64 * 40, 8 * 128 * 40
def blas():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
parallel.set_threads({threads})
before = blas()
model = KNNRegressor(5).fit(np.random.rand(40, 5), np.zeros(40))
during = model.map_neighbors(np.random.rand(3000, 5), lambda block, dist, ind: blas())
print(json.dumps({{"before": before, "during": during, "after": blas()}}))
"""


def probe(threads: int) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(threads=threads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return json.loads(out.stdout)


def test_several_engine_threads_hold_blas_at_one_thread_for_good():
    # A fresh interpreter, so that the test sees the process's first search.
    seen = probe(threads=2)
    assert seen["before"] and all(n == 2 for n in seen["before"])
    assert len(seen["during"]) > 2
    assert all(during == [1] * len(seen["before"]) for during in seen["during"])
    assert seen["after"] == [1] * len(seen["before"])


def test_one_engine_thread_leaves_blas_alone():
    seen = probe(threads=1)
    assert seen["before"] == seen["after"] and all(n == 2 for n in seen["after"])
    assert all(during == seen["before"] for during in seen["during"])


def test_a_failing_block_fails_the_search_after_every_block_ran(threads, small_blocks):
    X, y, Q = problem()
    threads(2)
    model = KNNRegressor(5).fit(X, y)
    ran: list[int] = []

    def fail(block, dist, ind):
        ran.append(block.start)
        if block.start == 0:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.map_neighbors(Q, fail)
    assert len(ran) > 2 and sorted(ran)[-1] > 0


def test_overlapping_searches_from_several_request_threads(threads, small_blocks):
    X, y, Q = problem()
    threads(2)
    model = KNNRegressor(5).fit(X, y)
    expected = model.predict(Q)
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


@pytest.mark.parametrize("n_threads", [1, 2])
def test_most_rows_picked_in_order_are_searched_in_place_with_the_same_answers(
    threads, small_blocks, n_threads
):
    # A user's unrated movies: nearly every row, ascending. Some queries equal a training
    # sample (a rated movie is itself a query row): the picked ones must still come out at
    # distance 0, the dropped ones are not resolved (they are not asked for).
    X, y, Q = problem()
    Q[::50] = X[np.arange(len(Q[::50])) % len(X)]
    threads(n_threads)
    model = KNNRegressor(6).fit(X, y)
    rows = np.delete(np.arange(3000), np.arange(0, 3000, 200))  # a quarter of the copies dropped
    assert _search.searched_in_place(rows, 3000)
    assert not _search.searched_in_place(rows[::-1].copy(), 3000)  # not ascending: gathered
    assert not _search.searched_in_place(rows[:2000], 3000)  # too few: gathered
    descending = rows[::-1].astype(np.uint64)  # its np.diff would wrap to large positives
    assert not _search.searched_in_place(descending, 3000)
    parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def keep(block, dist, ind):
        parts[block.start] = (dist, ind)
        return block

    blocks = model.map_neighbors(QueryMatrix(Q), keep, rows=rows)
    assert [b.start for b in blocks] == sorted(parts) and blocks[-1].stop == len(rows)
    assert all(a.stop == b.start for a, b in itertools.pairwise(blocks))
    dist = np.concatenate([parts[s][0] for s in sorted(parts)])
    ind = np.concatenate([parts[s][1] for s in sorted(parts)])
    expected_dist, expected_ind = model.kneighbors(Q[rows])
    np.testing.assert_array_equal(ind, expected_ind)
    np.testing.assert_allclose(dist, expected_dist, rtol=0, atol=1e-12)
    copies = np.flatnonzero(np.isin(rows, np.arange(0, 3000, 50)))
    assert copies.size == 45 and (dist[copies, 0] == 0.0).all()


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
