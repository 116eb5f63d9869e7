"""Exact, vectorised k-nearest-neighbour regression and classification (numpy only).

:class:`KNNRegressor` and :class:`KNNClassifier` give the same answers as scikit-learn's
``KNeighborsRegressor`` / ``KNeighborsClassifier`` with ``algorithm="brute"`` for the same
``n_neighbors``, ``weights`` and ``metric`` (scikit-learn's metric aliases and ``weights=None``
included), except for two deliberate differences: a classifier vote tie goes to the label of the
*closest* neighbour among the tied labels (scikit-learn takes the smallest label), and samples
at equal distance are taken in our own order (below), which scikit-learn does not promise.

The neighbour search itself (ranking keys, the grouped selection of the k smallest, the
exact re-evaluation of near-ties) is in :mod:`recommender.engine._search`; this module holds the
estimators, their validation and the weights.

Ties in distance
----------------
The neighbours of a query are the k samples with the smallest distances; among equal
distances the lower training index comes first. That is our rule, chosen so that results are
reproducible and the service's incremental updates can merge neighbour lists; scikit-learn's
brute force does not follow it (with ``X = [[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0]]``, query
``[1, 0]`` and k = 3 it returns ``[0, 4, 3]``, we return ``[0, 4, 1]``). ``kneighbors`` returns
the neighbours nearest first.

The Euclidean matrix product rounds each entry slightly differently (duplicated samples can
come out one ulp apart and a query equal to a sample at a tiny non-zero distance), which is why
near-ties and near-zero distances are re-evaluated directly: duplicated samples then have
identical distances and a query equal to a sample is at distance exactly 0. Away from ties, the
reported distances of one query can differ in the last bit depending on its position in a block
(matrix-product rounding), but the selected neighbours do not.

Weights
-------
``"uniform"`` (or None, as in scikit-learn): every neighbour counts 1. ``"distance"``:
:math:`w = 1 / d`, except that when a query has neighbours at distance 0 those neighbours share
the weight equally and the others get 0 (no division by zero, no warning). A callable maps the
``(rows, k)`` distance array of a block to weights of the same shape; it is called once per
block, so it must treat rows independently (``1 / (d + eps)`` or ``exp(-d)`` do). Weights must
be finite and non-negative with a positive sum for every query.

Prediction: regressor :math:`\\hat y = \\sum_i w_i y_i / \\sum_i w_i`; classifier
:math:`P(c) = \\sum_{i: y_i = c} w_i / \\sum_i w_i` and the predicted label is the arg-max, ties
(relative tolerance :data:`_VOTE_RTOL`) going to the closest neighbour's label.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine import _search, parallel
from recommender.engine.distances import MAX_ABS_VALUE, METRICS, as_float_matrix, check_metric

__all__ = ["METRICS", "KNNClassifier", "KNNRegressor", "NotFittedError", "QueryMatrix"]

WeightsCallable = Callable[[NDArray[np.float64]], ArrayLike]

WEIGHTS: tuple[str, ...] = ("uniform", "distance")

_R = TypeVar("_R")

# Outer blocks per worker thread at least (see _KNNBase._blocks).
_TASKS_PER_THREAD = 4

_buffers = threading.local()


def _key_buffer(rows: int, n: int, dtype: type = np.float64) -> NDArray[Any]:
    """A ``(rows, n)`` buffer for one block's keys (float64, or float32 for
    :func:`_search.float32_keys`), reused by the thread that asks.

    A fresh multi-MiB array per block was page-faulted in for every block; one buffer per
    thread and type, grown as needed and kept, is at most :data:`_search.GEMM_BLOCK_BYTES`
    per thread.
    """
    name = f"keys_{np.dtype(dtype).name}"
    buffer = getattr(_buffers, name, None)
    if buffer is None or buffer.size < rows * n:
        buffer = np.empty(rows * n, dtype=dtype)
        setattr(_buffers, name, buffer)
    return buffer[: rows * n].reshape(rows, n)


class QueryMatrix:
    """A query matrix validated once, to be searched many times (a feature version's rows).

    Validating and copying a catalogue-sized matrix cost more than the search itself for a
    user with few ratings; the service keeps one per feature version and searches subsets of
    its rows (:meth:`_KNNBase.map_neighbors`), gathered a block at a time.
    """

    __slots__ = ("X", "_euclidean")

    def __init__(self, X: ArrayLike) -> None:
        self.X: NDArray[np.float64] = as_float_matrix(X, "X")
        self._euclidean: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None

    def euclidean(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``([-2 x, 1], ||x||^2)`` of every row, computed on first use and kept: the
        per-version arrays of the Euclidean search (two callers racing compute the same)."""
        if self._euclidean is None:
            self._euclidean = (
                _search.augmented_queries(self.X),
                np.einsum("ij,ij->i", self.X, self.X),
            )
        return self._euclidean


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit``.

    Both a ``ValueError`` and an ``AttributeError``, as scikit-learn's ``NotFittedError`` is,
    so that code written for either catches it.
    """


# Relative tolerance under which two labels' total vote weights count as tied.
_VOTE_RTOL = 1e-9

# Below this distance 1/d (and sums of k such weights times targets) could overflow, so
# "distance" weights are computed in the scaled form d_min / d instead (same predictions).
_SAFE_MIN_DISTANCE = 1e-150

# --------------------------------------------------------------------------------------------
# Validation and weights
# --------------------------------------------------------------------------------------------


def _check_n_neighbors(n_neighbors: object) -> int:
    """Return ``n_neighbors`` as an int if it is an integer >= 1, else raise ValueError."""
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, int | np.integer):
        raise ValueError(f"Expected n_neighbors to be an integer, got {n_neighbors!r}")
    if n_neighbors < 1:
        raise ValueError(f"Expected n_neighbors >= 1, got {n_neighbors}")
    return int(n_neighbors)


def _check_weights(weights: object) -> str | WeightsCallable:
    if weights is None:  # scikit-learn's spelling of uniform weights
        return "uniform"
    if callable(weights):
        return weights  # type: ignore[return-value]
    if isinstance(weights, str) and weights in WEIGHTS:
        return weights
    raise ValueError(f"Unknown weights {weights!r}; expected 'uniform', 'distance' or a callable")


def neighbor_weights(
    dist: NDArray[np.float64], weights: str | WeightsCallable
) -> NDArray[np.float64] | None:
    """Weights of the neighbours of a block, shape (rows, k); None means uniform.

    The same rule ``predict`` applies, public so that callers explaining a prediction (which
    neighbour counted how much) use exactly the engine's weights.

    ``"distance"``: :math:`w = 1/d`; in a row with neighbours at distance 0 those neighbours
    get weight 1 and the others 0. Weights are only defined up to a factor per row (every use
    normalises by their sum), which the rare tiny-distance case exploits.
    """
    if isinstance(weights, str):
        if weights == "uniform":
            return None
        if dist.size == 0 or dist.min() >= _SAFE_MIN_DISTANCE:
            return 1.0 / dist
        # Zero or tiny distances: in rows with a zero, the zero-distance rule; elsewhere
        # d_min / d, proportional to 1/d but <= 1, so nothing divides by zero or overflows.
        row_min = dist.min(axis=1, keepdims=True)
        zero_rows = row_min[:, 0] == 0
        w = np.empty_like(dist)
        w[~zero_rows] = row_min[~zero_rows] / dist[~zero_rows]
        w[zero_rows] = dist[zero_rows] == 0
        return w

    out = weights(dist)
    w = np.asarray(out, dtype=np.float64)
    if w.shape != dist.shape:
        raise ValueError(
            f"Expected the weights callable to return an array of shape {dist.shape} "
            f"(same as the distances), got {w.shape}"
        )
    if not np.isfinite(w).all():
        raise ValueError("The weights callable returned NaN or infinity")
    if (w < 0).any():
        raise ValueError("The weights callable returned negative weights")
    totals = w.sum(axis=1)
    if not (totals > 0).all():
        raise ValueError("The weights callable gave zero weight to all neighbours of a query")
    if not np.isfinite(totals).all():
        raise ValueError("The weights callable returned weights whose sum overflows")
    return w


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


class _KNNBase:
    """Shared fitting, validation and neighbour search of the two estimators."""

    _ref: _search.Reference

    def __init__(
        self,
        n_neighbors: int = 5,
        weights: str | WeightsCallable | None = "uniform",
        metric: str = "euclidean",
        p: float = 2,
    ) -> None:
        # Like scikit-learn, only store the parameters; they are validated by fit().
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.p = p

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_neighbors={self.n_neighbors!r}, "
            f"weights={self.weights!r}, metric={self.metric!r}, p={self.p!r})"
        )

    def _fit_X(self, X: ArrayLike, n_targets: int) -> None:
        """Validate the parameters and X, then store the fitted state (all or nothing)."""
        k = _check_n_neighbors(self.n_neighbors)
        weights = _check_weights(self.weights)
        metric = check_metric(self.metric, self.p)
        X_arr = as_float_matrix(X, "X")
        n_samples = X_arr.shape[0]
        if n_samples == 0:
            raise ValueError("Expected at least one sample in X, got 0")
        if n_targets != n_samples:
            raise ValueError(f"Expected len(y) == n_samples, got {n_targets} != {n_samples}")
        if k > n_samples:
            raise ValueError(f"Expected n_neighbors <= n_samples, got {k} > {n_samples}")
        self._k = k
        self._weights = weights
        self._ref = _search.prepare_reference(X_arr, metric)
        self.n_features_in_ = X_arr.shape[1]
        self.n_samples_fit_ = n_samples

    def _check_fitted(self) -> None:
        if not hasattr(self, "_ref"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first"
            )

    def _check_query(self, X: QueryMatrix | ArrayLike) -> NDArray[np.float64]:
        # A QueryMatrix was validated when it was made: only its width is checked here.
        Q = X.X if isinstance(X, QueryMatrix) else as_float_matrix(X, "X")
        if Q.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Expected X with {self.n_features_in_} features as in fit, got {Q.shape[1]}"
            )
        return Q

    def map_neighbors(
        self,
        X: QueryMatrix | ArrayLike,
        reduce: Callable[[slice, NDArray[np.float64], NDArray[np.intp]], _R],
        *,
        rows: ArrayLike | None = None,
        n_neighbors: int | None = None,
        ordered: bool = True,
    ) -> list[_R]:
        """``reduce(block, dist, ind)`` for every block of queries, in query order.

        Parameters
        ----------
        X : QueryMatrix or array_like of shape (n_queries, n_features)
            The queries (a :class:`QueryMatrix` is not validated again).
        reduce : callable
            Called with the block's positions among the queries (a slice), its ``(rows, k)``
            neighbour distances and training indices (nearest first when ``ordered``). Blocks
            run on the engine's worker threads (:mod:`parallel`) and ``reduce`` with them, so
            it must only read shared state.
        rows : array_like of int, optional
            Search only these rows of ``X``, in this order (positions refer to it).
        n_neighbors : int, optional
            Default: the fitted ``n_neighbors``.
        ordered : bool, default=True
            Sort each block's neighbours nearest first (ties: lower index first).
        """
        self._check_fitted()
        k = self._k if n_neighbors is None else _check_n_neighbors(n_neighbors)
        if k > self.n_samples_fit_:
            raise ValueError(f"Expected n_neighbors <= n_samples, got {k} > {self.n_samples_fit_}")
        Q = self._check_query(X)
        picked = None
        if rows is not None:
            picked = np.asarray(rows)
            if picked.ndim != 1 or picked.dtype.kind not in "iu":
                raise ValueError("Expected rows to be a 1-D array of integers")
            if picked.size and (picked.min() < -Q.shape[0] or picked.max() >= Q.shape[0]):
                raise ValueError(f"rows out of range for X with {Q.shape[0]} rows")
        prepared = None
        if isinstance(X, QueryMatrix) and self._ref.metric == "euclidean":
            prepared = X.euclidean()
        return self._blocks(Q, k, ordered, False, reduce, picked, prepared)

    def _search(
        self,
        X: ArrayLike | None,
        n_neighbors: int | None,
        ordered: bool,
        reduce: Callable[[NDArray[np.float64], NDArray[np.intp]], _R],
    ) -> list[_R]:
        """``reduce(dist, ind)`` of every block of queries, in query order, validating first.

        With ``X=None`` the queries are the training samples and each is not its own neighbour
        (as in scikit-learn): ``k + 1`` neighbours are searched and the sample itself removed,
        or, if duplicates at distance 0 crowded it out, the first neighbour.
        """
        self._check_fitted()
        k = self._k if n_neighbors is None else _check_n_neighbors(n_neighbors)
        n = self.n_samples_fit_
        if X is None:
            if k >= n:
                raise ValueError(
                    "Expected n_neighbors < n_samples when querying the training samples "
                    f"(X=None), got {k} >= {n}"
                )
            Q = self._ref.X
        else:
            Q = self._check_query(X)
            if k > n:
                raise ValueError(f"Expected n_neighbors <= n_samples, got {k} > {n}")
        return self._blocks(
            Q, k, ordered or X is None, X is None, lambda _, dist, ind: reduce(dist, ind)
        )

    def _blocks(
        self,
        Q: NDArray[np.float64],
        k: int,
        ordered: bool,
        leave_one_out: bool,
        reduce: Callable[[slice, NDArray[np.float64], NDArray[np.intp]], _R],
        picked: NDArray[np.integer] | None = None,
        prepared: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
    ) -> list[_R]:
        search_k = k + 1 if leave_one_out else k
        # In place: every row is searched (contiguous views), the picked ones kept.
        kept: NDArray[np.integer] | None = None
        if picked is not None and _search.searched_in_place(picked, Q.shape[0]):
            kept, picked = picked, None
        n_queries = Q.shape[0] if picked is None else picked.shape[0]
        n = self.n_samples_fit_
        ref = self._ref
        # Keys come from the matrix product in "outer" blocks (fewer, larger products are
        # cheaper per key) and the selection works on cache-sized "inner" slices of them. Each
        # outer block is one task for the worker threads; it is capped so that every thread
        # gets a few, which keeps them balanced when another process takes a core.
        inner = _search.block_rows(n)
        outer = max(inner, _search.block_rows(n, _search.GEMM_BLOCK_BYTES))
        per_thread = -(-n_queries // (_TASKS_PER_THREAD * parallel.threads()))
        outer = max(inner, min(outer, per_thread))
        outer -= outer % inner

        def run(start: int) -> list[_R]:
            stop = min(start + outer, n_queries)
            # Picked rows are gathered a block at a time: a small copy that stays in cache.
            at = slice(start, stop) if picked is None else picked[start:stop]
            Qb = Q[at]
            augmented = q_sq = keys = None
            if prepared is not None:
                augmented, q_sq = prepared[0][at], prepared[1][at]
            if ref.augmented32 is not None:  # float32 keys, when the block allows them
                if augmented is None:
                    augmented = _search.augmented_queries(Qb)
                    q_sq = _search.query_sq_norms(Qb, ref)
                assert q_sq is not None
                buffer = _key_buffer(stop - start, n, np.float32)
                keys = _search.float32_keys(augmented, q_sq, ref, buffer)
            if keys is None:
                keys = _search.ranking_keys(Qb, ref, _key_buffer(stop - start, n), augmented)
            refining = keys.dtype == np.float32
            results = []
            for lo in range(0, stop - start, inner):
                hi = min(lo + inner, stop - start)
                block, wanted = slice(start + lo, start + hi), None
                if kept is not None:
                    # The kept rows of [start + lo, start + hi) are one run of positions among
                    # them; the others' selections are not refined (resolved) and are dropped.
                    first, last = (int(i) for i in np.searchsorted(kept, (block.start, block.stop)))
                    if first == last:
                        continue
                    local = kept[first:last] - block.start
                    block, wanted = slice(first, last), np.zeros(hi - lo, dtype=bool)
                    wanted[local] = True
                dist, ind = _search.neighbors_from_keys(
                    Qb[lo:hi],
                    keys[lo:hi],
                    ref,
                    search_k,
                    ordered,
                    None if q_sq is None else q_sq[lo:hi],
                    wanted,
                    augmented[lo:hi] if refining else None,
                )
                if wanted is not None:
                    dist, ind = dist[local], ind[local]
                if leave_one_out:
                    keep = ind != np.arange(start + lo, start + hi)[:, None]
                    keep[keep.all(axis=1), 0] = False
                    dist = dist[keep].reshape(-1, k)
                    ind = ind[keep].reshape(-1, k)
                results.append(reduce(block, dist, ind))
            return results

        parts = parallel.map_blocks(run, range(0, n_queries, outer))
        return [result for part in parts for result in part]

    def kneighbors(
        self,
        X: ArrayLike | None = None,
        n_neighbors: int | None = None,
        return_distance: bool = True,
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]] | NDArray[np.intp]:
        """Find the k nearest training samples of each query, nearest first.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features) or None
            Queries. None queries the training samples themselves, each sample not being its
            own neighbour.
        n_neighbors : int or None
            Number of neighbours (default: the fitted ``n_neighbors``).
        return_distance : bool, default=True
            Return the distances as well as the indices.

        Returns
        -------
        dist : ndarray of shape (n_queries, k), dtype float64
            Sorted ascending; only when ``return_distance``.
        ind : ndarray of shape (n_queries, k), dtype intp
            Training indices; among equal distances the lower index comes first.
        """
        blocks = self._search(X, n_neighbors, ordered=True, reduce=lambda d, i: (d, i))
        k = self._k if n_neighbors is None else int(n_neighbors)
        if blocks:
            dist_all = np.concatenate([dist for dist, _ in blocks])
            ind_all = np.concatenate([ind for _, ind in blocks])
        else:  # zero queries
            dist_all = np.empty((0, k))
            ind_all = np.empty((0, k), dtype=np.intp)
        return (dist_all, ind_all) if return_distance else ind_all


class KNNRegressor(_KNNBase):
    """k-nearest-neighbour regression: weighted mean of the neighbours' targets.

    .. math:: \\hat y(q) = \\frac{\\sum_{i \\in N_k(q)} w_i\\, y_i}{\\sum_{i \\in N_k(q)} w_i}

    One target only: scikit-learn's multi-output regression (``y`` of shape
    ``(n_samples, n_outputs)``) is not supported, and ``fit`` refuses a 2-D ``y`` with a
    ``ValueError`` saying so (the service regresses one rating per movie).

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours ``k``, ``1 <= k <= n_samples``.
    weights : {"uniform", "distance"}, callable or None, default="uniform"
        See the module docstring; None is uniform.
    metric : {"euclidean", "manhattan", "hamming"} or a scikit-learn alias, default="euclidean"
        Aliases: ``"l2"``, ``"cityblock"``, ``"l1"``, ``"minkowski"`` (with ``p``).
    p : float, default=2
        Minkowski power when ``metric="minkowski"``: 2 (Euclidean) or 1 (Manhattan).

    Attributes
    ----------
    n_features_in_ : int
    n_samples_fit_ : int
    """

    def fit(self, X: ArrayLike, y: ArrayLike) -> KNNRegressor:
        """Store the training set.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Numbers, finite.
        y : array_like of shape (n_samples,)
            Numbers, finite. Multi-output ``y`` (2-D) is refused.

        Returns
        -------
        self
        """
        y_arr = np.asarray(y)
        if y_arr.dtype.kind == "O":
            try:
                y_arr = y_arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError("y must contain only numbers") from exc
        elif y_arr.dtype.kind not in "biuf":
            raise ValueError(f"y must contain only numbers, got dtype {y_arr.dtype}")
        if y_arr.ndim != 1:
            raise ValueError(
                f"Expected y to be 1-D (n_samples,), got an array of shape {y_arr.shape}"
                + (" (multi-output regression is not supported)" if y_arr.ndim == 2 else "")
            )
        y_arr = np.ascontiguousarray(y_arr, dtype=np.float64)
        if not np.isfinite(y_arr).all():
            raise ValueError("y contains NaN or infinity")
        if y_arr.size and np.abs(y_arr).max() > MAX_ABS_VALUE:
            raise ValueError(f"y contains values too large in magnitude (> {MAX_ABS_VALUE:g})")
        self._fit_X(X, y_arr.shape[0])
        self._y = y_arr
        return self

    def predict(self, X: ArrayLike | None) -> NDArray[np.float64]:
        """Predict the target of each query.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features) or None
            None predicts each training sample from its neighbours other than itself.

        Returns
        -------
        ndarray of shape (n_queries,), dtype float64
        """

        def mean_target(dist: NDArray[np.float64], ind: NDArray[np.intp]) -> NDArray[np.float64]:
            w = neighbor_weights(dist, self._weights)
            y_nb = np.take(self._y, ind)
            if w is None:
                return y_nb.mean(axis=1)
            # einsum row sums measured ~2x faster than (w * y).sum(axis=1) for k ~ 20
            return np.einsum("ij,ij->i", w, y_nb) / np.einsum("ij->i", w)

        parts = self._search(X, None, ordered=False, reduce=mean_target)
        return np.concatenate(parts) if parts else np.empty(0)


class KNNClassifier(_KNNBase):
    """k-nearest-neighbour classification by weighted vote.

    .. math:: P(c \\mid q) = \\frac{\\sum_{i \\in N_k(q),\\, y_i = c} w_i}
              {\\sum_{i \\in N_k(q)} w_i}

    The predicted label maximises :math:`P(c \\mid q)`; labels whose totals are equal up to a
    relative tolerance of :data:`_VOTE_RTOL` are tied, and a tie goes to the label of the
    closest neighbour among the tied labels (lower training index first at equal distance).

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"}, callable or None, default="uniform"
    metric : {"euclidean", "manhattan", "hamming"} or a scikit-learn alias, default="euclidean"
    p : float, default=2
        Minkowski power when ``metric="minkowski"`` (2 or 1).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The distinct labels, sorted.
    n_features_in_ : int
    n_samples_fit_ : int
    """

    def fit(self, X: ArrayLike, y: ArrayLike) -> KNNClassifier:
        """Store the training set.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Numbers, finite.
        y : array_like of shape (n_samples,)
            Labels: integers, strings or other mutually comparable values (no NaN).

        Returns
        -------
        self
        """
        y_arr = np.asarray(y)
        if y_arr.ndim != 1:
            raise ValueError(
                f"Expected y to be 1-D (n_samples,), got an array of shape {y_arr.shape}"
            )
        if y_arr.dtype.kind in "fc" and not np.isfinite(y_arr).all():
            raise ValueError("y contains NaN or infinity")
        try:
            classes, codes = np.unique(y_arr, return_inverse=True)
        except TypeError as exc:
            raise ValueError("y labels must be mutually comparable (all str or all int)") from exc
        self._fit_X(X, y_arr.shape[0])
        self.classes_ = classes
        self._codes = codes.reshape(-1).astype(np.intp)
        return self

    def _votes(
        self, dist: NDArray[np.float64], ind: NDArray[np.intp]
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Total weight per class of each query, shape (rows, n_classes), and neighbour codes."""
        w = neighbor_weights(dist, self._weights)
        codes = self._codes[ind]
        n_classes = self.classes_.shape[0]
        rows = codes.shape[0]
        flat = codes + (np.arange(rows) * n_classes)[:, None]
        votes = np.bincount(
            flat.ravel(), weights=None if w is None else w.ravel(), minlength=rows * n_classes
        ).astype(np.float64)
        return votes.reshape(rows, n_classes), codes

    def predict_proba(self, X: ArrayLike | None) -> NDArray[np.float64]:
        """Class probabilities (normalised vote weights) of each query.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features) or None

        Returns
        -------
        ndarray of shape (n_queries, n_classes)
            Columns follow :attr:`classes_`; rows sum to 1.
        """

        def probabilities(dist: NDArray[np.float64], ind: NDArray[np.intp]) -> NDArray[np.float64]:
            votes, _ = self._votes(dist, ind)
            return votes / votes.sum(axis=1, keepdims=True)

        parts = self._search(X, None, ordered=False, reduce=probabilities)
        if not parts:
            return np.empty((0, self.classes_.shape[0]))
        return np.concatenate(parts)

    def predict(self, X: ArrayLike | None) -> NDArray[Any]:
        """Predict the label of each query.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features) or None

        Returns
        -------
        ndarray of shape (n_queries,)
            Labels from :attr:`classes_`.
        """

        def label_codes(dist: NDArray[np.float64], ind: NDArray[np.intp]) -> NDArray[np.intp]:
            votes, codes = self._votes(dist, ind)
            best = votes.max(axis=1, keepdims=True)
            tied = votes >= best * (1.0 - _VOTE_RTOL)
            # Neighbours are nearest first: the first one whose label is tied decides.
            first = np.argmax(np.take_along_axis(tied, codes, axis=1), axis=1)
            return codes[np.arange(codes.shape[0]), first]

        parts = self._search(X, None, ordered=True, reduce=label_codes)
        if not parts:
            return self.classes_[:0].copy()
        return self.classes_[np.concatenate(parts)]
