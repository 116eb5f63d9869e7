"""Pairwise distances for the KNN engine, in float64, with numpy only.

Three metrics are supported (see :data:`METRICS`), with the same definitions as
scikit-learn's ``pairwise_distances``:

* ``"euclidean"``: :math:`d(a, b) = \\sqrt{\\sum_j (a_j - b_j)^2}`
* ``"manhattan"``: :math:`d(a, b) = \\sum_j |a_j - b_j|`
* ``"hamming"``: :math:`d(a, b) = \\frac{1}{m} \\sum_j [a_j \\ne b_j]`, the *fraction* of the
  ``m`` coordinates that differ.

scikit-learn's other names for two of them are accepted too (:data:`METRIC_ALIASES`:
``"l2"``, ``"cityblock"``, ``"l1"``, and ``"minkowski"`` with ``p`` = 2 or 1).

The search building blocks behind :func:`pairwise_distances` and the estimators (ranking keys,
their error bound, exact re-evaluation, block sizes) live in :mod:`recommender.engine._search`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine import _search

__all__ = ["METRICS", "METRIC_ALIASES", "pairwise_distances"]

METRICS: tuple[str, ...] = ("euclidean", "manhattan", "hamming")

# Largest accepted |value| in inputs: far beyond any real feature, small enough that squared
# norms and sums over any realistic number of features stay finite in float64.
MAX_ABS_VALUE = 1e100

# scikit-learn's other names for the metrics ("minkowski" depends on p, see check_metric).
METRIC_ALIASES: dict[str, str] = {"l2": "euclidean", "cityblock": "manhattan", "l1": "manhattan"}
MINKOWSKI_METRICS: dict[float, str] = {2: "euclidean", 1: "manhattan"}


def check_metric(metric: object, p: object = 2) -> str:
    """The canonical name of ``metric`` (one of :data:`METRICS`), else raise ``ValueError``.

    Parameters
    ----------
    metric : object
        A name of :data:`METRICS`, an alias of :data:`METRIC_ALIASES`, or ``"minkowski"``.
    p : float, default=2
        Minkowski power, used only with ``"minkowski"``: 2 is Euclidean, 1 Manhattan (the
        powers the engine supports).

    Returns
    -------
    str
        The metric name, one of :data:`METRICS`.
    """
    if isinstance(metric, str):
        if metric in METRICS:
            return metric
        if metric in METRIC_ALIASES:
            return METRIC_ALIASES[metric]
        if metric == "minkowski":
            numeric = isinstance(p, int | float | np.integer | np.floating) and not isinstance(
                p, bool
            )
            if numeric and p in MINKOWSKI_METRICS:
                return MINKOWSKI_METRICS[p]
            raise ValueError(f"Unsupported Minkowski power p={p!r}; expected 1 or 2")
    names = (*METRICS, *METRIC_ALIASES, "minkowski")
    raise ValueError(f"Unknown metric {metric!r}; expected one of {names}")


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


def pairwise_distances(
    A: ArrayLike, B: ArrayLike, metric: str = "euclidean", p: float = 2
) -> NDArray[np.float64]:
    """Distance between every row of ``A`` and every row of ``B``.

    Parameters
    ----------
    A : array_like of shape (n_a, n_features)
    B : array_like of shape (n_b, n_features)
    metric : {"euclidean", "manhattan", "hamming"} or an alias, default="euclidean"
        Euclidean :math:`\\sqrt{\\sum_j (a_j - b_j)^2}` is computed as
        :math:`\\sqrt{\\max(\\|a\\|^2 - 2 a \\cdot b + \\|b\\|^2, 0)}` with one matrix product
        per block of rows (entries too close to zero for that formula to be reliable are
        recomputed directly, so identical rows are at distance exactly 0); Manhattan is
        :math:`\\sum_j |a_j - b_j|`; Hamming is the fraction of differing coordinates,
        :math:`\\frac{1}{m}\\sum_j [a_j \\ne b_j]`.
    p : float, default=2
        Minkowski power when ``metric="minkowski"`` (2 or 1).

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
    metric = check_metric(metric, p)
    A_arr = as_float_matrix(A, "A")
    B_arr = as_float_matrix(B, "B")
    if A_arr.shape[1] != B_arr.shape[1]:
        raise ValueError(
            f"Expected A and B to have the same number of features, "
            f"got {A_arr.shape[1]} != {B_arr.shape[1]}"
        )
    ref = _search.prepare_reference(B_arr, metric)
    out = np.empty((A_arr.shape[0], B_arr.shape[0]))
    if out.size == 0:
        return out
    step = _search.block_rows(B_arr.shape[0])
    for start in range(0, A_arr.shape[0], step):
        Q = A_arr[start : start + step]
        keys = _search.ranking_keys(Q, ref)
        q_sq = _search.query_sq_norms(Q, ref)
        block = _search.keys_to_distances(keys, q_sq, ref)
        if metric == "euclidean":
            # Squared distances within the rounding bound of zero may be pure cancellation
            # noise (e.g. a row against itself): recompute those few entries directly.
            assert q_sq is not None
            tol = _search.key_tolerance(q_sq, ref)
            qi, xi = np.nonzero(block * block <= tol[:, None])
            if qi.size:
                block[qi, xi] = _search.exact_distances(Q, B_arr, qi, xi, metric)
        out[start : start + step] = block
    return out
