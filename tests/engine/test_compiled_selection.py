"""The compiled selection kernel (recommender/engine/_select.c) against the numpy path.

The numpy path is the reference, as scikit-learn is for the engine: on every row both paths
settle, they select the same keys in the same order; the compiled path never leaves a row
unsettled that the numpy path settles; and after the exact re-check, the neighbours found are
the same whatever the path.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from recommender.engine import _search
from recommender.engine.knn import KNNRegressor


def test_the_install_builds_the_kernel() -> None:
    # Optional for a user without a compiler (setup.py), required of ours: the engine is
    # several times slower on rows of a few hundred keys without it.
    assert _search.compiled_select is not None
    assert _search.use_compiled


def random_keys(rng: np.random.Generator, kind: str, rows: int, n: int) -> np.ndarray:
    if kind == "continuous":
        return rng.normal(size=(rows, n))
    if kind == "ties":  # few distinct values: ties at the k-th and inside the selection
        return rng.integers(0, 5, size=(rows, n)).astype(float)
    if kind == "infinite":
        keys = rng.normal(size=(rows, n))
        keys[keys > 1.0] = np.inf
        return keys
    return np.round(rng.normal(size=(rows, n)), 2)  # near-ties and exact duplicates


def select(
    keys: np.ndarray, k: int, tol: np.ndarray, ordered: bool, compiled: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with _search.compiled_selection(compiled):
        return _search.select_smallest(keys, k, tol, ordered)


@pytest.mark.parametrize("kind", ["continuous", "ties", "infinite", "rounded"])
@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("tol", [0.0, 1e-3])
def test_selection_agrees_with_the_numpy_path(kind: str, ordered: bool, tol: float) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{kind} {ordered} {tol}".encode()))
    settled_somewhere = 0
    for trial in range(150):
        n = int(rng.integers(1, 300)) if trial % 4 else int(rng.integers(300, 2500))
        k = int(rng.integers(1, min(n, 60) + 1))
        rows = int(rng.integers(1, 12))
        keys = random_keys(rng, kind, rows, n)
        tols = np.full(rows, tol)
        with np.errstate(invalid="ignore"):  # inf - inf between two infinite neighbours
            c_vals, c_cols, c_unresolved = select(keys, k, tols, ordered, compiled=True)
            n_vals, n_cols, n_unresolved = select(keys, k, tols, ordered, compiled=False)
        # The numpy path's float32 group ties are unsettled rows the compiled path can settle.
        assert not (c_unresolved & ~n_unresolved).any(), (n, k)
        settled = ~c_unresolved & ~n_unresolved
        settled_somewhere += int(settled.sum())
        if ordered:
            np.testing.assert_array_equal(c_vals[settled], n_vals[settled])
            np.testing.assert_array_equal(c_cols[settled], n_cols[settled])
        else:
            np.testing.assert_array_equal(
                np.sort(c_cols[settled], axis=1), np.sort(n_cols[settled], axis=1)
            )
        # Every settled row holds the k smallest keys of its row, at the columns it names.
        got = np.take_along_axis(keys, c_cols, axis=1)
        np.testing.assert_array_equal(got[~c_unresolved], c_vals[~c_unresolved])
        expected = np.sort(keys, axis=1)[:, :k]
        np.testing.assert_array_equal(
            np.sort(c_vals, axis=1)[~c_unresolved], expected[~c_unresolved]
        )
    # The comparisons above were not vacuous (ordered rows of few values mostly tie).
    assert settled_somewhere > (3 if kind == "ties" else 100)


def test_equal_keys_come_in_column_order() -> None:
    keys = np.array([[3.0, 1.0, 2.0, 1.0, 1.0, 0.5, 2.0]])
    kept = np.sort(keys, axis=1)[:, :5]
    pos = np.empty((1, 5), dtype=np.intp)
    assert _search.compiled_select is not None
    _search.compiled_select.positions(keys, kept, 5, pos)
    assert pos.tolist() == [[5, 1, 3, 4, 2]]


def test_a_tie_beyond_the_kept_values_keeps_the_lower_columns() -> None:
    keys = np.array([[2.0, 1.0, 2.0, 2.0, 0.0]])
    pos = np.empty((1, 3), dtype=np.intp)
    assert _search.compiled_select is not None
    _search.compiled_select.positions(keys, np.array([[0.0, 1.0, 2.0]]), 3, pos)
    assert pos.tolist() == [[4, 1, 0]]


def test_a_nan_among_the_kept_keys_leaves_the_row_to_the_exact_path() -> None:
    # NaN sorts last, as in numpy: it matters only when it is among the k + 1 kept keys.
    keys = np.array([[np.nan, 1.0, np.nan, 0.5], [np.nan, 0.2, 0.3, 0.1]])
    for compiled in (True, False):
        _, cols, unresolved = select(keys, 2, np.zeros(2), True, compiled=compiled)
        assert unresolved.tolist() == [True, False]
        assert cols[1].tolist() == [3, 1]
        assert ((cols >= 0) & (cols < 4)).all()  # valid columns even where unsettled


@pytest.mark.parametrize(
    ("keys", "kept", "k", "pos", "error", "message"),
    [
        (np.zeros((2, 5)), np.zeros((2, 3)), 4, np.zeros((2, 4), np.intp), ValueError, "k <="),
        (np.zeros((2, 5)), np.zeros((1, 3)), 2, np.zeros((2, 2), np.intp), ValueError, "rows"),
        (np.zeros((2, 5)), np.zeros((2, 6)), 2, np.zeros((2, 2), np.intp), ValueError, "count"),
        (
            np.zeros((2, 5), np.float32),
            np.zeros((2, 3)),
            2,
            np.zeros((2, 2), np.intp),
            TypeError,
            "keys",
        ),
        (np.zeros(5), np.zeros((2, 3)), 2, np.zeros((2, 2), np.intp), TypeError, "2-d"),
        (np.zeros((2, 5)), np.zeros((2, 3)), 2, np.zeros((2, 2), np.int32), TypeError, "pos"),
        # Eight-byte items of the wrong kind: integers as keys, doubles as columns.
        (
            np.zeros((2, 5), np.int64),
            np.zeros((2, 3)),
            2,
            np.zeros((2, 2), np.intp),
            TypeError,
            "keys: expected a 2-d array of float64",
        ),
        (
            np.zeros((2, 5)),
            np.zeros((2, 3)),
            2,
            np.zeros((2, 2)),
            TypeError,
            "pos: expected a 2-d array of int64",
        ),
        (
            np.zeros((5, 2)).T,
            np.zeros((2, 3)),
            2,
            np.zeros((2, 2), np.intp),
            ValueError,
            "contiguous",
        ),
    ],
)
def test_the_kernel_checks_its_arguments(
    keys: np.ndarray, kept: np.ndarray, k: int, pos: np.ndarray, error: type, message: str
) -> None:
    assert _search.compiled_select is not None
    with pytest.raises(error, match=message):
        _search.compiled_select.positions(keys, kept, k, pos)


@pytest.mark.parametrize("n_train", [12, 71, 250, 1400])
def test_neighbours_are_the_same_on_both_paths(n_train: int) -> None:
    rng = np.random.default_rng(n_train)
    X = rng.normal(size=(n_train, 6))
    X[1::7] = X[0]  # duplicated samples: equal distances, settled by training index
    Q = np.vstack([rng.normal(size=(300, 6)), X[:10]])  # some queries equal to a sample
    model = KNNRegressor(n_neighbors=min(20, n_train), weights="distance").fit(
        X, rng.random(n_train)
    )
    results = []
    for compiled in (True, False):
        with _search.compiled_selection(compiled):
            results.append((*model.kneighbors(Q), model.predict(Q)))
    (c_dist, c_ind, c_pred), (n_dist, n_ind, n_pred) = results
    np.testing.assert_array_equal(c_ind, n_ind)
    np.testing.assert_allclose(c_dist, n_dist, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_pred, n_pred, rtol=0, atol=1e-12)
    assert (c_dist[-10:, 0] == 0.0).all()


def test_group_minima_and_compact_on_a_row() -> None:
    assert _search.compiled_select is not None
    keys = np.array([[5.0, 3.0, 4.0, 1.0, 2.0, 9.0, 0.5]])
    minima = np.empty((1, 3))
    _search.compiled_select.group_minima(keys, 2, minima)
    assert minima.tolist() == [[3.0, 1.0, 2.0]]  # the last key is in no group
    cand = np.empty((1, 4))
    cand_cols = np.empty((1, 4), dtype=np.intp)
    count = np.empty(1, dtype=np.intp)
    _search.compiled_select.compact(keys, np.array([2.0]), cand, cand_cols, count)
    assert cand.tolist() == [[1.0, 2.0, 0.5, np.inf]]  # column order, padded
    assert cand_cols[0, :3].tolist() == [3, 4, 6]
    assert count.tolist() == [3]
    _search.compiled_select.compact(keys, np.array([9.0]), cand, cand_cols, count)
    assert count.tolist() == [7]  # more than fit: the first four in column order are kept
    assert cand_cols.tolist() == [[0, 1, 2, 3]]


def test_a_wide_row_tied_at_its_bound_is_left_to_the_exact_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nearly every key equals the bound: more keys pass it than the candidates hold.
    n, k = 2000, 5
    keys = np.ones((1, n))
    keys[0, [7, 900, 1500]] = 0.0
    assert n > _search.COMPILED_DIRECT_MAX_WIDTH and n // _search.group_size(n, k) > k
    monkeypatch.setattr(_search, "use_compiled", True)
    _, _, unresolved = _search.select_smallest(keys, k, np.zeros(1), ordered=False)
    assert unresolved.all()
    # The public path settles it: the three zeros, then the lowest-numbered ones.
    X = keys.T.copy()
    _, ind = KNNRegressor(k, metric="manhattan").fit(X, np.zeros(n)).kneighbors([[0.0]])
    assert ind[0].tolist() == [7, 900, 1500, 0, 1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.group_minima(np.zeros((2, 5)), 0, np.zeros((2, 1))), "1 <= g"),
        (lambda s: s.group_minima(np.zeros((2, 5)), 2, np.zeros((2, 3))), "n // g"),
        (
            lambda s: s.compact(
                np.zeros((2, 5)),
                np.zeros(1),
                np.zeros((2, 3)),
                np.zeros((2, 3), np.intp),
                np.zeros(2, np.intp),
            ),
            "bound",
        ),
    ],
)
def test_the_wide_row_kernels_check_their_arguments(call: object, message: str) -> None:
    assert _search.compiled_select is not None and callable(call)
    with pytest.raises(ValueError, match=message):
        call(_search.compiled_select)
