"""Top-N ranking metrics: how good the first N movies of each user's list are (numpy only).

The protocol these serve (``engine/evaluate.py``, ``bench/accuracy.py``): for every test user,
rank *all* movies they did not rate in training; a held-out rating of at least the relevance
threshold is a hit. Lists are matrices of item indices, one row per user, best first, padded
with ``-1`` where a user has fewer than N candidates (a pad is never a hit).

Definitions, per user with ``R`` relevant held-out movies and hits ``h_1..h_N`` (1 when the
movie at rank i is relevant, else 0):

- **precision@N** = ``sum(h) / N`` (a list shorter than N still divides by N);
- **recall@N** = ``sum(h) / R``;
- **nDCG@N** = ``DCG / IDCG`` with binary gain and log2 discount:
  ``DCG = sum_i h_i / log2(i + 1)``, and the ideal ``IDCG = sum_{i=1..min(N, R)} 1 / log2(i + 1)``;
- **AP@N** = ``sum_i h_i * precision@i / min(N, R)``; **MAP@N** is its mean over users.

Users with no relevant held-out movie (``R = 0``) have no defined recall, nDCG or AP: they are
skipped, by every metric alike, and the means are over the remaining users.

Over the whole set of lists (of the users scored):

- **catalogue coverage@N** = distinct movies recommended / movies in the catalogue;
- **mean popularity** = mean, over every recommended slot, of the movie's popularity (whatever
  the caller passes; the evaluation passes the share of training users who rated it).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

PADDING = -1  # a slot with no movie in it (the user had fewer than N candidates)


def top_n(
    scores: NDArray[np.float64], n: int, tiebreak: NDArray[np.float64] | None = None
) -> NDArray[np.intp]:
    """The ``n`` best columns of each row of ``scores``, best first, as a ``(rows, n)`` matrix.

    Higher scores come first; equal scores go to the higher ``tiebreak`` (one value per column),
    then to the lower column. ``-inf`` marks a column that must not be listed (a movie rated in
    training): such slots come back as :data:`PADDING`.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if n < 1:
        raise ValueError(f"Expected n >= 1, got {n}")
    columns = scores.shape[1]
    n = min(n, columns)
    # lexsort orders by its last key first, ascending, and keeps the column order of equal
    # keys: negated scores, then negated tiebreaks, give highest first and ties to the lower
    # column.
    keys = [-scores]
    if tiebreak is not None:
        keys.insert(0, np.broadcast_to(-np.asarray(tiebreak, dtype=np.float64), scores.shape))
    order = np.lexsort(keys, axis=1)[:, :n]
    chosen = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isneginf(chosen), PADDING, order).astype(np.intp)


def hit_matrix(
    recommended: NDArray[np.intp],
    list_users: NDArray[np.intp],
    relevant_users: NDArray[np.intp],
    relevant_items: NDArray[np.intp],
) -> NDArray[np.bool_]:
    """Whether each recommended slot is a relevant held-out pair.

    ``recommended[j]`` is the list of user ``list_users[j]``; the relevant pairs are
    ``(relevant_users[p], relevant_items[p])``.
    """
    width = max(int(np.max(relevant_items, initial=0)), int(np.max(recommended, initial=0))) + 1
    relevant_keys = np.asarray(relevant_users, np.int64) * width + relevant_items
    listed_keys = np.asarray(list_users, np.int64)[:, None] * width + recommended
    return np.isin(listed_keys, relevant_keys) & (recommended != PADDING)


def _discounts(n: int) -> NDArray[np.float64]:
    """``1 / log2(i + 1)`` for ranks i = 1..n."""
    return 1.0 / np.log2(np.arange(2, n + 2))


def _scored(hits: NDArray[np.bool_], n_relevant: NDArray[np.intp]):
    """The users with a relevant held-out movie: their hits (as floats) and relevant counts."""
    keep = np.asarray(n_relevant) > 0
    return np.asarray(hits, dtype=np.float64)[keep], np.asarray(n_relevant)[keep]


def precision_at_n(hits: NDArray[np.bool_], n_relevant: NDArray[np.intp]) -> NDArray[np.float64]:
    """precision@N per scored user (see the module's definitions)."""
    h, _ = _scored(hits, n_relevant)
    return h.sum(axis=1) / hits.shape[1]


def recall_at_n(hits: NDArray[np.bool_], n_relevant: NDArray[np.intp]) -> NDArray[np.float64]:
    """recall@N per scored user."""
    h, r = _scored(hits, n_relevant)
    return h.sum(axis=1) / r


def ndcg_at_n(hits: NDArray[np.bool_], n_relevant: NDArray[np.intp]) -> NDArray[np.float64]:
    """nDCG@N per scored user: binary gain, log2 discount, ideal DCG over min(N, R) hits."""
    h, r = _scored(hits, n_relevant)
    discounts = _discounts(hits.shape[1])
    ideal = np.cumsum(discounts)[np.minimum(r, hits.shape[1]) - 1]
    return (h @ discounts) / ideal


def average_precision_at_n(
    hits: NDArray[np.bool_], n_relevant: NDArray[np.intp]
) -> NDArray[np.float64]:
    """AP@N per scored user: the precision at each hit's rank, summed, over min(N, R)."""
    h, r = _scored(hits, n_relevant)
    precision_at_rank = np.cumsum(h, axis=1) / np.arange(1, hits.shape[1] + 1)
    return (precision_at_rank * h).sum(axis=1) / np.minimum(r, hits.shape[1])


def catalogue_coverage(recommended: NDArray[np.intp], n_items: int) -> float:
    """Distinct movies in the lists over the movies in the catalogue."""
    listed = np.unique(recommended)
    return float(np.count_nonzero(listed != PADDING) / n_items)


def mean_popularity(recommended: NDArray[np.intp], popularity: NDArray[np.float64]) -> float:
    """Mean popularity of the recommended movies, over every filled slot (NaN if none)."""
    filled = recommended[recommended != PADDING]
    return float(np.mean(popularity[filled])) if filled.size else float("nan")


def ranking_report(
    recommended: NDArray[np.intp],
    hits: NDArray[np.bool_],
    n_relevant: NDArray[np.intp],
    popularity: NDArray[np.float64],
) -> dict[str, float]:
    """Every metric above for one set of lists, the per-user ones as means over scored users.

    Coverage and popularity are over the lists of the scored users (``n_relevant > 0``), so
    every figure describes the same lists.
    """
    scored_lists = recommended[np.asarray(n_relevant) > 0]
    return {
        "precision": float(np.mean(precision_at_n(hits, n_relevant))),
        "recall": float(np.mean(recall_at_n(hits, n_relevant))),
        "ndcg": float(np.mean(ndcg_at_n(hits, n_relevant))),
        "map": float(np.mean(average_precision_at_n(hits, n_relevant))),
        "catalogue_coverage": catalogue_coverage(scored_lists, len(popularity)),
        "mean_popularity": mean_popularity(scored_lists, popularity),
    }
