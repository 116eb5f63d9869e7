"""Rate, change, delete and list a user's ratings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.engine.scale import RatingScale
from recommender.models import Movie, Rating, User, utcnow
from recommender.services.catalogue import Page, movie_to_dict
from recommender.services.errors import InvalidInput, NotFound


def check_rating(scale: RatingScale, value: float) -> float:
    """Return ``value`` if it lies on the scale, else raise :class:`InvalidInput`."""
    if (problem := scale.problem(value)) is not None:
        raise InvalidInput(problem, {"rating": value})
    return value


def rating_to_dict(rating: Rating) -> dict[str, Any]:
    return {
        "movie": movie_to_dict(rating.movie),
        "rating": rating.rating,
        # SQLite hands timestamps back without their zone; every timestamp here is UTC.
        "rated_at": rating.rated_at.replace(tzinfo=rating.rated_at.tzinfo or dt.UTC).isoformat(),
    }


def _bump_ratings_version(session: Session, user_id: int) -> None:
    # One UPDATE ... SET x = x + 1: concurrent writers cannot lose an increment.
    session.execute(
        sa.update(User).where(User.id == user_id).values(ratings_version=User.ratings_version + 1)
    )


def rate_movie(
    session: Session, user_id: int, movie_id: int, value: float, scale: RatingScale
) -> tuple[bool, dict[str, Any]]:
    """Create or change the user's rating of a movie; return (created, the rating)."""
    check_rating(scale, value)
    # The version bump comes first: it takes the user's row lock (SQLite: the write lock), so
    # two requests rating the same movie at once cannot both see "no rating yet" and insert.
    _bump_ratings_version(session, user_id)
    if session.get(Movie, movie_id) is None:
        session.rollback()
        raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
    rating = session.get(Rating, (user_id, movie_id), populate_existing=True)
    created = rating is None
    if rating is None:
        rating = Rating(user_id=user_id, movie_id=movie_id, rating=value, rated_at=utcnow())
        session.add(rating)
    else:
        rating.rating = value
        rating.rated_at = utcnow()
    session.flush()
    # Read back before the commit: afterwards a concurrent DELETE may already have removed it.
    result = rating_to_dict(rating)
    session.commit()
    return created, result


def delete_rating(session: Session, user_id: int, movie_id: int) -> None:
    """Remove the user's rating of a movie; raise :class:`NotFound` when there is none."""
    # The user's row first, as in rate_movie: locking in the other order deadlocks on PostgreSQL.
    _bump_ratings_version(session, user_id)
    deleted = session.execute(
        sa.delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    ).rowcount
    if not deleted:
        session.rollback()
        raise NotFound(f"You have not rated movie {movie_id}", {"movie_id": movie_id})
    session.commit()


def get_rating(session: Session, user_id: int, movie_id: int) -> float | None:
    return session.scalar(
        sa.select(Rating.rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )


def list_ratings(session: Session, user_id: int, *, page: int = 1, per_page: int = 20) -> Page:
    """One page of the user's ratings, newest first."""
    query = sa.select(Rating).where(Rating.user_id == user_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    ratings = session.scalars(
        query.options(selectinload(Rating.movie).selectinload(Movie.genres))
        .order_by(Rating.rated_at.desc(), Rating.movie_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([rating_to_dict(r) for r in ratings], page, per_page, total)
