"""A user's two lists of films: "Not interested" (hidden) and "Watch later" (the watch list).

Both leave their films out of the user's recommendations; hidden films also leave the
onboarding set. Each change bumps the user's ``lists_version``, which is part of the
recommendations response cache key: the next list answers without the film at once, while the
predictions entry (which depends on ratings only) stays warm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.models import HiddenMovie, Movie, User, WatchlistEntry, utcnow
from recommender.services.catalogue import Page, movie_to_dict
from recommender.services.errors import NotFound


@dataclass(frozen=True)
class FilmList:
    """One of the lists: its model, the column that stamps an entry, and words for messages."""

    name: str
    model: type[HiddenMovie] | type[WatchlistEntry]
    stamp: str
    # Newest first reads best for "Not interested"; the watch list is in the order added.
    newest_first: bool
    absent: str

    @property
    def stamp_column(self) -> Any:
        return getattr(self.model, self.stamp)


HIDDEN = FilmList("hidden", HiddenMovie, "created_at", True, "You have not hidden movie {id}")
WATCHLIST = FilmList(
    "watchlist", WatchlistEntry, "added_at", False, "Movie {id} is not on your watch list"
)
LISTS = {film_list.name: film_list for film_list in (HIDDEN, WATCHLIST)}


def _utc_iso(value: dt.datetime) -> str:
    # SQLite hands timestamps back without their zone; every timestamp here is UTC.
    return value.replace(tzinfo=value.tzinfo or dt.UTC).isoformat()


def _bump_lists_version(session: Session, user_id: int) -> None:
    # One UPDATE ... SET x = x + 1, first in the transaction as in services/ratings.py: it takes
    # the user's row lock, so two requests adding the same film cannot both insert it.
    session.execute(
        sa.update(User).where(User.id == user_id).values(lists_version=User.lists_version + 1)
    )


def entry_to_dict(film_list: FilmList, entry: HiddenMovie | WatchlistEntry) -> dict[str, Any]:
    return {
        "movie": movie_to_dict(entry.movie),
        film_list.stamp: _utc_iso(getattr(entry, film_list.stamp)),
    }


def add(
    session: Session, film_list: FilmList, user_id: int, movie_id: int
) -> tuple[bool, dict[str, Any]]:
    """Put the movie on the user's list; return (True when added, False when it was there
    already, the entry). Raise :class:`NotFound` for an unknown movie (nothing changes)."""
    _bump_lists_version(session, user_id)
    if session.get(Movie, movie_id) is None:
        session.rollback()
        raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
    entry = session.get(film_list.model, (user_id, movie_id))
    created = entry is None
    if entry is None:
        entry = film_list.model(user_id=user_id, movie_id=movie_id, **{film_list.stamp: utcnow()})
        session.add(entry)
        session.flush()
    result = entry_to_dict(film_list, entry)
    if created:
        session.commit()
    else:
        # Already there: nothing changed, so the version need not move either.
        session.rollback()
    return created, result


def remove(session: Session, film_list: FilmList, user_id: int, movie_id: int) -> None:
    """Take the movie off the user's list; raise :class:`NotFound` when it is not on it."""
    _bump_lists_version(session, user_id)
    model = film_list.model
    deleted = session.execute(
        sa.delete(model).where(model.user_id == user_id, model.movie_id == movie_id)
    ).rowcount
    if not deleted:
        session.rollback()
        raise NotFound(film_list.absent.format(id=movie_id), {"movie_id": movie_id})
    session.commit()


def list_page(
    session: Session, film_list: FilmList, user_id: int, *, page: int = 1, per_page: int = 20
) -> Page:
    """One page of the user's list: items ``{movie, <stamp>}``, in the list's order."""
    model = film_list.model
    query = sa.select(model).where(model.user_id == user_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    stamp = film_list.stamp_column
    order = (
        (stamp.desc(), model.movie_id.desc()) if film_list.newest_first else (stamp, model.movie_id)
    )
    entries = session.scalars(
        query.options(selectinload(model.movie).selectinload(Movie.genres))
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([entry_to_dict(film_list, e) for e in entries], page, per_page, total)


def excluded_ids(session: Session, user_id: int) -> set[int]:
    """The movies left out of the user's recommendations: hidden and on the watch list."""
    hidden = sa.select(HiddenMovie.movie_id).where(HiddenMovie.user_id == user_id)
    later = sa.select(WatchlistEntry.movie_id).where(WatchlistEntry.user_id == user_id)
    return set(session.scalars(sa.union(hidden, later)))


def hidden_ids(session: Session, user_id: int) -> set[int]:
    """The movies the user marked "Not interested"."""
    return member_ids(session, HIDDEN, user_id)


def member_ids(session: Session, film_list: FilmList, user_id: int) -> set[int]:
    """Every movie on the user's list."""
    model = film_list.model
    return set(session.scalars(sa.select(model.movie_id).where(model.user_id == user_id)))


def existing_movies(session: Session, movie_ids: list[int]) -> set[int]:
    """Which of ``movie_ids`` are in the catalogue."""
    return set(session.scalars(sa.select(Movie.id).where(Movie.id.in_(movie_ids))))
