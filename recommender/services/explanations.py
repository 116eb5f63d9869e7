"""Why a prediction is what it is, in words a person reads: the rated films behind it for any
k with each one's share, how the user rated them, and cheap predictions for a page of movies
(DESIGN §3, §5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.engine.predictor import explain_prediction, settings_for, user_offset
from recommender.engine.scale import RatingScale
from recommender.models import Movie
from recommender.services.catalogue import movie_to_dict
from recommender.services.errors import Conflict, InvalidInput, NotFound
from recommender.services.recommendations import Recommender

# The headline names at least this many of the rated films behind a prediction (fewer when k
# is smaller), adding more, up to BECAUSE_MOST, until they carry BECAUSE_WEIGHT of the say.
BECAUSE_LEAST, BECAUSE_MOST, BECAUSE_WEIGHT = 3, 5, 2 / 3


def summarise(neighbours: list[dict[str, Any]], scale: RatingScale) -> dict[str, Any]:
    """What a person reads first about a prediction's neighbours (Herlocker et al., CSCW 2000:
    a histogram of how the neighbours were rated convinced best).

    ``neighbours`` carry the service's ``weight`` (``w_i / (sum(w) + shrinkage)``: below 1 in
    sum with shrinkage, the rest staying with the film's baseline). Returns

    - ``shares``: each neighbour's share of the neighbours' say, in the order given, summing
      to 1 (all 0 when no neighbour has any weight, as with similarity weights and only
      dissimilar neighbours);
    - ``because``: the 3-5 neighbours with the largest shares (see BECAUSE_*), largest first,
      ties nearest first, none with a zero share, each with its ``share``;
    - ``rating_histogram``: how many neighbours the user rated at each value of the scale,
      lowest first, zeros included;
    - ``baseline_share``: the part of the correction left with the film's baseline.
    """
    weights = np.array([max(float(n["weight"]), 0.0) for n in neighbours])
    total = float(weights.sum())
    shares = weights / total if total > 0 else np.zeros(len(neighbours))
    # A stable sort on -share keeps the nearest first among equal shares (the list comes
    # nearest first).
    order = np.argsort(-shares, kind="stable")
    because: list[dict[str, Any]] = []
    carried = 0.0
    for i in order:
        if shares[i] <= 0 or len(because) == BECAUSE_MOST:
            break
        if len(because) >= BECAUSE_LEAST and carried >= BECAUSE_WEIGHT:
            break
        because.append({**neighbours[i], "share": round(float(shares[i]), 6)})
        carried += float(shares[i])
    steps = round((scale.maximum - scale.minimum) / scale.step)
    values = [round(scale.minimum + i * scale.step, 6) for i in range(steps + 1)]
    counts = dict.fromkeys(values, 0)
    for n in neighbours:
        nearest = min(values, key=lambda v: abs(v - float(n["rating"])))
        counts[nearest] += 1
    # Without neighbours (cold start) the baseline is all there is.
    left = 1.0 - sum(float(n["weight"]) for n in neighbours) if neighbours else 1.0
    return {
        "shares": [round(float(s), 6) for s in shares],
        "because": because,
        "rating_histogram": [{"rating": v, "count": c} for v, c in counts.items()],
        "baseline_share": round(min(max(left, 0.0), 1.0), 6),
    }


def with_summary(prediction: dict[str, Any], scale: RatingScale) -> dict[str, Any]:
    """A prediction (``Recommender.predict`` or :func:`explain`) with :func:`summarise`'s
    fields: ``share`` on each neighbour, ``because``, ``rating_histogram``, ``baseline_share``."""
    summary = summarise(prediction["neighbours"], scale)
    neighbours = [
        {**n, "share": share}
        for n, share in zip(prediction["neighbours"], summary.pop("shares"), strict=True)
    ]
    return {**prediction, "neighbours": neighbours, **summary}


def explain(
    recommender: Recommender, session: Session, user_id: int, movie_id: int, k: int
) -> dict[str, Any]:
    """The user's KNN prediction of ``movie_id`` with ``k`` neighbours (nearest first), with
    :func:`with_summary`'s shares, headline films and ratings histogram, and each neighbour's
    ``pull``: its residual, which raises the prediction when positive and lowers it when not.

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
    settings = replace(recommender.settings, k=k)
    explained = explain_prediction(features, ratings, row, settings)
    # What each neighbour adds to the film's baseline, before its share: how far above (+) or
    # below (-) how people rate it the user rated it (less the user's offset, when the
    # feature version uses one), as engine.predictor's rule has it.
    options = settings_for(features, settings)
    offset = user_offset(features, ratings, options) if options.user_offset else 0.0
    pulls = ratings.values - features.item_baseline[ratings.rows] - offset

    rated_ids = [int(features.movie_ids[r]) for r in ratings.rows]
    # Only the neighbours are shown: a user with 1,000 ratings reads ~k titles, not 1,000.
    wanted = [rated_ids[i] for i in explained.neighbours]
    titles = dict(
        session.execute(sa.select(Movie.id, Movie.title).where(Movie.id.in_(wanted))).all()
    )
    neighbours = [
        {
            "movie_id": rated_ids[i],
            "title": titles[rated_ids[i]],
            "rating": float(ratings.values[i]),
            "distance": round(float(d), 6),
            "weight": round(float(share), 6),
            "pull": round(float(pulls[i]), 6),
        }
        for i, d, share in zip(
            explained.neighbours, explained.distances, explained.shares, strict=True
        )
    ]
    explained_prediction = {
        "movie": movie_to_dict(movie),
        "predicted_rating": round(explained.predicted, 3),
        "k": k,
        "ratings_count": len(ratings),
        "neighbours": neighbours,
    }
    return with_summary(explained_prediction, recommender.settings.scale)


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
