""" "More like this": the movies nearest to one movie in the current feature version's space.

The matrix is the version's (learned item factors after a retrain with enough ratings, the
catalogue attributes before), searched with the engine's own distances and metric, so "near"
here means what it means to the predictor. One row against the catalogue is a single
``pairwise_distances`` pass (a few milliseconds at 62,000 movies); the answer is cached per
(feature version, movie), so a popular film page costs a dictionary lookup.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recommender.engine.distances import pairwise_distances
from recommender.engine.predictor import CatalogueFeatures
from recommender.services.cache import LRUCache

# Film pages kept; each entry is a handful of ints, so this is well under a megabyte.
CACHE_SIZE = 4096


def nearest_rows(
    features: CatalogueFeatures, row: int, n: int, metric: str = "euclidean"
) -> NDArray[np.intp]:
    """The ``n`` rows nearest to ``row`` (itself excluded), nearest first; ties by row."""
    distances = pairwise_distances(features.matrix[row : row + 1], features.matrix, metric)[0]
    distances[row] = np.inf
    n = min(n, len(distances) - 1)
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    candidates = np.argpartition(distances, n - 1)[:n]
    # lexsort: distance first, row second, so equal distances come in a stable order.
    return candidates[np.lexsort((candidates, distances[candidates]))].astype(np.intp)


class SimilarMovies:
    """Nearest movies per feature version, cached (one per app)."""

    def __init__(self, metric: str = "euclidean", max_size: int = CACHE_SIZE) -> None:
        self.metric = metric
        self._cache: LRUCache[list[int]] = LRUCache(max_size=max_size)

    def of(self, features: CatalogueFeatures, movie_id: int, n: int) -> list[int]:
        """Ids of the ``n`` movies nearest to ``movie_id``; empty when it is not in the version
        (a movie added since its build)."""
        key = f"{features.version}:{movie_id}:{n}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = features.row_of_movie.get(movie_id)
        if row is None:
            return []
        ids = [int(features.movie_ids[r]) for r in nearest_rows(features, row, n, self.metric)]
        self._cache.set(key, ids)
        return ids
