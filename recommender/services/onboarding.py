"""Onboarding: a short, diverse set of well-known movies a new user rates first (DESIGN §6)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.engine.predictor import is_personal, personal_goal
from recommender.models import Genre, Movie, Rating, movie_genres
from recommender.services.catalogue import movie_to_dict


def starter_movies(session: Session, count: int) -> list[dict[str, Any]]:
    """The most-voted movie of each genre (most-voted genres first), topped up by the most-voted
    movies overall, ``count`` movies at most."""
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
            .where(Movie.id.not_in(chosen))
            .order_by(votes.desc(), Movie.id)
            .limit(count - len(chosen))
        ).all()
    movies = {
        m.id: m
        for m in session.scalars(
            sa.select(Movie).where(Movie.id.in_(chosen)).options(selectinload(Movie.genres))
        )
    }
    return [movie_to_dict(movies[movie_id]) for movie_id in chosen]


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
