"""Neighbour-search building blocks shared by the distances and the KNN estimators (private).

The engine ranks neighbours on *keys* monotone in the distance and computes true distances
for the selected pairs only. The Euclidean keys carry a rounding-error bound
(:func:`key_tolerance`): the matrix product rounds differently from one entry to the next (it
even depends on a row's position inside the block), so two keys closer than the bound cannot be
ordered reliably and a query equal to a sample may come out at a tiny non-zero distance. Such
pairs are re-evaluated with the direct formula (:func:`exact_distances`), which gives identical
rows a distance of exactly zero and duplicated samples identical distances.

How a block of queries is answered
----------------------------------
Queries are processed in blocks of rows, so memory is bounded whatever the catalogue size and
the full distance matrix is never materialised: keys are computed by one matrix product per
"outer" block of about 8 MiB (OpenBLAS is most efficient from ~1,000 rows on, and fewer calls
mean fewer hand-offs to its threads) and selected in "inner" slices of up to 4 MiB whose
per-row temporaries stay in cache (:data:`BLOCK_BYTES`, :data:`GEMM_BLOCK_BYTES`).

1. **Ranking keys** (:func:`ranking_keys`), for every (query, sample) pair of the block. For
   the Euclidean metric the key is :math:`\\|b\\|^2 - 2 a \\cdot b`, one matrix product; the
   squared distance is ``key + ||a||^2`` and square roots are taken for the ``k`` selected
   pairs only. For Manhattan it is the distance itself, for Hamming the *count* of differing
   coordinates (Manhattan and Hamming broadcast one feature at a time into a block-sized
   buffer instead of materialising a ``(rows, n_samples, n_features)`` array).
2. **Selection of the k smallest keys per row** (:func:`select_smallest`). ``argpartition``
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

   ``G`` is about ``max(192, sqrt(k n))`` (:func:`group_size`): for ``n = 1000, k = 20``,
   166 group minima and then 124 candidates per row are sorted instead of 1,000 keys.

   Where the compiled kernel is built (``_select.c``), every row goes to it whole
   (:func:`smallest_with_columns`), which finds its k+1 smallest keys and their columns in
   (key, column) order in one call: the columns are dealt into ``2 (k+1)`` strided groups,
   the (k+1)-th smallest group minimum bounds the keys wanted, the keys at or below it (about
   1.4 (k+1) of them, however wide the row) are the candidates, and each candidate's place is
   counted rather than sorted, four comparisons at a time, with no branch to mispredict. Per
   row of keys (k = 20) it measured 1.2-1.5x faster than the compiled path it replaced (numpy's
   partition and sort, then a pass for the columns) and 1.2-2.5x faster than the numpy path
   (``bench/engine.py`` prints that table; docs/scaling.md has both).
   **Float32 keys.** From :data:`FLOAT32_MIN_SAMPLES` reference rows on (Euclidean, with
   the kernel built), the keys come from a float32 product (:func:`float32_keys`), half the
   time of a float64 one. Each float32 key is within half of :func:`float32_slack` of its
   float64 key, so a row's k+1 smallest float64 keys all lie within the slack of its
   (k+1)-th smallest float32 key; only those keys, about k + 1 a row, are computed again in
   float64 (``_select.refined_smallest``), and the rest of the search (the checks below, the
   distances) works on them as on the float64 product's keys.
3. **Boundary checks.** The ``(k+1)``-th smallest key is found on the way. A row is
   *unresolved* when it is within the key tolerance of the k-th (a tie, or a near-tie that
   rounding could flip), when a selected squared distance is within the tolerance of zero (the
   query may equal a sample) and, for sorted output, when two selected keys are within the
   tolerance of each other. Unresolved rows are redone exactly (:func:`resolve_exactly`):
   every sample whose key is within the tolerance of the k-th becomes a candidate, candidates
   get their distance by the direct formula, and the k smallest are taken in the order
   (distance, training index). Float32 keys widen the candidates' bound by the slack.

Inputs here are already validated (:func:`recommender.engine.distances.as_float_matrix`, a
canonical metric name); the module is private to the engine, its names public within it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

try:  # the compiled half of the selection, built by the package's install (setup.py)
    from recommender.engine import _select as compiled_select
except ImportError:  # pragma: no cover - a checkout that was never built
    compiled_select = None

# Target size in bytes of one (rows, n_samples) float64 block of keys handed to the selection.
# Small enough for the block's per-row temporaries to stay in cache, big enough to amortise
# the per-block Python overhead (measured with bench/engine.py).
BLOCK_BYTES = 4 * 1024 * 1024

# Hard cap on rows per block, whatever the budget (tests set it to 1 to force tiny blocks).
MAX_BLOCK_ROWS = 2048

# Target size of the blocks of keys computed by one matrix product (a multiple of the
# selection block). Fewer, larger GEMM calls measured faster with OpenBLAS's threads.
GEMM_BLOCK_BYTES = 8 * 1024 * 1024
MAX_GEMM_BLOCK_ROWS = 8192

# Safety factor on the rounding-error bound of the Euclidean keys (see key_tolerance).
TOLERANCE_SAFETY = 2.0

# From this many reference samples on, the Euclidean keys come from a float32 product (half
# the time of a float64 one) and only the few keys near each row's k-th are computed again in
# float64 by the compiled kernel (_select.refined_smallest). At 256 the two ways take the
# same time, below it the float64 recomputation costs more than the product saves, above it
# the float32 product gains more and more (bench/predict.py: 0.71-0.79x at 1,330).
FLOAT32_MIN_SAMPLES = 256

# Float32 keys are used only while every operand entry is at most this in magnitude: their
# products then stay far inside float32's range, and the absolute error of float32's
# subnormals is covered by float32_slack.
FLOAT32_MAX_ENTRY = 2.0**50


def block_rows(n_columns: int, budget: int | None = None) -> int:
    """Number of query rows per block so that a ``(rows, n_columns)`` float64 block fits.

    Parameters
    ----------
    n_columns : int
        Width of the block (number of reference samples).
    budget : int, optional
        Bytes per block; default :data:`BLOCK_BYTES`. With the default the result is also
        capped by :data:`MAX_BLOCK_ROWS`, otherwise by :data:`MAX_GEMM_BLOCK_ROWS`.

    Returns
    -------
    int
        ``clip(budget // (8 * n_columns), 1, cap)``.
    """
    if budget is None:
        budget, cap = BLOCK_BYTES, MAX_BLOCK_ROWS
    else:
        cap = max(MAX_BLOCK_ROWS, MAX_GEMM_BLOCK_ROWS)
    return int(min(max(budget // (8 * max(n_columns, 1)), 1), cap))


# Picked query rows, ascending, that cover at least this share of the queries are searched
# in place (contiguous views of every row, the others' answers dropped) rather than gathered a
# block at a time. The gathers (of the rows and of their augmented copy) are a fixed cost; the
# rows searched for nothing cost their share of the search. bench/predict.py, 62,000 x 101:
# in place took 12-15% off a 71-rating user's computed predictions and 3% off a 327-rating
# one's (0.5% of the rows rated), and added 3% to a 1,330-rating one's (2.1%).
IN_PLACE_MIN_SHARE = 0.99


def searched_in_place(picked: NDArray[np.integer], n_queries: int) -> bool:
    """Whether the query rows ``picked`` are better searched in place (IN_PLACE_MIN_SHARE):
    ascending, and at least that share of the ``n_queries``."""
    if picked.shape[0] < max(2, IN_PLACE_MIN_SHARE * n_queries):
        return False
    # Compared pairwise, not by np.diff: an unsigned difference of a descending pair wraps.
    return bool(picked[0] >= 0 and (picked[1:] > picked[:-1]).all())


@dataclass(frozen=True, slots=True)
class Reference:
    """Reference-side arrays precomputed once (at ``fit``) for a metric.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The reference samples, float64, C-contiguous.
    metric : str
        One of :data:`METRICS`.
    augmented : ndarray of shape (n_samples, n_features + 1) or None
        Euclidean only: ``[X, ||x||^2]``, so that ``[-2 a, 1] @ augmented.T`` yields the
        ranking keys ``||b||^2 - 2 a.b`` in one matrix product, without a separate pass to
        add the norms.
    max_sq_norm : float
        Euclidean only: ``max ||x||^2`` over the samples, used by the error bound.
    columns : ndarray of shape (n_features, n_samples) or None
        Manhattan/Hamming: ``X.T`` made contiguous, so each feature broadcast reads one
        contiguous row.
    augmented32 : ndarray of shape (n_samples, n_features + 1), dtype float32, or None
        ``augmented`` in float32, for the float32 keys (:func:`float32_keys`); None where they
        are not used (another metric, fewer than :data:`FLOAT32_MIN_SAMPLES` samples, an
        entry above :data:`FLOAT32_MAX_ENTRY`).
    """

    X: NDArray[np.float64]
    metric: str
    augmented: NDArray[np.float64] | None
    max_sq_norm: float
    columns: NDArray[np.float64] | None
    augmented32: NDArray[np.float32] | None = None

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def prepare_reference(X: NDArray[np.float64], metric: str) -> Reference:
    """Precompute the reference-side arrays for ``metric`` (``X`` already validated)."""
    if metric == "euclidean":
        sq_norms = np.einsum("ij,ij->i", X, X)
        augmented = np.empty((X.shape[0], X.shape[1] + 1))
        augmented[:, :-1] = X
        augmented[:, -1] = sq_norms
        max_sq = float(sq_norms.max()) if sq_norms.size else 0.0
        augmented32 = None
        if X.shape[0] >= FLOAT32_MIN_SAMPLES and np.abs(augmented).max() <= FLOAT32_MAX_ENTRY:
            augmented32 = augmented.astype(np.float32)
        return Reference(X, metric, augmented, max_sq, None, augmented32)
    return Reference(X, metric, None, 0.0, np.ascontiguousarray(X.T))


def query_sq_norms(Q: NDArray[np.float64], ref: Reference) -> NDArray[np.float64] | None:
    """Squared norms ``||a||^2`` of the query rows, shape (rows,); None unless Euclidean."""
    if ref.metric != "euclidean":
        return None
    return np.einsum("ij,ij->i", Q, Q)


def augmented_queries(Q: NDArray[np.float64]) -> NDArray[np.float64]:
    """``[-2 a, 1]`` for every query row: the left operand of the Euclidean keys' product.

    Scaling by -2 is exact in binary floating point, so the keys are no less accurate than
    computing ``a . b`` and combining afterwards, and the product needs no second pass.
    """
    Qa = np.empty((Q.shape[0], Q.shape[1] + 1))
    np.multiply(Q, -2.0, out=Qa[:, :-1])
    Qa[:, -1] = 1.0
    return Qa


def ranking_keys(
    Q: NDArray[np.float64],
    ref: Reference,
    out: NDArray[np.float64] | None = None,
    augmented: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Ranking keys of every (query, sample) pair of one block.

    Parameters
    ----------
    Q : ndarray of shape (rows, n_features)
        One block of queries.
    ref : Reference
        Prepared reference samples.
    out : ndarray of shape (rows, n_samples), optional
        C-contiguous buffer to write into. Reusing one buffer across blocks avoids
        page-faulting a fresh multi-MiB allocation for every block.
    augmented : ndarray of shape (rows, n_features + 1), optional
        Euclidean: :func:`augmented_queries` of ``Q`` when the caller has it already.

    Returns
    -------
    ndarray of shape (rows, n_samples)
        Euclidean: ``||b||^2 - 2 a.b`` (add ``||a||^2`` for the squared distance);
        Manhattan: ``sum_j |a_j - b_j|``; Hamming: ``sum_j [a_j != b_j]`` (a count).
    """
    rows, n_features = Q.shape
    if ref.metric == "euclidean":
        assert ref.augmented is not None
        # One GEMM on augmented operands: [-2a, 1] . [b, ||b||^2] = ||b||^2 - 2 a.b.
        Qa = augmented_queries(Q) if augmented is None else augmented
        return np.matmul(Qa, ref.augmented.T, out=out)

    assert ref.columns is not None
    keys = np.zeros((rows, ref.n_samples)) if out is None else out
    keys.fill(0.0)
    tmp = np.empty_like(keys)
    if ref.metric == "manhattan":
        # Broadcast one feature at a time: the temporary stays one block in size, the summation
        # order (sequential over features, as in scikit-learn) does not depend on the block
        # size, and this measured 2-5x faster than a (rows, n, f) broadcast summed over f.
        for j in range(n_features):
            np.subtract(Q[:, j, None], ref.columns[j], out=tmp)
            np.abs(tmp, out=tmp)
            keys += tmp
    else:  # hamming: count differing coordinates; exact in float64, so ties stay ties
        differs = np.empty(keys.shape, dtype=bool)
        for j in range(n_features):
            np.not_equal(Q[:, j, None], ref.columns[j], out=differs)
            keys += differs
    return keys


def key_tolerance(q_sq_norms: NDArray[np.float64] | None, ref: Reference) -> Any:
    """Bound on the rounding error of the ranking keys of each query row.

    For the Euclidean keys ``fl(x . y)`` with ``x = [-2a, 1]`` and ``y = [b, fl(||b||^2)]``
    over ``m = n_features + 1`` terms, the standard dot-product bound gives

    .. math:: |\\mathrm{fl}(x \\cdot y) - x \\cdot y| \\le \\gamma_m \\sum_p |x_p y_p|
              \\le \\gamma_m (\\|a\\|^2 + 3 \\|b\\|^2),
              \\quad \\gamma_m \\approx m\\,u,\\ u = \\varepsilon / 2

    (using :math:`2|a \\cdot b| \\le \\|a\\|^2 + \\|b\\|^2` and the error of ``fl(||b||^2)``).
    The difference of two keys of the same row, and a squared distance near zero, are then
    uncertain by about twice that; a safety factor is applied on top.

    Parameters
    ----------
    q_sq_norms : ndarray of shape (rows,) or None
        Squared norms of the query rows (Euclidean), else None.
    ref : Reference
        Prepared reference samples.

    Returns
    -------
    ndarray of shape (rows,) or float
        Per-row tolerance (Euclidean) or ``0.0``: Manhattan and Hamming keys are computed
        identically for identical inputs, so only exact ties need special care.
    """
    if q_sq_norms is None:
        return 0.0
    gamma = (ref.n_features + 1) * np.finfo(np.float64).eps / 2.0
    return (2.0 * TOLERANCE_SAFETY * gamma) * (q_sq_norms + 3.0 * ref.max_sq_norm)


def float32_keys(
    augmented: NDArray[np.float64],
    q_sq_norms: NDArray[np.float64],
    ref: Reference,
    out: NDArray[np.float32],
) -> NDArray[np.float32] | None:
    """The Euclidean ranking keys of a block from a float32 product, or None where they are not
    to be used (the reference has no ``augmented32``, the kernel is off, or a query entry is
    above :data:`FLOAT32_MAX_ENTRY`). ``augmented`` is :func:`augmented_queries` of the
    block, ``out`` a ``(rows, n_samples)`` float32 buffer. Their selection is
    :func:`select_smallest` with ``refine`` (:class:`Refinement`)."""
    if ref.augmented32 is None or compiled_kernel() is None:
        return None
    # |-2 a_i| <= 2 ||a||: a bound on the queries' entries from the norms already at hand.
    if q_sq_norms.size and 4.0 * float(q_sq_norms.max()) > FLOAT32_MAX_ENTRY**2:
        return None
    return np.matmul(augmented.astype(np.float32), ref.augmented32.T, out=out)


def float32_slack(q_sq_norms: NDArray[np.float64], ref: Reference) -> NDArray[np.float64]:
    """Twice a bound on how far a row's float32 key (:func:`float32_keys`) is from its float64
    key, per row: the bound of :func:`key_tolerance` with float32's unit roundoff, two more
    terms for rounding both operands to float32, and an absolute term for float32's
    subnormals (a rounding into them is at most ``2^-150`` off; an operand's, times the other
    operand's entry of at most :data:`FLOAT32_MAX_ENTRY`, twice per term, and the product's
    once), with the same safety factor."""
    p = ref.n_features + 1
    u = 2.0**-24
    gamma = (p + 2) * u / (1.0 - (p + 2) * u)
    absolute = 3 * p * 2.0**-150 * FLOAT32_MAX_ENTRY
    return (2.0 * TOLERANCE_SAFETY) * (gamma * (q_sq_norms + 3.0 * ref.max_sq_norm) + absolute)


@dataclass(frozen=True, slots=True)
class Refinement:
    """What :func:`select_smallest` needs to select from float32 keys: each row's
    :func:`float32_slack`, the block's float64 ``[-2 a, 1]`` rows and the reference's
    ``augmented``, from which the keys near each row's k-th are computed again in float64."""

    slack: NDArray[np.float64]
    queries: NDArray[np.float64]
    reference: NDArray[np.float64]


def keys_to_distances(
    keys: NDArray[np.float64], q_sq_norms: NDArray[np.float64] | None, ref: Reference
) -> NDArray[np.float64]:
    """Convert ranking keys of shape (rows, m) to distances of the same shape.

    Euclidean: :math:`d = \\sqrt{\\max(\\mathrm{key} + \\|a\\|^2, 0)}`, the clip removing the
    tiny negatives that cancellation can produce; Manhattan: the key; Hamming: key / n_features.
    """
    if ref.metric == "euclidean":
        assert q_sq_norms is not None
        d = keys + q_sq_norms[:, None]
        np.maximum(d, 0.0, out=d)
        return np.sqrt(d, out=d)
    if ref.metric == "hamming":
        return keys / ref.n_features
    return keys.copy()


def exact_distances(
    Q: NDArray[np.float64],
    X: NDArray[np.float64],
    q_rows: NDArray[np.intp],
    x_rows: NDArray[np.intp],
    metric: str,
) -> NDArray[np.float64]:
    """Distances of the pairs ``(Q[q_rows[i]], X[x_rows[i]])`` by the direct formula.

    Used where the Euclidean ranking keys are not precise enough (near-ties, near-zero
    distances). ``sqrt(sum((a - b)^2))`` has no cancellation: identical rows give exactly 0
    and duplicated samples give identical values. Pairs are processed in batches so the
    ``(batch, n_features)`` temporaries stay within :data:`BLOCK_BYTES`.

    Parameters
    ----------
    Q : ndarray of shape (n_q, n_features)
    X : ndarray of shape (n_x, n_features)
    q_rows, x_rows : ndarray of shape (n_pairs,), dtype intp
    metric : str

    Returns
    -------
    ndarray of shape (n_pairs,)
    """
    n_pairs = q_rows.shape[0]
    out = np.empty(n_pairs)
    batch = max(1, BLOCK_BYTES // (8 * Q.shape[1]))
    for start in range(0, n_pairs, batch):
        sl = slice(start, start + batch)
        diff = Q[q_rows[sl]] - X[x_rows[sl]]
        if metric == "euclidean":
            out[sl] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        elif metric == "manhattan":
            out[sl] = np.abs(diff).sum(axis=1)
        else:
            out[sl] = np.count_nonzero(diff, axis=1) / Q.shape[1]
    return out


# Group layout of the selection (see group_size). Measured with bench/engine.py, k = 20:
# n = 50 fastest without groups, n = 200 with g = 2 (100 groups), n = 1,000 with g = 6 (166).
MIN_GROUPING_FACTOR = 4
TARGET_GROUPS = 192

# Rows up to this width are sorted outright (SIMD sort beat np.partition up to a few hundred
# columns in measurements); wider rows are partitioned.
SORT_MAX_WIDTH = 384


# --------------------------------------------------------------------------------------------
# Selection of the k smallest keys of each row
# --------------------------------------------------------------------------------------------


def group_size(n: int, k: int) -> int:
    """Number ``g`` of columns per group for selecting ``k`` of ``n`` (1 = no grouping).

    Grouping pays once a row is a few times wider than k. The number of groups
    ``G = n // g`` is then kept near ``max(TARGET_GROUPS, sqrt(k n))``: numpy's SIMD sort
    is cheap up to a couple of hundred float32 values (measured: 140 ns per row of 192 versus
    1,340 ns per row of 1,024), while the ``k g`` candidates grow as groups get wider;
    ``sqrt(k n)`` balances the two stages for large n.
    """
    if n < MIN_GROUPING_FACTOR * k:
        return 1
    target = max(TARGET_GROUPS, math.sqrt(k * n))
    g = max(2, math.ceil(n / target))
    # At least k groups are needed for the bound.
    return max(1, min(g, n // k))


def order_statistics(
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
    if width <= max(SORT_MAX_WIDTH, k):
        s = np.sort(a, axis=1)
        nxt = s[:, k] if width > k else np.full(rows, np.inf)
        return s[:, 0], s[:, k - 1], nxt
    # Partitioning at k puts the (k+1)-th smallest in column k and the k smallest before it.
    p = np.partition(a, k, axis=1)
    return p[:, :k].min(axis=1), p[:, :k].max(axis=1), p[:, k]


# Use the compiled kernel (the selection, and the predictor's neighbour sums) when it is
# built (tests turn it off to check one path against the other; both give the same answers).
use_compiled = compiled_select is not None


def compiled_kernel() -> Any:
    """The compiled kernel when it is built and in use, else None."""
    return compiled_select if use_compiled else None


@contextmanager
def compiled_selection(enabled: bool) -> Iterator[None]:
    """Select (and sum, engine/predictor.py) with the compiled kernel (if built) or with numpy
    alone inside the block: how the benches and tests measure one path beside the other."""
    global use_compiled
    previous, use_compiled = use_compiled, enabled
    try:
        yield
    finally:
        use_compiled = previous


# What a selection of the k smallest of each row gives: the smallest, k-th and (k+1)-th
# smallest value of each row (rows,), the k smallest values and their positions (rows, k).
Smallest = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.intp],
]


def smallest_with_columns(
    a: NDArray[np.float64] | NDArray[np.float32], k: int, refine: Refinement | None = None
) -> Smallest:
    """The k smallest values of each row of ``a`` and their positions in the row.

    Returns ``(first, kth, nxt, vals, pos)`` (:data:`Smallest`; ``nxt`` +inf when ``a`` is k
    wide). Compiled (``_select.smallest``), ``vals`` come sorted by (value, position); from
    numpy, in no order. Rows whose k-th and (k+1)-th values tie (``~(nxt > kth)``) hold
    arbitrary valid positions: the caller redoes them. With ``refine``, ``a`` holds float32
    keys and the values are their float64 keys (``_select.refined_smallest``, compiled only).
    """
    rows, width = a.shape
    kernel = compiled_kernel()
    if refine is not None or kernel is not None:
        kept = min(k + 1, width)
        vals = np.empty((rows, kept))
        pos = np.empty((rows, kept), dtype=np.intp)
        if refine is not None:  # float32 keys are made only where the kernel is built
            assert compiled_select is not None
            compiled_select.refined_smallest(
                a, refine.slack, refine.queries, refine.reference, vals, pos
            )
        else:
            kernel.smallest(a, vals, pos)
        nxt = vals[:, k] if kept > k else np.full(rows, np.inf)
        return vals[:, 0], vals[:, k - 1], nxt, vals[:, :k], pos[:, :k]
    first, kth, nxt = order_statistics(a, k)
    flat = pick_exactly_k(a <= kth[:, None], ~(nxt > kth), k)
    pos = flat - (np.arange(rows) * width)[:, None]
    return first, kth, nxt, np.take(a, flat), pos


def _group_minima(keys: NDArray[np.float64], g: int) -> NDArray[np.float64]:
    """Minimum of each strided group of ``g`` columns (column ``a * G + b`` is in group ``b``),
    shape (rows, G) with ``G = n // g``; the ``n mod g`` tail columns are in no group."""
    rows, n = keys.shape
    n_groups = n // g
    # Strided groups make the group minimum g - 1 elementwise np.minimum calls over contiguous
    # (rows, n_groups) slices.
    view = keys[:, : g * n_groups].reshape(rows, g, n_groups)
    group_min = np.minimum(view[:, 0], view[:, 1])
    for a in range(2, g):
        np.minimum(group_min, view[:, a], out=group_min)
    return group_min


def pick_exactly_k(mask: NDArray[np.bool_], tied: NDArray[np.bool_], k: int) -> NDArray[np.intp]:
    """Flat indices of the True entries of ``mask``, exactly ``k`` per row, shape (rows, k).

    Rows flagged ``tied`` hold more than ``k`` True entries; they are reported unresolved by
    the caller and redone exactly, so their mask is replaced by an arbitrary valid pattern (the
    first ``k`` columns) just to keep the result rectangular.
    """
    if tied.any():
        mask[tied] = False
        mask[tied, :k] = True
    return np.flatnonzero(mask).reshape(mask.shape[0], k)


def select_smallest(
    keys: NDArray[np.float64] | NDArray[np.float32],
    k: int,
    tol: NDArray[np.float64],
    ordered: bool,
    near_zero: NDArray[np.float64] | None = None,
    refine: Refinement | None = None,
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
    refine : Refinement, optional
        ``keys`` are float32 keys (:func:`float32_keys`): the selected ones are computed again
        in float64, and ``vals`` and ``tol`` refer to those.

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
    compiled = refine is not None or compiled_kernel() is not None
    g = 1 if compiled else group_size(n, k)
    in_order = compiled  # the compiled path gives each row's selection sorted
    if g == 1:
        first, kth, nxt, vals, cols = smallest_with_columns(keys, k, refine)
        tied = ~(nxt > kth)
    else:
        n_groups = n // g
        width = g * n_groups
        group_min = _group_minima(keys, g)
        # The groups are ranked on their minima rounded to float32, whose sort is ~2x faster.
        # Rounding is monotone, so the k groups with the smallest rounded minima, if strictly
        # below all others, still hold the k smallest keys (a key of another group is >= its
        # minimum > every selected minimum); a float32 tie makes the row unresolved instead.
        with np.errstate(over="ignore"):  # keys beyond float32 range round to +-inf: still monotone
            group_min32 = group_min.astype(np.float32)
        _, bound, next_group32 = order_statistics(group_min32, k)
        group_tied = ~(next_group32 > bound)
        flat = pick_exactly_k(group_min32 <= bound[:, None], group_tied, k)
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
        first, kth, next_cand, vals, pos = smallest_with_columns(cand, k)
        cols = np.take_along_axis(cand_idx, pos, axis=1) - (row_ids * n)[:, None]
        nxt = np.minimum(next_cand, next_group)
        tied = group_tied | ~(next_cand > kth)

    unresolved = tied | (nxt <= kth + tol)
    if near_zero is not None:
        # A squared distance (key + near_zero) within the tolerance of 0 may really be 0 (the
        # query equals a sample): have it computed exactly so the zero-distance rule applies.
        unresolved |= first + near_zero <= tol
    if ordered:
        if not in_order:
            # Unstable argsort is fine: rows with keys closer than tol are flagged just below
            # and redone in (distance, index) order (so is the order of equal keys that came
            # sorted: among the candidates of groups it is not the column order).
            order = np.argsort(vals, axis=1)
            vals = np.take_along_axis(vals, order, axis=1)
            cols = np.take_along_axis(cols, order, axis=1)
        if k > 1:
            unresolved |= (np.diff(vals, axis=1) <= tol[:, None]).any(axis=1)
    return vals, cols, unresolved


def resolve_exactly(
    Q: NDArray[np.float64],
    keys: NDArray[np.float64] | NDArray[np.float32],
    rows: NDArray[np.intp],
    tol: NDArray[np.float64],
    ref: Reference,
    k: int,
    slack: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Exact k nearest neighbours of the block rows ``rows``, in (distance, index) order.

    Every sample whose key is within ``tol`` of the row's k-th smallest key is a candidate
    (this contains the true k nearest despite rounding); Euclidean candidates get their
    distance from the direct formula. Vectorised over all (row, candidate) pairs: one lexsort
    by (row, distance, index), then the first k of each row. Float32 keys (:func:`float32_keys`)
    come with their ``slack``, by which the candidates' bound is widened: each float32 key is
    within half of it of its float64 key, so the k-th smallest is too.

    Returns
    -------
    dist : ndarray of shape (len(rows), k)
    ind : ndarray of shape (len(rows), k), dtype intp
    """
    sub = keys[rows]
    limit = np.partition(sub, k - 1, axis=1)[:, k - 1] + tol[rows]
    if slack is not None:
        limit += slack[rows]
    qi, ci = np.nonzero(sub <= limit[:, None])
    if ref.metric == "euclidean":
        d = exact_distances(Q, ref.X, rows[qi], ci, ref.metric)
    else:
        d = keys_to_distances(sub[qi, ci][:, None], None, ref)[:, 0]
    order = np.lexsort((ci, d, qi))
    qi, ci, d = qi[order], ci[order], d[order]
    counts = np.bincount(qi, minlength=rows.shape[0])
    rank = np.arange(qi.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < k
    return d[keep].reshape(-1, k), ci[keep].reshape(-1, k)


def neighbors_from_keys(
    Q: NDArray[np.float64],
    keys: NDArray[np.float64] | NDArray[np.float32],
    ref: Reference,
    k: int,
    ordered: bool,
    q_sq: NDArray[np.float64] | None = None,
    wanted: NDArray[np.bool_] | None = None,
    augmented: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """k nearest samples of each row of one query block: (dist, ind), each (rows, k).

    ``keys`` (rows, n_samples) are the block's ranking keys (:func:`ranking_keys`, or
    :func:`float32_keys`, which need the block's ``augmented`` queries too); ``q_sq`` the
    rows' :func:`query_sq_norms` when the caller has them already. Rows ``wanted`` marks
    False are the caller's to drop: they are not resolved exactly, so their answer may be
    wrong (a rated movie searched among the ratings is at distance 0 from itself, a row
    resolving costs a whole pass over its keys).
    """
    if q_sq is None:
        q_sq = query_sq_norms(Q, ref)
    tol = np.broadcast_to(np.asarray(key_tolerance(q_sq, ref), dtype=np.float64), (len(Q),))
    refine = None
    if keys.dtype == np.float32:
        assert q_sq is not None and augmented is not None and ref.augmented is not None
        refine = Refinement(float32_slack(q_sq, ref), augmented, ref.augmented)
    vals, cols, unresolved = select_smallest(keys, k, tol, ordered, q_sq, refine)
    if wanted is not None:
        unresolved &= wanted
    dist = keys_to_distances(vals, q_sq, ref)
    if unresolved.any():
        rows = np.flatnonzero(unresolved)
        slack = None if refine is None else refine.slack
        dist[rows], cols[rows] = resolve_exactly(Q, keys, rows, tol, ref, k, slack)
    return dist, cols
