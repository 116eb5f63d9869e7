"""Biased matrix factorisation by alternating least squares (numpy only; DESIGN §5).

Model: :math:`\\hat r_{ui} = \\mu + b_u + b_i + p_u \\cdot q_i`, fitted to the known ratings by
minimising :math:`\\sum (r_{ui} - \\hat r_{ui})^2 + \\lambda (\\|p_u\\|^2 + \\|q_i\\|^2) +
\\lambda_b (b_u^2 + b_i^2)`. Each half-step solves one small ridge regression per user (item
factors fixed) or per item (user factors fixed): the ratings are sorted by user (item), each
user's Gram matrix is one BLAS product over its run of ratings, and all the systems are solved by
one batched ``np.linalg.solve``. Everything is seeded: the same ratings and settings give the same
factors.

The service uses the item factors (and item biases) as collaborative feature columns, so that
"near" for the per-user KNN means "rated alike by the same people". Beside them, item vectors
from *who rated what* (a truncated SVD of the binary user x movie matrix, as PureSVD) make
"near" also mean "watched by the same people", which is what ranks well (DESIGN §5b); their
norm grows with the evidence behind a movie and serves the ranking score as its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class FactorSettings:
    """Hyper-parameters of :func:`fit_factors`."""

    n_factors: int = 50
    n_iterations: int = 15
    reg: float = 0.1
    reg_bias: float = 0.1
    # Regularisation scales with each user's / item's number of ratings (ALS-WR) when True.
    weighted_reg: bool = True
    init_scale: float = 0.1
    seed: int = 0
    # Factors of the binary who-rated-what matrix beside the rating factors (0: none), scaled
    # by singular value ** implicit_power, and their share of the cosine between two movies.
    implicit_factors: int = 0
    implicit_power: float = 0.5
    implicit_share: float = 0.0

    def __post_init__(self) -> None:
        if self.implicit_factors < 0 or not 0.0 <= self.implicit_share < 1.0:
            raise ValueError(
                "Expected implicit_factors >= 0 and 0 <= implicit_share < 1, got "
                f"{self.implicit_factors} and {self.implicit_share}"
            )
        if self.n_factors < 1:
            raise ValueError(f"Expected n_factors >= 1, got {self.n_factors}")
        if self.n_iterations < 1:
            raise ValueError(f"Expected n_iterations >= 1, got {self.n_iterations}")
        if self.reg < 0 or self.reg_bias < 0:
            raise ValueError(
                f"Expected reg >= 0 and reg_bias >= 0, got {self.reg} and {self.reg_bias}"
            )


@dataclass(frozen=True)
class Factors:
    """A fitted factorisation. Rows are user / item indices ``0..n-1`` as given to the fit."""

    global_mean: float
    user_bias: NDArray[np.float64]  # (n_users,)
    item_bias: NDArray[np.float64]  # (n_items,)
    user_factors: NDArray[np.float64]  # (n_users, n_factors)
    item_factors: NDArray[np.float64]  # (n_items, n_factors)
    # Who-rated-what vectors (n_items, implicit_factors) and their share of the cosine.
    implicit_item_factors: NDArray[np.float64] | None = None
    implicit_share: float = 0.0

    def evidence(self) -> NDArray[np.float64] | None:
        """The ranking score's per-item confidence (:func:`item_evidence`), or None when the
        fit learned no who-rated-what vectors."""
        if self.implicit_item_factors is None:
            return None
        return item_evidence(self.implicit_item_factors)

    def predict(self, users: NDArray[np.intp], items: NDArray[np.intp]) -> NDArray[np.float64]:
        """:math:`\\mu + b_u + b_i + p_u \\cdot q_i` for each (user, item) pair."""
        predicted = np.empty(len(users))
        # In chunks: gathering every pair's factor rows at once is pairs x m floats (gigabytes
        # for tens of millions of pairs).
        for start in range(0, len(users), _PREDICT_CHUNK):
            u = users[start : start + _PREDICT_CHUNK]
            i = items[start : start + _PREDICT_CHUNK]
            dots = np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[i])
            predicted[start : start + len(u)] = (
                self.global_mean + self.user_bias[u] + self.item_bias[i] + dots
            )
        return predicted


# Ratings and rows per block of a half-step: the gathered design rows (ratings x m floats) and
# the Gram matrices (rows x m x m) of one block stay near 100 MB whatever the dataset size.
_BLOCK_RATINGS = 1 << 18
_BLOCK_ROWS = 4096
# Pairs per chunk of :meth:`Factors.predict` (its gathered factor rows are chunk x m floats).
_PREDICT_CHUNK = 1 << 18


def _solve_side(
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    targets: NDArray[np.float64],
    n_rows: int,
    design: NDArray[np.float64],
    reg: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Ridge solution per row: ``argmin_x sum_{(r, c)} (t - design[c] @ x)^2 + x @ diag(reg) @ x``.

    Parameters
    ----------
    rows, cols : ndarray of shape (n_ratings,)
        Rating coordinates, ``rows`` sorted ascending.
    targets : ndarray of shape (n_ratings,)
    design : ndarray of shape (n_cols, m)
        The fixed side's vectors.
    reg : ndarray of shape (n_rows, m)
        Diagonal regularisation per row.

    Returns
    -------
    ndarray of shape (n_rows, m); rows without ratings get zeros.
    """
    m = design.shape[1]
    solved = np.zeros((n_rows, m))
    bounds = np.searchsorted(rows, np.arange(n_rows + 1))
    idx = np.arange(m)
    first = 0
    while first < n_rows:
        # Whole rows only: up to _BLOCK_RATINGS ratings (at least one row) and _BLOCK_ROWS rows.
        last = int(np.searchsorted(bounds, bounds[first] + _BLOCK_RATINGS, side="right")) - 1
        last = min(max(last, first + 1), first + _BLOCK_ROWS, n_rows)
        lo, hi = bounds[first], bounds[last]
        # The design rows with the target as one more column: one product per row then gives
        # its Gram matrix and its right-hand side together (``[X t].T @ [X t]`` holds
        # ``X.T @ X`` and ``X.T @ t``), with no second pass over the ratings for the sums.
        x = np.empty((hi - lo, m + 1))
        x[:, :m] = design[cols[lo:hi]]
        x[:, m] = targets[lo:hi]
        starts = bounds[first:last] - lo
        ends = bounds[first + 1 : last + 1] - lo
        gram = np.zeros((last - first, m, m))
        rhs = np.zeros((last - first, m))
        # One BLAS product per row over its contiguous run of ratings (rows are sorted): far
        # faster than materialising an outer product per rating.
        for row in np.flatnonzero(ends > starts):
            xr = x[starts[row] : ends[row]]
            product = xr.T @ xr
            gram[row] = product[:m, :m]
            rhs[row] = product[:m, m]
        gram[:, idx, idx] += reg[first:last]
        solved[first:last] = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
        first = last
    return solved


def fit_factors(
    users: NDArray[np.intp],
    items: NDArray[np.intp],
    ratings: NDArray[np.float64],
    n_users: int,
    n_items: int,
    settings: FactorSettings | None = None,
) -> Factors:
    """Fit a biased matrix factorisation to the ratings by alternating least squares.

    Parameters
    ----------
    users, items : ndarray of shape (n_ratings,)
        Row indices in ``0..n_users-1`` and ``0..n_items-1``.
    ratings : ndarray of shape (n_ratings,)
    n_users, n_items : int
        Sizes of the index spaces (users or items without ratings get zero biases and
        factors).
    settings : FactorSettings, optional

    Returns
    -------
    Factors
    """
    settings = settings or FactorSettings()
    users = np.asarray(users, dtype=np.intp)
    items = np.asarray(items, dtype=np.intp)
    ratings = np.asarray(ratings, dtype=np.float64)
    if not (len(users) == len(items) == len(ratings)):
        raise ValueError(
            "Expected users, items and ratings of the same length, got "
            f"{len(users)}, {len(items)}, {len(ratings)}"
        )
    if len(ratings) == 0:
        raise ValueError("Expected at least one rating, got none")
    if not np.isfinite(ratings).all():
        raise ValueError("Ratings contain NaN or infinity")
    if users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items:
        raise ValueError("User or item index out of range")
    f = settings.n_factors
    rng = np.random.default_rng(settings.seed)
    mu = float(ratings.mean())
    p = rng.normal(0.0, settings.init_scale, (n_users, f))
    q = rng.normal(0.0, settings.init_scale, (n_items, f))
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)

    by_user = np.argsort(users, kind="stable")
    by_item = np.argsort(items, kind="stable")
    u_sorted, i_of_u, r_of_u = users[by_user], items[by_user], ratings[by_user]
    i_sorted, u_of_i, r_of_i = items[by_item], users[by_item], ratings[by_item]
    n_u = np.bincount(users, minlength=n_users).astype(np.float64)
    n_i = np.bincount(items, minlength=n_items).astype(np.float64)
    scale_u = np.maximum(n_u, 1.0) if settings.weighted_reg else np.ones(n_users)
    scale_i = np.maximum(n_i, 1.0) if settings.weighted_reg else np.ones(n_items)
    reg_vec = np.r_[np.full(f, settings.reg), settings.reg_bias]
    reg_u = scale_u[:, None] * reg_vec
    reg_i = scale_i[:, None] * reg_vec

    for _ in range(settings.n_iterations):
        # Users: design [q_i, 1], target r - mu - b_i; solves [p_u, b_u].
        design = np.c_[q, np.ones(n_items)]
        solved = _solve_side(u_sorted, i_of_u, r_of_u - mu - bi[i_of_u], n_users, design, reg_u)
        p, bu = solved[:, :f], solved[:, f]
        # Items: design [p_u, 1], target r - mu - b_u; solves [q_i, b_i].
        design = np.c_[p, np.ones(n_users)]
        solved = _solve_side(i_sorted, u_of_i, r_of_i - mu - bu[u_of_i], n_items, design, reg_i)
        q, bi = solved[:, :f], solved[:, f]
    implicit = None
    if settings.implicit_factors:
        implicit = implicit_item_vectors(
            users,
            items,
            n_users,
            n_items,
            settings.implicit_factors,
            settings.implicit_power,
            settings.seed,
        )
    return Factors(mu, bu, bi, p, q, implicit, settings.implicit_share)


def _sparse_product(
    rows: NDArray[np.intp], cols: NDArray[np.intp], n_rows: int, dense: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``X @ dense`` for the binary matrix ``X`` with ones at ``(rows, cols)``, rows sorted."""
    out = np.zeros((n_rows, dense.shape[1]))
    for start in range(0, len(rows), _BLOCK_RATINGS):
        block_rows = rows[start : start + _BLOCK_RATINGS]
        gathered = dense[cols[start : start + _BLOCK_RATINGS]]
        starts = np.flatnonzero(np.r_[True, block_rows[1:] != block_rows[:-1]])
        out[block_rows[starts]] += np.add.reduceat(gathered, starts, axis=0)
    return out


# Extra columns and power iterations of the randomised SVD (Halko, Martinsson, Tropp 2011).
_SVD_OVERSAMPLE = 10
_SVD_POWER_ITERATIONS = 4


def implicit_item_vectors(
    users: NDArray[np.intp],
    items: NDArray[np.intp],
    n_users: int,
    n_items: int,
    n_factors: int,
    power: float = 0.5,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Item vectors of the binary who-rated-what matrix: ``V_f * s_f ** power``.

    ``X = U S V^T`` is the truncated SVD of the users x items matrix with a one per rating,
    found by a seeded randomised range finder over sparse products (memory: a few
    ``(n_users + n_items) x (n_factors + 10)`` blocks). Returns shape ``(n_items, n_factors)``;
    a movie without ratings gets zeros.
    """
    n_factors = min(n_factors, n_users, n_items)
    width = min(n_factors + _SVD_OVERSAMPLE, n_users, n_items)
    by_user = np.argsort(users, kind="stable")
    by_item = np.argsort(items, kind="stable")
    u_sorted, i_of_u = users[by_user], items[by_user]
    i_sorted, u_of_i = items[by_item], users[by_item]

    def times(dense: NDArray[np.float64]) -> NDArray[np.float64]:  # X @ dense
        return _sparse_product(u_sorted, i_of_u, n_users, dense)

    def transposed_times(dense: NDArray[np.float64]) -> NDArray[np.float64]:  # X.T @ dense
        return _sparse_product(i_sorted, u_of_i, n_items, dense)

    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(times(rng.normal(size=(n_items, width))))
    for _ in range(_SVD_POWER_ITERATIONS):
        basis, _ = np.linalg.qr(transposed_times(basis))
        basis, _ = np.linalg.qr(times(basis))
    # X.T @ Q = V S (U_b)^T: the SVD of this small matrix gives V and S directly.
    right, singular, _ = np.linalg.svd(transposed_times(basis), full_matrices=False)
    return right[:, :n_factors] * singular[:n_factors] ** power


def item_feature_columns(
    factors: Factors, bias_weight: float = 1.0
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Item features for cosine-geometry KNN: factors plus the item bias, rows L2-normalised.

    Row ``i`` is ``[q_i, bias_weight * b_i] / ||[q_i, bias_weight * b_i]||``; Euclidean distance
    between such rows is ``sqrt(2 - 2 cos)``. With who-rated-what vectors ``v_i`` the row is
    ``[sqrt(1 - s) * that, sqrt(s) * v_i / ||v_i||]`` (``s`` the implicit share), still of norm 1,
    so the cosine of two rows is ``(1 - s) cos_ratings + s cos_watched``. A row of zeros (an
    item without ratings) stays zero. Returns ``(matrix, column names)``.
    """
    matrix = _unit_rows(np.c_[factors.item_factors, bias_weight * factors.item_bias])
    names = (*(f"factor_{j}" for j in range(factors.item_factors.shape[1])), "item_bias")
    implicit = factors.implicit_item_factors
    if implicit is None:
        return matrix, names
    share = factors.implicit_share
    matrix = np.c_[np.sqrt(1 - share) * matrix, np.sqrt(share) * _unit_rows(implicit)]
    return matrix, (*names, *(f"watched_{j}" for j in range(implicit.shape[1])))


def item_evidence(implicit_item_factors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each item's confidence for the ranking score: the norm of its who-rated-what vector,
    which grows with how many people rated the movie. Shape ``(n_items,)``."""
    return np.linalg.norm(implicit_item_factors, axis=1)


def _unit_rows(raw: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)


def place_unrated_items(
    factors: Factors, attributes: NDArray[np.float64], reg: float = 1.0
) -> Factors:
    """``factors`` with every item nobody rated placed from its attributes.

    An item without ratings has zero factors, so all such items would share one place (and one
    prediction). Here a ridge regression from attribute rows (plus an intercept) to the
    learned vectors ``[q_i, b_i, v_i]``, fitted on the items that have ratings, places each of
    them: ``W = (A^T A + reg I)^{-1} A^T Y`` (the intercept unpenalised).

    Parameters
    ----------
    attributes : ndarray of shape (n_items, n_attributes)
        The catalogue feature matrix, rows as the factors' items.
    """
    learned = [factors.item_factors, factors.item_bias[:, None]]
    if factors.implicit_item_factors is not None:
        learned.append(factors.implicit_item_factors)
    targets = np.hstack(learned)
    rated = np.linalg.norm(targets, axis=1) > 0
    if rated.all() or not rated.any():
        return factors
    design = np.c_[attributes, np.ones(len(attributes))]
    penalty = np.full(design.shape[1], reg)
    penalty[-1] = 0.0
    gram = design[rated].T @ design[rated] + np.diag(penalty)
    weights = np.linalg.lstsq(gram, design[rated].T @ targets[rated], rcond=None)[0]
    placed = targets.copy()
    placed[~rated] = design[~rated] @ weights
    f = factors.item_factors.shape[1]
    implicit = None if factors.implicit_item_factors is None else placed[:, f + 1 :]
    return Factors(
        factors.global_mean,
        factors.user_bias,
        placed[:, f],
        factors.user_factors,
        placed[:, :f],
        implicit,
        factors.implicit_share,
    )
