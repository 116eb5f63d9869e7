"""Pairwise distances for the KNN engine, in float64, with numpy only.

Three metrics are supported (see :data:`METRICS`), with the same definitions as
scikit-learn's ``pairwise_distances``:

* ``"euclidean"``: :math:`d(a, b) = \\sqrt{\\sum_j (a_j - b_j)^2}`
* ``"manhattan"``: :math:`d(a, b) = \\sum_j |a_j - b_j|`
* ``"hamming"``: :math:`d(a, b) = \\frac{1}{m} \\sum_j [a_j \\ne b_j]`, the *fraction* of the
  ``m`` coordinates that differ.

Besides the public :func:`pairwise_distances`, the module holds the private building blocks
that :mod:`recommender.engine.knn` uses to rank neighbours without computing full distances:

* a **ranking key** per (query, sample) pair, monotone in the distance for a fixed query, so
  that the nearest neighbours can be selected on keys and the distances computed for the
  ``k`` selected pairs only. For the Euclidean metric the key is
  :math:`\\|b\\|^2 - 2\\,a \\cdot b` (the squared distance minus the query's own squared norm),
  obtained from a single matrix product; for Manhattan it is the distance itself and for
  Hamming the *count* of differing coordinates.
* an error bound on the Euclidean keys (:func:`_key_tolerance`): the matrix product rounds
  differently from one entry to the next (it even depends on a row's position inside the
  block), so two keys closer than the bound cannot be ordered reliably and a query equal to a
  sample may come out at a tiny non-zero distance. Such pairs are re-evaluated with the direct
  formula (:func:`_exact_distances`), which gives identical rows a distance of exactly zero and
  duplicated samples identical distances.

Memory stays bounded whatever the sizes: all work is done in blocks of query rows sized by
:data:`_BLOCK_BYTES`, and Manhattan/Hamming broadcast one feature at a time into a block-sized
buffer instead of materialising a ``(rows, n_samples, n_features)`` array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["METRICS", "pairwise_distances"]

METRICS: tuple[str, ...] = ("euclidean", "manhattan", "hamming")

# Largest accepted |value| in inputs: far beyond any real feature, small enough that squared
# norms and sums over any realistic number of features stay finite in float64.
MAX_ABS_VALUE = 1e100

# Target size in bytes of one (rows, n_samples) float64 block of keys handed to the selection.
# Small enough for the block's per-row temporaries to stay in cache, big enough to amortise
# the per-block Python overhead (measured with bench/engine.py).
_BLOCK_BYTES = 4 * 1024 * 1024

# Hard cap on rows per block, whatever the budget (tests set it to 1 to force tiny blocks).
_MAX_BLOCK_ROWS = 2048

# Target size of the blocks of keys computed by one matrix product (a multiple of the
# selection block). Fewer, larger GEMM calls measured faster with OpenBLAS's threads.
_GEMM_BLOCK_BYTES = 8 * 1024 * 1024
_MAX_GEMM_BLOCK_ROWS = 8192

# Safety factor on the rounding-error bound of the Euclidean keys (see _key_tolerance).
_TOLERANCE_SAFETY = 2.0


def check_metric(metric: object) -> str:
    """Return ``metric`` if it is a supported metric name, else raise ``ValueError``.

    Parameters
    ----------
    metric : object
        Candidate metric name.

    Returns
    -------
    str
        The metric name, one of :data:`METRICS`.
    """
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {METRICS}")
    return metric


def as_float_matrix(X: ArrayLike, name: str = "X") -> NDArray[np.float64]:
    """Validate a 2-D, finite, numeric array and return it as C-contiguous float64.

    Parameters
    ----------
    X : array_like of shape (n_rows, n_features)
        Numbers (bool, int, uint or float). Zero rows are allowed here; callers that need at
        least one row check it themselves.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    ndarray of shape (n_rows, n_features), dtype float64, C-contiguous

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not 2-D, has no feature, contains NaN or infinity, or values
        larger in magnitude than :data:`MAX_ABS_VALUE`.
    """
    arr = np.asarray(X)
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must contain only numbers") from exc
    elif arr.dtype.kind not in "biuf":
        # Strings, complex numbers, dates...: refuse rather than silently cast (complex -> real
        # would drop the imaginary part).
        raise ValueError(f"{name} must contain only numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"Expected {name} to be 2-D (n_rows, n_features), got an array of shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"Expected at least one feature in {name}, got 0")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if arr.size and np.abs(arr).max() > MAX_ABS_VALUE:
        # Squared norms and sums of such values could overflow to inf (and inf - inf = NaN).
        raise ValueError(
            f"{name} contains values too large in magnitude (> {MAX_ABS_VALUE:g}) "
            "for float64 distances"
        )
    return arr


def block_rows(n_columns: int, budget: int | None = None) -> int:
    """Number of query rows per block so that a ``(rows, n_columns)`` float64 block fits.

    Parameters
    ----------
    n_columns : int
        Width of the block (number of reference samples).
    budget : int, optional
        Bytes per block; default :data:`_BLOCK_BYTES`. With the default the result is also
        capped by :data:`_MAX_BLOCK_ROWS`, otherwise by :data:`_MAX_GEMM_BLOCK_ROWS`.

    Returns
    -------
    int
        ``clip(budget // (8 * n_columns), 1, cap)``.
    """
    if budget is None:
        budget, cap = _BLOCK_BYTES, _MAX_BLOCK_ROWS
    else:
        cap = max(_MAX_BLOCK_ROWS, _MAX_GEMM_BLOCK_ROWS)
    return int(min(max(budget // (8 * max(n_columns, 1)), 1), cap))


@dataclass(frozen=True, slots=True)
class _Reference:
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
    """

    X: NDArray[np.float64]
    metric: str
    augmented: NDArray[np.float64] | None
    max_sq_norm: float
    columns: NDArray[np.float64] | None

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def _prepare_reference(X: NDArray[np.float64], metric: str) -> _Reference:
    """Precompute the reference-side arrays for ``metric`` (``X`` already validated)."""
    if metric == "euclidean":
        sq_norms = np.einsum("ij,ij->i", X, X)
        augmented = np.empty((X.shape[0], X.shape[1] + 1))
        augmented[:, :-1] = X
        augmented[:, -1] = sq_norms
        max_sq = float(sq_norms.max()) if sq_norms.size else 0.0
        return _Reference(X, metric, augmented, max_sq, None)
    return _Reference(X, metric, None, 0.0, np.ascontiguousarray(X.T))


def _query_sq_norms(Q: NDArray[np.float64], ref: _Reference) -> NDArray[np.float64] | None:
    """Squared norms ``||a||^2`` of the query rows, shape (rows,); None unless Euclidean."""
    if ref.metric != "euclidean":
        return None
    return np.einsum("ij,ij->i", Q, Q)


def _ranking_keys(
    Q: NDArray[np.float64], ref: _Reference, out: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Ranking keys of every (query, sample) pair of one block.

    Parameters
    ----------
    Q : ndarray of shape (rows, n_features)
        One block of queries.
    ref : _Reference
        Prepared reference samples.
    out : ndarray of shape (rows, n_samples), optional
        C-contiguous buffer to write into. Reusing one buffer across blocks avoids
        page-faulting a fresh multi-MiB allocation for every block.

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
        # Scaling by -2 is exact in binary floating point, so this is no less accurate than
        # computing a.b and combining afterwards, and it saves a pass over the block.
        Qa = np.empty((rows, n_features + 1))
        np.multiply(Q, -2.0, out=Qa[:, :-1])
        Qa[:, -1] = 1.0
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


def _key_tolerance(q_sq_norms: NDArray[np.float64] | None, ref: _Reference) -> Any:
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
    ref : _Reference
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
    return (2.0 * _TOLERANCE_SAFETY * gamma) * (q_sq_norms + 3.0 * ref.max_sq_norm)


def _keys_to_distances(
    keys: NDArray[np.float64], q_sq_norms: NDArray[np.float64] | None, ref: _Reference
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


def _exact_distances(
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
    ``(batch, n_features)`` temporaries stay within :data:`_BLOCK_BYTES`.

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
    batch = max(1, _BLOCK_BYTES // (8 * Q.shape[1]))
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


def pairwise_distances(
    A: ArrayLike, B: ArrayLike, metric: str = "euclidean"
) -> NDArray[np.float64]:
    """Distance between every row of ``A`` and every row of ``B``.

    Parameters
    ----------
    A : array_like of shape (n_a, n_features)
    B : array_like of shape (n_b, n_features)
    metric : {"euclidean", "manhattan", "hamming"}, default="euclidean"
        Euclidean :math:`\\sqrt{\\sum_j (a_j - b_j)^2}` is computed as
        :math:`\\sqrt{\\max(\\|a\\|^2 - 2 a \\cdot b + \\|b\\|^2, 0)}` with one matrix product
        per block of rows (entries too close to zero for that formula to be reliable are
        recomputed directly, so identical rows are at distance exactly 0); Manhattan is
        :math:`\\sum_j |a_j - b_j|`; Hamming is the fraction of differing coordinates,
        :math:`\\frac{1}{m}\\sum_j [a_j \\ne b_j]`.

    Returns
    -------
    ndarray of shape (n_a, n_b), dtype float64
        Non-negative distances.

    Raises
    ------
    ValueError
        Unknown metric; ``A`` or ``B`` not 2-D, not numeric, non-finite; or different
        numbers of features.
    """
    metric = check_metric(metric)
    A_arr = as_float_matrix(A, "A")
    B_arr = as_float_matrix(B, "B")
    if A_arr.shape[1] != B_arr.shape[1]:
        raise ValueError(
            f"Expected A and B to have the same number of features, "
            f"got {A_arr.shape[1]} != {B_arr.shape[1]}"
        )
    ref = _prepare_reference(B_arr, metric)
    out = np.empty((A_arr.shape[0], B_arr.shape[0]))
    if out.size == 0:
        return out
    step = block_rows(B_arr.shape[0])
    for start in range(0, A_arr.shape[0], step):
        Q = A_arr[start : start + step]
        keys = _ranking_keys(Q, ref)
        q_sq = _query_sq_norms(Q, ref)
        block = _keys_to_distances(keys, q_sq, ref)
        if metric == "euclidean":
            # Squared distances within the rounding bound of zero may be pure cancellation
            # noise (e.g. a row against itself): recompute those few entries directly.
            assert q_sq is not None
            tol = _key_tolerance(q_sq, ref)
            qi, xi = np.nonzero(block * block <= tol[:, None])
            if qi.size:
                block[qi, xi] = _exact_distances(Q, B_arr, qi, xi, metric)
        out[start : start + step] = block
    return out
