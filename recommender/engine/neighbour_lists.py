"""Each movie's nearest movies, computed once per feature version, for users who rated many.

A computed recommendation searches, for every movie the user has not rated, its k nearest
among the movies they rated: (unrated x rated) distances. For a user who rated a large part of
the catalogue that is most of a catalogue-squared product (MovieLens 25M's heaviest user: 37,000
x 25,000 pairs, 6-7 s). Yet the answer is mostly known in advance: a movie's k nearest *rated*
movies are usually among its L nearest movies overall, and those do not depend on the user.

So a feature version can carry, per movie, its L nearest movies (itself included) with their
distances, in the engine's order (distance, then row). For a candidate movie the user's rated
movies among its list, in list order, are then exactly its nearest rated movies provided the
list holds at least k of them and the k-th lies strictly closer than the list's last entry
(every movie outside the list is at least that far). Rows where that does not hold are searched
in full, so the result is exact, not approximate (tests/engine/test_neighbour_lists.py checks it
against the full search).

Whether the lists pay depends on how many of a list's L movies a user rated, about ``L n / N``
for n ratings of N movies: :func:`worth_using` asks for at least k of them on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.engine.knn import KNNRegressor, QueryMatrix

# Entries per movie. 64 x 12 bytes = 768 bytes per movie (48 MB at 62,000 movies), for users
# who rated about a third of the catalogue or more.
DEFAULT_LENGTH = 64


@dataclass(frozen=True, eq=False)
class NeighbourLists:
    """Every row's ``length`` nearest rows, nearest first (ties: lower row first).

    Attributes
    ----------
    rows : ndarray of shape (n_rows, length), dtype int32
    dist : ndarray of shape (n_rows, length), dtype float64
    """

    rows: NDArray[np.int32]
    dist: NDArray[np.float64]
    metric: str = "euclidean"

    @property
    def length(self) -> int:
        return self.rows.shape[1]


def build_neighbour_lists(
    matrix: NDArray[np.float64],
    length: int = DEFAULT_LENGTH,
    metric: str = "euclidean",
    queries: QueryMatrix | None = None,
) -> NeighbourLists:
    """Each row's ``min(length, n_rows)`` nearest rows of ``matrix`` by the engine's search."""
    n_rows = matrix.shape[0]
    length = min(length, n_rows)
    model = KNNRegressor(n_neighbors=length, metric=metric).fit(matrix, np.zeros(n_rows))
    rows = np.empty((n_rows, length), np.int32)
    dist = np.empty((n_rows, length))

    def fill(block: slice, block_dist: NDArray[np.float64], index: NDArray[np.intp]) -> None:
        rows[block] = index
        dist[block] = block_dist

    model.map_neighbors(queries if queries is not None else matrix, fill)
    return NeighbourLists(rows, dist, metric)


def worth_using(
    lists: NeighbourLists | None, metric: str, n_rated: int, n_rows: int, k: int
) -> bool:
    """Whether a user with ``n_rated`` ratings expects at least ``k`` rated movies per list
    (and the lists were built for ``metric``)."""
    return (
        lists is not None
        and lists.metric == metric
        and k <= lists.length
        and n_rated * lists.length >= k * n_rows
    )


def nearest_rated(
    lists: NeighbourLists, query_rows: NDArray[np.intp], rated: NDArray[np.bool_], k: int
) -> tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.float64]]:
    """The ``k`` nearest rated rows of each query row, where its list settles them.

    Parameters
    ----------
    lists : NeighbourLists
    query_rows : ndarray of shape (m,)
        Catalogue rows to answer.
    rated : ndarray of shape (n_rows,), dtype bool
        The user's rated rows.
    k : int

    Returns
    -------
    settled : ndarray of shape (m,), dtype bool
        Rows answered from their list; the others need the full search.
    rows : ndarray of shape (settled.sum(), k), dtype intp
        Their k nearest rated rows, nearest first.
    dist : ndarray of shape (settled.sum(), k)
        The distances.
    """
    candidates = lists.rows[query_rows]
    hits = rated[candidates]
    count = np.cumsum(hits, axis=1, dtype=np.int32)
    enough = count[:, -1] >= k
    # Position of each row's k-th hit (0 where there are not k: those rows are not settled).
    kth = np.argmax(count >= k, axis=1)
    kth_dist = lists.dist[query_rows, kth]
    # Strictly inside the list: a movie outside it could tie with the k-th otherwise.
    settled = enough & (kth_dist < lists.dist[query_rows, -1])
    keep = hits[settled] & (count[settled] <= k)
    positions = np.flatnonzero(keep).reshape(-1, k) % lists.length
    settled_rows = query_rows[settled]
    rows = np.take_along_axis(candidates[settled], positions, axis=1).astype(np.intp)
    dist = lists.dist[settled_rows[:, None], positions]
    return settled, rows, dist
