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


def smallest(keys: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    assert _search.compiled_select is not None
    vals = np.empty((keys.shape[0], m))
    cols = np.empty((keys.shape[0], m), dtype=np.intp)
    _search.compiled_select.smallest(keys, vals, cols)
    return vals, cols


def test_equal_keys_come_in_column_order() -> None:
    vals, cols = smallest(np.array([[3.0, 1.0, 2.0, 1.0, 1.0, 0.5, 2.0]]), 5)
    assert cols.tolist() == [[5, 1, 3, 4, 2]]
    assert vals.tolist() == [[0.5, 1.0, 1.0, 1.0, 2.0]]


def test_a_tie_beyond_the_kept_values_keeps_the_lower_columns() -> None:
    _, cols = smallest(np.array([[2.0, 1.0, 2.0, 2.0, 0.0]]), 3)
    assert cols.tolist() == [[4, 1, 0]]


@pytest.mark.parametrize("n", [1, 5, 31, 71, 333, 1330, 25_000])
@pytest.mark.parametrize("m", [1, 2, 21, 61])
@pytest.mark.parametrize("kind", ["continuous", "ties", "infinite", "nan", "descending"])
def test_smallest_is_a_stable_sort_cut_short(n: int, m: int, kind: str) -> None:
    # Its two ways: the bound from group minima, and, where ties at the bound let too many
    # keys through ("ties": five values), the threshold scan; NaN is never taken.
    if m > n:
        return
    rng = np.random.default_rng(zlib.crc32(f"{n} {m} {kind}".encode()))
    keys = random_keys(rng, "ties" if kind == "ties" else "continuous", 3, n)
    if kind == "infinite":
        keys[keys > -0.5] = np.inf
    elif kind == "nan":
        keys[rng.random(keys.shape) < 0.3] = np.nan
    elif kind == "descending":  # every key below the ones before: the bound's worst order
        keys = -np.sort(keys, axis=1)
    vals, cols = smallest(keys, m)
    for row, got_vals, got_cols in zip(keys, vals, cols, strict=True):
        taken = np.flatnonzero(~np.isnan(row))
        order = taken[np.lexsort((taken, row[taken]))][:m]
        assert got_cols[: order.size].tolist() == order.tolist()
        np.testing.assert_array_equal(got_vals[: order.size], row[order])
        assert np.isnan(got_vals[order.size :]).all() and (got_cols[order.size :] == 0).all()


def test_a_nan_among_the_kept_keys_leaves_the_row_to_the_exact_path() -> None:
    # NaN sorts last, as in numpy: it matters only when it is among the k + 1 kept keys.
    keys = np.array([[np.nan, 1.0, np.nan, 0.5], [np.nan, 0.2, 0.3, 0.1]])
    for compiled in (True, False):
        _, cols, unresolved = select(keys, 2, np.zeros(2), True, compiled=compiled)
        assert unresolved.tolist() == [True, False]
        assert cols[1].tolist() == [3, 1]
        assert ((cols >= 0) & (cols < 4)).all()  # valid columns even where unsettled


@pytest.mark.parametrize(
    ("keys", "vals", "cols", "error", "message"),
    [
        (np.zeros((2, 5)), np.zeros((2, 6)), np.zeros((2, 6), np.intp), ValueError, "m <="),
        (np.zeros((2, 5)), np.zeros((1, 3)), np.zeros((2, 3), np.intp), ValueError, "rows"),
        (np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((2, 2), np.intp), ValueError, "rows, m"),
        (np.zeros((2, 5)), np.zeros((2, 0)), np.zeros((2, 0), np.intp), ValueError, "1 <= m"),
        (
            np.zeros((2, 5), np.float32),
            np.zeros((2, 3)),
            np.zeros((2, 3), np.intp),
            TypeError,
            "keys",
        ),
        (np.zeros(5), np.zeros((2, 3)), np.zeros((2, 3), np.intp), TypeError, "2-d"),
        (np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((2, 3), np.int32), TypeError, "cols"),
        # Eight-byte items of the wrong kind: integers as keys, doubles as columns.
        (
            np.zeros((2, 5), np.int64),
            np.zeros((2, 3)),
            np.zeros((2, 3), np.intp),
            TypeError,
            "keys: expected a 2-d array of float64",
        ),
        (
            np.zeros((2, 5)),
            np.zeros((2, 3)),
            np.zeros((2, 3)),
            TypeError,
            "cols: expected a 2-d array of int64",
        ),
        (np.zeros((5, 2)).T, np.zeros((2, 3)), np.zeros((2, 3), np.intp), ValueError, "contiguous"),
    ],
)
def test_the_kernel_checks_its_arguments(
    keys: np.ndarray, vals: np.ndarray, cols: np.ndarray, error: type, message: str
) -> None:
    assert _search.compiled_select is not None
    with pytest.raises(error, match=message):
        _search.compiled_select.smallest(keys, vals, cols)


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


def test_a_wide_row_tied_at_its_bound_is_still_exact() -> None:
    # Nearly every key equals the group minima's bound, so more keys pass it than the bounded
    # way takes and the row goes the threshold scan's way: still exact, still settled.
    n = 2000
    keys = np.ones((1, n))
    keys[0, [7, 900, 1500]] = 0.0
    with _search.compiled_selection(True):
        vals, cols, unresolved = _search.select_smallest(keys, 3, np.zeros(1), ordered=False)
    assert not unresolved.any()  # (ordered, the equal keys inside it would be redone)
    assert cols.tolist() == [[7, 900, 1500]] and vals.tolist() == [[0.0, 0.0, 0.0]]
    # k = 5 ties at the k-th (a 1 both sides of it): the public path settles it by index.
    X = keys.T.copy()
    _, ind = KNNRegressor(5, metric="manhattan").fit(X, np.zeros(n)).kneighbors([[0.0]])
    assert ind[0].tolist() == [7, 900, 1500, 0, 1]
