"""Onboarding: a short, diverse set of well-known movies a new user rates first (DESIGN §6)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.engine.predictor import is_personal, personal_goal
from recommender.models import Genre, Movie, Rating, movie_genres
from recommender.services.catalogue import movie_to_dict

# (starters picked from the ratings, films rated by many but not liked)
_Picks = tuple[list[int], list[int]]
# A starter film is one many people have seen: fewer ratings than this and it is no starter,
# however well rated (five 5-star ratings say little, and few newcomers know the film).
MIN_STARTER_RATINGS = 20
# The most-rated films considered per starter wanted: deep enough to find several genres.
POOL_PER_STARTER = 10
# A film's mean is damped toward the global mean by this many ratings' worth of it, so a film
# needs both many ratings and a good mean to count as well liked.
DAMPING = 10
# No genre fills more than this share of the set ("not ten dramas").
MAX_GENRE_SHARE = 1 / 3


class StarterCache:
    """The ratings' part of the starter set, per (feature version, count), for ``seconds``.

    It aggregates every rating: 0.15 s for ML-100K and 1.6 s for a million ratings on SQLite,
    too much for each visit of the welcome page. An import or retrain makes a new feature
    version and so a new set at once; ratings given in the browser show within ``seconds``.
    One per app (``app.extensions``), as feature versions are numbered per database.
    """

    def __init__(self, seconds: float = 600.0) -> None:
        self.seconds = seconds
        self._entries: dict[tuple[int | None, int], tuple[float, _Picks]] = {}
        self._lock = threading.Lock()

    def get(self, version: int | None, count: int, compute: Callable[[], _Picks]) -> _Picks:
        """Return the cached picks for (``version``, ``count``), or ``compute()`` them."""
        key, now = (version, count), time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.seconds:
                return entry[1]
        picks = compute()
        with self._lock:
            # Entries of older versions are never asked for again.
            self._entries = {k: v for k, v in self._entries.items() if k[0] == version}
            self._entries[key] = (now, picks)
        return picks


def starter_movies(
    session: Session,
    count: int,
    *,
    cache: StarterCache | None = None,
    version: int | None = None,
    hidden: Collection[int] = (),
) -> list[dict[str, Any]]:
    """A short, diverse set of well-known movies for a new user to rate, ``count`` at most.

    Once people have rated, the most-rated films that they also liked (a damped mean at or
    above the mean of all ratings), no genre taking more than a third of the set, each film
    rated by at least ``MIN_STARTER_RATINGS`` people; topped up, while there are too few such
    films, by the catalogue's best known (IMDb votes), as before anyone rated. With ``cache``,
    the ratings' picks are reused for the same feature ``version`` (see ``StarterCache``).
    """
    if cache is None:
        chosen, disliked = _rated_starters(session, count)
    else:
        chosen, disliked = cache.get(version, count, lambda: _rated_starters(session, count))
    # The cached picks are everyone's; the user's hidden films leave this user's copy only.
    chosen = [movie_id for movie_id in chosen if movie_id not in hidden]
    if len(chosen) < count:
        chosen += _catalogue_starters(
            session, count - len(chosen), chosen + disliked + list(hidden)
        )
    movies = {
        m.id: m
        for m in session.scalars(
            sa.select(Movie).where(Movie.id.in_(chosen)).options(selectinload(Movie.genres))
        )
    }
    return [movie_to_dict(movies[movie_id]) for movie_id in chosen]


def _rated_starters(session: Session, count: int) -> _Picks:
    """The ids of the most-rated, well-liked films of diverse genres (see ``starter_movies``),
    and of the films rated by many but not liked, which no top-up should bring back.

    One aggregate query over the ratings and one for the genres of the few hundred candidates.
    The mean of all ratings comes with the first, from window sums over every movie's group
    (windows run after GROUP BY, before LIMIT); the minimum count is applied in Python, as a
    HAVING would run before the windows and leave the less-rated films out of that mean.
    """
    n = sa.func.count()
    total = sa.func.sum(Rating.rating)
    global_mean = sa.func.sum(total).over() / sa.func.sum(n).over()
    candidates = session.execute(
        sa.select(Rating.movie_id, n, total, global_mean)
        .group_by(Rating.movie_id)
        .order_by(n.desc(), Rating.movie_id)
        .limit(count * POOL_PER_STARTER)
    ).all()
    liked, disliked = [], []
    for movie_id, ratings, rating_sum, mean in candidates:
        if ratings >= MIN_STARTER_RATINGS:
            well_liked = (rating_sum + DAMPING * mean) / (ratings + DAMPING) >= mean
            (liked if well_liked else disliked).append(movie_id)
    genres: dict[int, list[int]] = {movie_id: [] for movie_id in liked}
    for movie_id, genre_id in session.execute(
        sa.select(movie_genres.c.movie_id, movie_genres.c.genre_id).where(
            movie_genres.c.movie_id.in_(liked)
        )
    ):
        genres[movie_id].append(genre_id)
    return _diverse(liked, genres, count), disliked


def _diverse(ranked: list[int], genres: dict[int, list[int]], count: int) -> list[int]:
    """Take ``ranked`` films in order, skipping one that would give any of its genres more than
    ``MAX_GENRE_SHARE`` of ``count``; then, if still short, the skipped ones in order."""
    cap = max(1, math.ceil(count * MAX_GENRE_SHARE))
    uses: Counter[int] = Counter()
    chosen: list[int] = []
    for movie_id in ranked:
        if len(chosen) == count:
            return chosen
        if all(uses[genre] < cap for genre in genres[movie_id]):
            chosen.append(movie_id)
            uses.update(genres[movie_id])
    taken = set(chosen)
    return chosen + [m for m in ranked if m not in taken][: count - len(chosen)]


def _catalogue_starters(session: Session, count: int, exclude: list[int]) -> list[int]:
    """``count`` movies not in ``exclude``: the most-voted movie of each genre (most-voted
    genres first), then the most-voted overall; the catalogue's best known, for when too few
    films have enough ratings (all of the set before anyone has rated)."""
    votes = sa.func.coalesce(Movie.imdb_votes, 0)
    best_of_genre = (
        sa.select(
            Movie.id.label("movie_id"),
            votes.label("votes"),
            sa.func.row_number()
            .over(partition_by=movie_genres.c.genre_id, order_by=(votes.desc(), Movie.id))
            .label("place"),
        )
        .join(movie_genres, movie_genres.c.movie_id == Movie.id)
        .join(Genre, Genre.id == movie_genres.c.genre_id)
        .where(Movie.id.not_in(exclude))
        .subquery()
    )
    chosen: list[int] = []
    for movie_id in session.scalars(
        sa.select(best_of_genre.c.movie_id)
        .where(best_of_genre.c.place == 1)
        .order_by(best_of_genre.c.votes.desc(), best_of_genre.c.movie_id)
    ):
        if movie_id not in chosen and len(chosen) < count:
            chosen.append(movie_id)
    if len(chosen) < count:
        chosen += session.scalars(
            sa.select(Movie.id)
            .where(Movie.id.not_in(chosen + exclude))
            .order_by(votes.desc(), Movie.id)
            .limit(count - len(chosen))
        ).all()
    return chosen


def ratings_count(session: Session, user_id: int) -> int:
    """How many movies the user has rated."""
    query = sa.select(sa.func.count()).select_from(Rating).where(Rating.user_id == user_id)
    return session.scalar(query) or 0


def progress(ratings: int, k: int) -> dict[str, Any]:
    """Where the user stands on the way to k + 1 ratings (personal predictions)."""
    goal = personal_goal(k)
    return {
        "count": ratings,
        "goal": goal,
        "needed": max(goal - ratings, 0),
        "unlocked": is_personal(ratings, k),
        "percent": min(100, round(100 * ratings / goal)),
    }


def user_ratings(session: Session, user_id: int, movie_ids: list[int]) -> dict[int, float]:
    """The user's ratings of the given movies (unrated ones are absent)."""
    if not movie_ids:
        return {}
    return dict(
        session.execute(
            sa.select(Rating.movie_id, Rating.rating).where(
                Rating.user_id == user_id, Rating.movie_id.in_(movie_ids)
            )
        ).all()
    )
