"""Exact, vectorised k-nearest-neighbour regression and classification (numpy only).

:class:`KNNRegressor` and :class:`KNNClassifier` give the same answers as scikit-learn's
``KNeighborsRegressor`` / ``KNeighborsClassifier`` with ``algorithm="brute"`` for the same
``n_neighbors``, ``weights`` and ``metric``, except for one deliberate difference: a classifier
vote tie goes to the label of the *closest* neighbour among the tied labels (scikit-learn takes
the smallest label).

How a block of queries is answered
----------------------------------
Queries are processed in blocks of rows, so memory is bounded whatever the catalogue size and
the full distance matrix is never materialised: keys are computed by one matrix product per
"outer" block of about 8 MiB (OpenBLAS is most efficient from ~1,000 rows on, and fewer calls
mean fewer hand-offs to its threads) and selected in "inner" slices of up to 4 MiB whose
per-row temporaries stay in cache (:mod:`recommender.engine.distances` holds the sizes).

1. **Ranking keys.** A key monotone in the distance is computed for every (query, sample) pair
   of the block. For the Euclidean metric it is :math:`\\|b\\|^2 - 2 a \\cdot b`, one matrix
   product; the squared distance is ``key + ||a||^2`` and square roots are taken for the ``k``
   selected pairs only.
2. **Selection of the k smallest keys per row** (:func:`_select_smallest`). ``argpartition``
   over whole rows dominated the run time, so once rows are a few times wider than k the
   columns are split into ``G`` strided groups of ``g`` columns and:

   * the minimum of each group is taken (``g - 1`` vectorised ``np.minimum`` passes, the only
     full pass over the keys);
   * ``U``, the k-th smallest group minimum, bounds the k-th smallest key from above (k groups
     each hold a key ``<= U``), and the k nearest samples all lie in the k groups with the
     smallest minima (any key of another group is ``>= its minimum > U``). The minima are
     ranked in float32, which sorts twice as fast; rounding is monotone, so this stays exact
     (a float32 tie just makes the row unresolved, see 3.);
   * only those ``k * g`` candidates (plus the ``n mod g`` tail columns) are gathered and
     sorted, in float64.

   ``G`` is about ``max(192, sqrt(k n))`` (:func:`_group_size`): for ``n = 1000, k = 20``,
   166 group minima and then 124 candidates per row are sorted instead of 1,000 keys.
3. **Boundary checks.** The ``(k+1)``-th smallest key is found on the way. A row is
   *unresolved* when it is within the key tolerance of the k-th (a tie, or a near-tie that
   rounding could flip), when a selected squared distance is within the tolerance of zero (the
   query may equal a sample) and, for sorted output, when two selected keys are within the
   tolerance of each other. Unresolved rows are redone exactly (:func:`_resolve_exactly`):
   every sample whose key is within the tolerance of the k-th becomes a candidate, candidates
   get their distance by the direct formula, and the k smallest are taken in the order
   (distance, training index).

Ties in distance
----------------
The neighbours of a query are the k samples with the smallest distances; among equal
distances the lower training index comes first (what scikit-learn's brute force does in
practice), and ``kneighbors`` returns them nearest first. The Euclidean matrix product rounds
each entry slightly differently (duplicated samples can come out one ulp apart and a query
equal to a sample at a tiny non-zero distance), which is why near-ties and near-zero distances
are re-evaluated directly: duplicated samples then have identical distances and a query equal
to a sample is at distance exactly 0. Away from ties, the reported distances of one query can
differ in the last bit depending on its position in a block (matrix-product rounding), but the
selected neighbours do not.

Weights
-------
``"uniform"``: every neighbour counts 1. ``"distance"``: :math:`w = 1 / d`, except that when a
query has neighbours at distance 0 those neighbours share the weight equally and the others get
0 (no division by zero, no warning). A callable maps the ``(rows, k)`` distance array of a block
to weights of the same shape; it is called once per block, so it must treat rows independently
(``1 / (d + eps)`` or ``exp(-d)`` do). Weights must be finite and non-negative with a positive
sum for every query.

Prediction: regressor :math:`\\hat y = \\sum_i w_i y_i / \\sum_i w_i`; classifier
:math:`P(c) = \\sum_{i: y_i = c} w_i / \\sum_i w_i` and the predicted label is the arg-max, ties
(relative tolerance :data:`_VOTE_RTOL`) going to the closest neighbour's label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine import distances as _dist
from recommender.engine.distances import MAX_ABS_VALUE, METRICS, as_float_matrix, check_metric

__all__ = ["METRICS", "KNNClassifier", "KNNRegressor"]

WeightsCallable = Callable[[NDArray[np.float64]], ArrayLike]

WEIGHTS: tuple[str, ...] = ("uniform", "distance")

# Relative tolerance under which two labels' total vote weights count as tied.
_VOTE_RTOL = 1e-9

# Below this distance 1/d (and sums of k such weights times targets) could overflow, so
# "distance" weights are computed in the scaled form d_min / d instead (same predictions).
_SAFE_MIN_DISTANCE = 1e-150

# Group layout of the selection (see _group_size). Measured with bench/engine.py, k = 20:
# n = 50 fastest without groups, n = 200 with g = 2 (100 groups), n = 1,000 with g = 6 (166).
_MIN_GROUPING_FACTOR = 4
_TARGET_GROUPS = 192

# Rows up to this width are sorted outright (SIMD sort beat np.partition up to a few hundred
# columns in measurements); wider rows are partitioned.
_SORT_MAX_WIDTH = 384


# --------------------------------------------------------------------------------------------
# Selection of the k smallest keys of each row
# --------------------------------------------------------------------------------------------


def _group_size(n: int, k: int) -> int:
    """Number ``g`` of columns per group for selecting ``k`` of ``n`` (1 = no grouping).

    Grouping pays once a row is a few times wider than k. The number of groups
    ``G = n // g`` is then kept near ``max(_TARGET_GROUPS, sqrt(k n))``: numpy's SIMD sort
    is cheap up to a couple of hundred float32 values (measured: 140 ns per row of 192 versus
    1,340 ns per row of 1,024), while the ``k g`` candidates grow as groups get wider;
    ``sqrt(k n)`` balances the two stages for large n.
    """
    if n < _MIN_GROUPING_FACTOR * k:
        return 1
    target = max(_TARGET_GROUPS, math.sqrt(k * n))
    g = max(2, math.ceil(n / target))
    # At least k groups are needed for the bound.
    return max(1, min(g, n // k))


def _order_statistics(
    a: NDArray[np.float64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Smallest, k-th smallest and (k+1)-th smallest value of each row of ``a``.

    Parameters
    ----------
    a : ndarray of shape (rows, width), width >= k
    k : int

    Returns
    -------
    first, kth, nxt : ndarray of shape (rows,)
        ``nxt`` is +inf when ``width == k``.
    """
    rows, width = a.shape
    if width <= max(_SORT_MAX_WIDTH, k):
        s = np.sort(a, axis=1)
        nxt = s[:, k] if width > k else np.full(rows, np.inf)
        return s[:, 0], s[:, k - 1], nxt
    # Partitioning at k puts the (k+1)-th smallest in column k and the k smallest before it.
    p = np.partition(a, k, axis=1)
    return p[:, :k].min(axis=1), p[:, :k].max(axis=1), p[:, k]


def _pick_exactly_k(mask: NDArray[np.bool_], tied: NDArray[np.bool_], k: int) -> NDArray[np.intp]:
    """Flat indices of the True entries of ``mask``, exactly ``k`` per row, shape (rows, k).

    Rows flagged ``tied`` hold more than ``k`` True entries; they are reported unresolved by
    the caller and redone exactly, so their mask is replaced by an arbitrary valid pattern (the
    first ``k`` columns) just to keep the result rectangular.
    """
    if tied.any():
        mask[tied] = False
        mask[tied, :k] = True
    return np.flatnonzero(mask).reshape(mask.shape[0], k)


def _select_smallest(
    keys: NDArray[np.float64],
    k: int,
    tol: NDArray[np.float64],
    ordered: bool,
    near_zero: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """Select the ``k`` smallest keys of every row of a block.

    See the module docstring for the grouped algorithm and why it is exact.

    Parameters
    ----------
    keys : ndarray of shape (rows, n)
        Ranking keys (smaller = nearer); not modified.
    k : int
        Number of neighbours, ``1 <= k <= n``.
    tol : ndarray of shape (rows,)
        Keys of a row closer than ``tol`` cannot be ordered reliably (0 for exact keys).
    ordered : bool
        Sort the selection by key (nearest first).
    near_zero : ndarray of shape (rows,), optional
        If given, rows whose smallest ``key + near_zero`` is ``<= tol`` are also unresolved
        (Euclidean: ``near_zero = ||a||^2``, so that is a squared distance near 0).

    Returns
    -------
    vals : ndarray of shape (rows, k)
        The selected keys.
    cols : ndarray of shape (rows, k), dtype intp
        Their column (training) indices.
    unresolved : ndarray of shape (rows,), dtype bool
        Rows whose selection (or order, if ``ordered``) is not certain because of ties or
        near-ties; their ``vals`` / ``cols`` are meaningless and must be recomputed.
    """
    rows, n = keys.shape
    row_ids = np.arange(rows)
    g = _group_size(n, k)
    if g == 1:
        first, kth, nxt = _order_statistics(keys, k)
        tied = ~(nxt > kth)
        flat = _pick_exactly_k(keys <= kth[:, None], tied, k)
        cols = flat - (row_ids * n)[:, None]
        vals = np.take(keys, flat)
    else:
        n_groups = n // g
        width = g * n_groups
        # Column a * n_groups + b belongs to group b: strided groups make the group minimum
        # g - 1 elementwise np.minimum calls over contiguous (rows, n_groups) slices.
        view = keys[:, :width].reshape(rows, g, n_groups)
        group_min = np.minimum(view[:, 0], view[:, 1])
        for a in range(2, g):
            np.minimum(group_min, view[:, a], out=group_min)
        # The groups are ranked on their minima rounded to float32, whose sort is ~2x faster.
        # Rounding is monotone, so the k groups with the smallest rounded minima, if strictly
        # below all others, still hold the k smallest keys (a key of another group is >= its
        # minimum > every selected minimum); a float32 tie makes the row unresolved instead.
        with np.errstate(over="ignore"):  # keys beyond float32 range round to +-inf: still monotone
            group_min32 = group_min.astype(np.float32)
        _, bound, next_group32 = _order_statistics(group_min32, k)
        group_tied = ~(next_group32 > bound)
        flat = _pick_exactly_k(group_min32 <= bound[:, None], group_tied, k)
        # A float64 lower bound on the other groups' minima: x rounds to v only if x > the
        # float32 number below v.
        next_group = np.nextafter(next_group32, np.float32(-np.inf)).astype(np.float64)
        # Flat index (into keys) of member 0 of each selected group: row * n + group.
        member0 = flat + (row_ids * (n - n_groups))[:, None]

        # Candidates: all g members of the k selected groups, plus the n - width tail columns
        # that belong to no group. One np.take with flat indices measured 2-3x faster than
        # fancy indexing the 3-D view.
        cand_idx = np.empty((rows, g * k + n - width), dtype=np.intp)
        np.add(
            member0[:, None, :],
            (np.arange(g) * n_groups)[None, :, None],
            out=cand_idx[:, : g * k].reshape(rows, g, k),
        )
        if width < n:
            np.add((row_ids * n)[:, None], np.arange(width, n), out=cand_idx[:, g * k :])
        cand = np.take(keys, cand_idx)
        first, kth, next_cand = _order_statistics(cand, k)
        cand_tied = ~(next_cand > kth)
        pos = _pick_exactly_k(cand <= kth[:, None], cand_tied, k)
        vals = np.take(cand, pos)
        cols = np.take(cand_idx, pos) - (row_ids * n)[:, None]
        nxt = np.minimum(next_cand, next_group)
        tied = group_tied | cand_tied

    unresolved = tied | (nxt <= kth + tol)
    if near_zero is not None:
        # A squared distance (key + near_zero) within the tolerance of 0 may really be 0 (the
        # query equals a sample): have it computed exactly so the zero-distance rule applies.
        unresolved |= first + near_zero <= tol
    if ordered:
        # Unstable argsort is fine: rows with keys closer than tol are flagged just below and
        # redone in (distance, index) order.
        order = np.argsort(vals, axis=1)
        vals = np.take_along_axis(vals, order, axis=1)
        cols = np.take_along_axis(cols, order, axis=1)
        if k > 1:
            unresolved |= (np.diff(vals, axis=1) <= tol[:, None]).any(axis=1)
    return vals, cols, unresolved


def _resolve_exactly(
    Q: NDArray[np.float64],
    keys: NDArray[np.float64],
    rows: NDArray[np.intp],
    tol: NDArray[np.float64],
    ref: _dist._Reference,
    k: int,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Exact k nearest neighbours of the block rows ``rows``, in (distance, index) order.

    Every sample whose key is within ``tol`` of the row's k-th smallest key is a candidate
    (this contains the true k nearest despite rounding); Euclidean candidates get their
    distance from the direct formula. Vectorised over all (row, candidate) pairs: one lexsort
    by (row, distance, index), then the first k of each row.

    Returns
    -------
    dist : ndarray of shape (len(rows), k)
    ind : ndarray of shape (len(rows), k), dtype intp
    """
    sub = keys[rows]
    kth = np.partition(sub, k - 1, axis=1)[:, k - 1]
    qi, ci = np.nonzero(sub <= (kth + tol[rows])[:, None])
    if ref.metric == "euclidean":
        d = _dist._exact_distances(Q, ref.X, rows[qi], ci, ref.metric)
    else:
        d = _dist._keys_to_distances(sub[qi, ci][:, None], None, ref)[:, 0]
    order = np.lexsort((ci, d, qi))
    qi, ci, d = qi[order], ci[order], d[order]
    counts = np.bincount(qi, minlength=rows.shape[0])
    rank = np.arange(qi.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < k
    return d[keep].reshape(-1, k), ci[keep].reshape(-1, k)


def _neighbors_from_keys(
    Q: NDArray[np.float64],
    keys: NDArray[np.float64],
    ref: _dist._Reference,
    k: int,
    ordered: bool,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """k nearest samples of each row of one query block: (dist, ind), each (rows, k).

    ``keys`` (rows, n_samples) are the block's ranking keys (:func:`_dist._ranking_keys`).
    """
    q_sq = _dist._query_sq_norms(Q, ref)
    tol = np.broadcast_to(np.asarray(_dist._key_tolerance(q_sq, ref), dtype=np.float64), (len(Q),))
    vals, cols, unresolved = _select_smallest(keys, k, tol, ordered, near_zero=q_sq)
    dist = _dist._keys_to_distances(vals, q_sq, ref)
    if unresolved.any():
        rows = np.flatnonzero(unresolved)
        dist[rows], cols[rows] = _resolve_exactly(Q, keys, rows, tol, ref, k)
    return dist, cols


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

    _ref: _dist._Reference

    def __init__(
        self,
        n_neighbors: int = 5,
        weights: str | WeightsCallable = "uniform",
        metric: str = "euclidean",
    ) -> None:
        # Like scikit-learn, only store the parameters; they are validated by fit().
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_neighbors={self.n_neighbors!r}, "
            f"weights={self.weights!r}, metric={self.metric!r})"
        )

    def _fit_X(self, X: ArrayLike, n_targets: int) -> None:
        """Validate the parameters and X, then store the fitted state (all or nothing)."""
        k = _check_n_neighbors(self.n_neighbors)
        weights = _check_weights(self.weights)
        metric = check_metric(self.metric)
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
        self._ref = _dist._prepare_reference(X_arr, metric)
        self.n_features_in_ = X_arr.shape[1]
        self.n_samples_fit_ = n_samples

    def _check_fitted(self) -> None:
        if not hasattr(self, "_ref"):
            raise ValueError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first"
            )

    def _check_query(self, X: ArrayLike) -> NDArray[np.float64]:
        Q = as_float_matrix(X, "X")
        if Q.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Expected X with {self.n_features_in_} features as in fit, got {Q.shape[1]}"
            )
        return Q

    def _iter_neighbors(
        self, X: ArrayLike | None, n_neighbors: int | None, ordered: bool
    ) -> Iterator[tuple[slice, NDArray[np.float64], NDArray[np.intp]]]:
        """Yield ``(rows, dist, ind)`` block by block, validating everything first.

        With ``X=None`` the queries are the training samples and each is not its own
        neighbour (as in scikit-learn): ``k + 1`` neighbours are searched and the sample itself
        removed, or, if duplicates at distance 0 crowded it out, the first neighbour.
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
        return self._blocks(Q, k, ordered or X is None, leave_one_out=X is None)

    def _blocks(
        self, Q: NDArray[np.float64], k: int, ordered: bool, leave_one_out: bool
    ) -> Iterator[tuple[slice, NDArray[np.float64], NDArray[np.intp]]]:
        search_k = k + 1 if leave_one_out else k
        n_queries, n = Q.shape[0], self.n_samples_fit_
        # Keys come from the matrix product in "outer" blocks (OpenBLAS is most efficient from
        # about 1,000 rows on and fewer calls mean fewer thread hand-offs); the selection then
        # works on cache-sized "inner" slices of them. Blocks are processed one after the other:
        # a thread pool over blocks measured slower on 2 cores, as OpenBLAS's own threads keep
        # spinning after each product and compete with the second selection thread.
        inner = _dist.block_rows(n)
        outer = max(inner, _dist.block_rows(n, _dist._GEMM_BLOCK_BYTES))
        outer -= outer % inner
        buffer = np.empty((min(outer, n_queries), n))
        for start in range(0, n_queries, outer):
            stop = min(start + outer, n_queries)
            keys = _dist._ranking_keys(Q[start:stop], self._ref, out=buffer[: stop - start])
            for lo in range(start, stop, inner):
                rows = slice(lo, min(lo + inner, stop))
                dist, ind = _neighbors_from_keys(
                    Q[rows], keys[lo - start : rows.stop - start], self._ref, search_k, ordered
                )
                if leave_one_out:
                    keep = ind != np.arange(rows.start, rows.stop)[:, None]
                    keep[keep.all(axis=1), 0] = False
                    dist = dist[keep].reshape(-1, k)
                    ind = ind[keep].reshape(-1, k)
                yield rows, dist, ind

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
        blocks = self._iter_neighbors(X, n_neighbors, ordered=True)
        dist_parts, ind_parts = [], []
        for _, dist, ind in blocks:
            dist_parts.append(dist)
            ind_parts.append(ind)
        k = self._k if n_neighbors is None else int(n_neighbors)
        if dist_parts:
            dist_all = np.concatenate(dist_parts)
            ind_all = np.concatenate(ind_parts)
        else:  # zero queries
            dist_all = np.empty((0, k))
            ind_all = np.empty((0, k), dtype=np.intp)
        return (dist_all, ind_all) if return_distance else ind_all


class KNNRegressor(_KNNBase):
    """k-nearest-neighbour regression: weighted mean of the neighbours' targets.

    .. math:: \\hat y(q) = \\frac{\\sum_{i \\in N_k(q)} w_i\\, y_i}{\\sum_{i \\in N_k(q)} w_i}

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours ``k``, ``1 <= k <= n_samples``.
    weights : {"uniform", "distance"} or callable, default="uniform"
        See the module docstring.
    metric : {"euclidean", "manhattan", "hamming"}, default="euclidean"

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
            Numbers, finite.

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
        parts = []
        for _, dist, ind in self._iter_neighbors(X, None, ordered=False):
            w = neighbor_weights(dist, self._weights)
            y_nb = np.take(self._y, ind)
            if w is None:
                parts.append(y_nb.mean(axis=1))
            else:
                # einsum row sums measured ~2x faster than (w * y).sum(axis=1) for k ~ 20
                parts.append(np.einsum("ij,ij->i", w, y_nb) / np.einsum("ij->i", w))
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
    weights : {"uniform", "distance"} or callable, default="uniform"
    metric : {"euclidean", "manhattan", "hamming"}, default="euclidean"

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
        parts = []
        for _, dist, ind in self._iter_neighbors(X, None, ordered=False):
            votes, _ = self._votes(dist, ind)
            parts.append(votes / votes.sum(axis=1, keepdims=True))
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
        parts = []
        for _, dist, ind in self._iter_neighbors(X, None, ordered=True):
            votes, codes = self._votes(dist, ind)
            best = votes.max(axis=1, keepdims=True)
            tied = votes >= best * (1.0 - _VOTE_RTOL)
            # Neighbours are nearest first: the first one whose label is tied decides.
            first = np.argmax(np.take_along_axis(tied, codes, axis=1), axis=1)
            parts.append(codes[np.arange(codes.shape[0]), first])
        if not parts:
            return self.classes_[:0].copy()
        return self.classes_[np.concatenate(parts)]
