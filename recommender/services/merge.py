"""Merge two catalogue rows that are one film: DROP's ratings, dataset ids, genres and missing
attributes go to KEEP, then DROP is deleted, all in one transaction.

What moves where:

- A rating of DROP by a user who did not rate KEEP is re-pointed to KEEP as it is.
- A user who rated both keeps the *later* of the two ratings (by ``rated_at``; on a tie KEEP's
  stays): the later one is the user's current opinion of the film.
- Every dataset id of DROP (``movie_external_ids``) points to KEEP afterwards, so a re-import
  of that dataset finds KEEP and does not insert the film again.
- KEEP gains DROP's genres it lacks. Its title and every attribute it has stay; only its empty
  (NULL) attributes are filled from DROP's: KEEP is the row the admin chose to trust.
- A user's "Not interested" and "Watch later" entries of DROP move to KEEP; where the user has
  KEEP on that list already, the earlier entry stays (the list's order is when it was added),
  and those users' ``lists_version`` is bumped.
- KEEP's ``updated_at`` is set, so the catalogue's feature version changes (the feature store
  builds a new one at its next check) and the prediction caches, keyed by it, miss; every user
  whose ratings moved has their ``ratings_version`` bumped as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.models import (
    HiddenMovie,
    Movie,
    MovieExternalId,
    Rating,
    User,
    WatchlistEntry,
    movie_genres,
    utcnow,
)
from recommender.services.errors import Conflict, InvalidInput, NotFound

# The attributes filled on KEEP from DROP when KEEP has none (the title never is).
FILLED_ATTRIBUTES = (
    "year",
    "release_date",
    "runtime_min",
    "budget",
    "us_gross",
    "worldwide_gross",
    "us_dvd_sales",
    "mpaa",
    "director",
    "distributor",
    "creative_type",
    "source_material",
    "imdb_rating",
    "imdb_votes",
    "rt_rating",
)


@dataclass(frozen=True)
class MergeSummary:
    """What a merge did, for the CLI's lines and the API's body."""

    keep_id: int
    drop_id: int
    title: str
    ratings_moved: int  # DROP's ratings re-pointed to KEEP (the user had not rated KEEP)
    ratings_kept: int  # users who rated both and whose KEEP rating was the later one
    ratings_replaced: int  # users who rated both and whose DROP rating was later: it won
    external_ids_moved: int
    genres_added: list[str]
    attributes_filled: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        return [
            f"Merged movie {self.drop_id} into {self.keep_id} ({self.title!r}):",
            f"  ratings: {self.ratings_moved:,} moved, {self.ratings_kept:,} kept from "
            f"{self.keep_id} (later), {self.ratings_replaced:,} taken from {self.drop_id} (later)",
            f"  dataset ids re-pointed: {self.external_ids_moved:,}",
            f"  genres added: {', '.join(self.genres_added) or 'none'}",
            f"  attributes filled: {', '.join(self.attributes_filled) or 'none'}",
        ]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; every timestamp here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _check_ids(keep_id: object, drop_id: object) -> tuple[int, int]:
    for name, value in (("keep_id", keep_id), ("drop_id", drop_id)):
        # bool is an int in Python; True is no movie id.
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(
                f"{name} must be a whole number (a movie id), got {value!r}", {name: repr(value)}
            )
    assert isinstance(keep_id, int) and isinstance(drop_id, int)
    if keep_id == drop_id:
        raise InvalidInput(
            f"Cannot merge movie {keep_id} into itself: give two different movie ids",
            {"keep_id": keep_id, "drop_id": drop_id},
        )
    return keep_id, drop_id


def _locked_movies(session: Session, keep_id: int, drop_id: int) -> tuple[Movie, Movie]:
    """Both rows, locked (PostgreSQL) in id order, so two merges cannot deadlock."""
    found = {
        movie.id: movie
        for movie in session.scalars(
            sa.select(Movie)
            .where(Movie.id.in_((keep_id, drop_id)))
            .order_by(Movie.id)
            .with_for_update()
        )
    }
    missing = [movie_id for movie_id in (keep_id, drop_id) if movie_id not in found]
    if missing:
        names = " and ".join(str(movie_id) for movie_id in missing)
        raise NotFound(
            f"Movie {names} does not exist"
            if len(missing) == 1
            else f"Movies {names} do not exist",
            {"movie_ids": missing},
        )
    return found[keep_id], found[drop_id]


def _merge_ratings(session: Session, keep_id: int, drop_id: int) -> tuple[int, int, int, list[int]]:
    """Move DROP's ratings to KEEP, the later rating winning where a user rated both.

    Return (moved, kept, replaced, ids of the users whose ratings changed).
    """
    ratings = Rating.__table__
    keep, drop = ratings.alias("keep"), ratings.alias("drop")
    both = session.execute(
        sa.select(drop.c.user_id, drop.c.rating, drop.c.rated_at, keep.c.rated_at)
        .join(keep, sa.and_(keep.c.user_id == drop.c.user_id, keep.c.movie_id == keep_id))
        .where(drop.c.movie_id == drop_id)
    ).all()
    later_on_drop = [
        {"u": user_id, "r": rating, "t": drop_at}
        for user_id, rating, drop_at, keep_at in both
        if _utc(drop_at) > _utc(keep_at)
    ]
    c = ratings.c
    if later_on_drop:
        session.execute(
            sa.update(ratings)
            .where(c.user_id == sa.bindparam("u"), c.movie_id == keep_id)
            .values(rating=sa.bindparam("r"), rated_at=sa.bindparam("t")),
            later_on_drop,
        )
    users = list(session.scalars(sa.select(c.user_id).where(c.movie_id == drop_id)))
    # The pairs are settled on KEEP's row: DROP's copy goes, and the rest move over whole.
    for chunk in _chunks([row.user_id for row in both], 500):
        session.execute(sa.delete(ratings).where(c.movie_id == drop_id, c.user_id.in_(chunk)))
    moved = session.execute(
        sa.update(ratings).where(c.movie_id == drop_id).values(movie_id=keep_id)
    ).rowcount
    return moved, len(both) - len(later_on_drop), len(later_on_drop), users


def _merge_lists(session: Session, keep_id: int, drop_id: int) -> list[int]:
    """Move DROP's hidden and watch-list entries to KEEP, the earlier entry winning where a
    user has both; return the ids of the users whose lists changed."""
    users: set[int] = set()
    for model, stamp in ((HiddenMovie, "created_at"), (WatchlistEntry, "added_at")):
        table = model.__table__
        c = table.c
        drop_rows = dict(
            session.execute(sa.select(c.user_id, c[stamp]).where(c.movie_id == drop_id)).all()
        )
        if not drop_rows:
            continue
        users.update(drop_rows)
        keep_rows = dict(
            session.execute(
                sa.select(c.user_id, c[stamp]).where(
                    c.movie_id == keep_id, c.user_id.in_(list(drop_rows))
                )
            ).all()
        )
        earlier_on_drop = [
            {"u": user_id, "t": drop_rows[user_id]}
            for user_id, keep_at in keep_rows.items()
            if _utc(drop_rows[user_id]) < _utc(keep_at)
        ]
        if earlier_on_drop:
            session.execute(
                sa.update(table)
                .where(c.user_id == sa.bindparam("u"), c.movie_id == keep_id)
                .values({stamp: sa.bindparam("t")}),
                earlier_on_drop,
            )
        for chunk in _chunks(list(keep_rows), 500):
            session.execute(sa.delete(table).where(c.movie_id == drop_id, c.user_id.in_(chunk)))
        session.execute(sa.update(table).where(c.movie_id == drop_id).values(movie_id=keep_id))
    return sorted(users)


def _bump_lists_versions(session: Session, user_ids: list[int]) -> None:
    users = User.__table__
    for chunk in _chunks(user_ids, 500):
        session.execute(
            sa.update(users)
            .where(users.c.id.in_(chunk))
            .values(lists_version=users.c.lists_version + 1)
        )


def _add_genres(session: Session, keep_id: int, drop: Movie, keep: Movie) -> list[str]:
    have = {genre.id for genre in keep.genres}
    added = [genre for genre in drop.genres if genre.id not in have]
    if added:
        session.execute(
            sa.insert(movie_genres), [{"movie_id": keep_id, "genre_id": g.id} for g in added]
        )
    return [genre.name for genre in added]


def _fill_attributes(keep: Movie, drop: Movie) -> dict[str, Any]:
    return {
        name: getattr(drop, name)
        for name in FILLED_ATTRIBUTES
        if getattr(keep, name) is None and getattr(drop, name) is not None
    }


def _bump_ratings_versions(session: Session, user_ids: list[int]) -> None:
    for chunk in _chunks(sorted(user_ids), 500):
        session.execute(
            sa.update(User.__table__)
            .where(User.__table__.c.id.in_(chunk))
            .values(ratings_version=User.__table__.c.ratings_version + 1)
        )


def merge_movies(session: Session, keep_id: int, drop_id: int) -> MergeSummary:
    """Merge movie ``drop_id`` into ``keep_id`` (module docstring) and commit; return what it did.

    Raise :class:`InvalidInput` for a non-integer id or a movie merged into itself,
    :class:`NotFound` for an unknown id, :class:`Conflict` when KEEP's filled year would give
    it the title and year of a third movie. Any failure rolls everything back.
    """
    keep_id, drop_id = _check_ids(keep_id, drop_id)
    try:
        keep, drop = _locked_movies(session, keep_id, drop_id)
        moved, kept, replaced, users = _merge_ratings(session, keep_id, drop_id)
        _bump_lists_versions(session, _merge_lists(session, keep_id, drop_id))
        links = MovieExternalId.__table__
        external_ids = session.execute(
            sa.update(links).where(links.c.movie_id == drop_id).values(movie_id=keep_id)
        ).rowcount
        genres = _add_genres(session, keep_id, drop, keep)
        filled = _fill_attributes(keep, drop)
        # Core statements from here on: the ORM's copies of both rows are stale now.
        session.execute(sa.delete(movie_genres).where(movie_genres.c.movie_id == drop_id))
        session.execute(sa.delete(Movie.__table__).where(Movie.__table__.c.id == drop_id))
        session.execute(
            sa.update(Movie.__table__)
            .where(Movie.__table__.c.id == keep_id)
            .values(**filled, updated_at=utcnow())
        )
        _bump_ratings_versions(session, users)
        summary = MergeSummary(
            keep_id=keep_id,
            drop_id=drop_id,
            title=keep.title,
            ratings_moved=moved,
            ratings_kept=kept,
            ratings_replaced=replaced,
            external_ids_moved=external_ids,
            genres_added=sorted(genres),
            attributes_filled=sorted(filled),
        )
        session.commit()
    except sa.exc.IntegrityError as error:
        session.rollback()
        raise Conflict(
            f"Merging movie {drop_id} into {keep_id} would break a uniqueness rule (another "
            "movie with that title and the filled year, or a rating made meanwhile); "
            "nothing was changed",
            {"keep_id": keep_id, "drop_id": drop_id, "database": str(error.orig)[:200]},
        ) from None
    except BaseException:
        session.rollback()
        raise
    session.expire_all()
    return summary


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
