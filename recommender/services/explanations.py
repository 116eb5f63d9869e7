"""Why a prediction is what it is: the neighbours behind it for any k, a 2D map of the feature
space, and cheap predictions for a page of movies (DESIGN §3, §5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session, selectinload

from recommender.engine.predictor import explain_prediction
from recommender.models import Movie
from recommender.services.catalogue import movie_to_dict
from recommender.services.errors import Conflict, InvalidInput, NotFound
from recommender.services.recommendations import Recommender


def _project_2d(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Project rows onto their first two principal axes (centred SVD), shape (n, 2).

    Signs are fixed (largest loading positive) so the map does not flip between requests;
    missing components (fewer points or rank than 2) are zeros.
    """
    centred = points - points.mean(axis=0)
    coords = np.zeros((len(points), 2))
    if len(points) < 2 or not np.any(centred):
        return coords
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    projected = centred @ (axes * signs[:, None]).T
    coords[:, : projected.shape[1]] = projected
    return coords


def explain(
    recommender: Recommender, session: Session, user_id: int, movie_id: int, k: int
) -> dict[str, Any]:
    """The user's KNN prediction of ``movie_id`` with ``k`` neighbours, and the map behind it.

    The recommendation service's rule (``engine.predictor.explain_prediction``), with the
    weights and options the feature version asks for, at the chosen k.
    """
    features = recommender.feature_store.current(session)
    row = None if features is None else features.row_of_movie.get(movie_id)
    movie = session.get(Movie, movie_id, options=[selectinload(Movie.genres)])
    if features is None or row is None or movie is None:
        raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
    ratings = recommender.user_ratings(session, user_id, features)
    if row in set(ratings.rows.tolist()):
        raise Conflict(
            f"You rated movie {movie_id} already; predictions are for unrated movies",
            {"movie_id": movie_id},
        )
    if not 1 <= k <= len(ratings):
        raise InvalidInput(
            f"k must be from 1 to your number of ratings ({len(ratings)}), got {k}", {"k": k}
        )
    explained = explain_prediction(features, ratings, row, replace(recommender.settings, k=k))

    rated_ids = [int(features.movie_ids[r]) for r in ratings.rows]
    titles = dict(
        session.execute(sa.select(Movie.id, Movie.title).where(Movie.id.in_(rated_ids))).all()
    )
    neighbour_at = set(explained.neighbours.tolist())
    coords = _project_2d(features.matrix[np.append(ratings.rows, row)])
    return {
        "movie": movie_to_dict(movie),
        "predicted_rating": round(explained.predicted, 3),
        "k": k,
        "ratings_count": len(ratings),
        "neighbours": [
            {
                "movie_id": rated_ids[i],
                "title": titles[rated_ids[i]],
                "rating": float(ratings.values[i]),
                "distance": round(float(d), 6),
                "weight": round(float(share), 6),
            }
            for i, d, share in zip(
                explained.neighbours, explained.distances, explained.shares, strict=True
            )
        ],
        "map": {
            "points": [
                {
                    "movie_id": movie_id_,
                    "title": titles[movie_id_],
                    "x": float(coords[i, 0]),
                    "y": float(coords[i, 1]),
                    "rating": float(ratings.values[i]),
                    "is_neighbour": i in neighbour_at,
                }
                for i, movie_id_ in enumerate(rated_ids)
            ],
            "target": {"x": float(coords[-1, 0]), "y": float(coords[-1, 1])},
        },
    }


def predictions_for(
    recommender: Recommender, session: Session, user_id: int, movie_ids: Iterable[int]
) -> dict[int, float]:
    """Predicted ratings of the given unrated movies, once the user has more than k ratings.

    Reads the recommender's cached predictions entry (every unrated movie's prediction), so a
    page of cards costs a lookup, not a KNN pass; empty during cold start.
    """
    personal = recommender.personal_predictions(session, user_id)
    if personal is None:
        return {}
    features, entry = personal
    wanted = {m: features.row_of_movie.get(m) for m in movie_ids}
    rows = np.array([r for r in wanted.values() if r is not None], dtype=np.intp)
    at = np.searchsorted(entry.unrated_rows, rows)
    at_valid = at < len(entry.unrated_rows)
    found = np.zeros(len(rows), dtype=bool)
    found[at_valid] = entry.unrated_rows[at[at_valid]] == rows[at_valid]
    value_of_row = {
        int(r): round(float(entry.predicted[i]), 3)
        for r, i, ok in zip(rows, at, found, strict=True)
        if ok
    }
    return {m: value_of_row[r] for m, r in wanted.items() if r is not None and r in value_of_row}
