"""Undo what a SQLite import written in steps committed before it failed or its process died.

A large staged import on SQLite (``movielens.writer``) commits its rows in short transactions,
so raters are not locked out for minutes. Before its first step it records on its run
(``ImportRun.pending``) what it is writing: the id ranges of its new genres, movies and users
(each the next ids after the table's largest, taken under the write lock), and the links and
genres it gives to rows that were there before. Its last transaction, the one that marks the
run succeeded, clears the record. A run that fails, or is found interrupted, with a record left
is undone here, in short transactions too (every step can be repeated, so an undo cut short is
finished by the next): its users' ratings, its users, its movies that nobody else rated
meanwhile (a film a rater rated during the import stays in the catalogue), its links, genres.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.models import Genre, ImportRun, ImportStatus, Movie, Rating, User, movie_genres

log = logging.getLogger(__name__)

# Rows one undo transaction deletes at most: a short hold of the write lock, as in the import.
UNDO_ROWS = 20_000
UNDO_IDS = 2_000  # users, movies or genres per transaction (each takes its links with it)
UNDO_KEYS = 450  # listed keys per statement: under SQLite's oldest limit of 999 parameters


def record_pending(session: Session, run_id: int, record: dict[str, Any] | None) -> None:
    """Set (None: clear) what run ``run_id`` has written and not yet finished, in the session's
    transaction."""
    session.execute(sa.update(ImportRun).where(ImportRun.id == run_id).values(pending=record))


def undo_pending(session: Session, run_id: int) -> bool:
    """Undo what run ``run_id`` recorded as written; return whether there was anything.

    Commits ``session`` after every step; the record is cleared last.
    """
    session.commit()
    record = session.scalar(sa.select(ImportRun.pending).where(ImportRun.id == run_id))
    if not record:
        return False
    log.warning("undoing the rows import run %s wrote before it stopped", run_id)
    ids = record.get("ids", {})
    connection = session.connection
    if "user" in ids:
        low, high = ids["user"]
        while True:  # Their ratings first, a bounded number at a time.
            deleted = connection().exec_driver_sql(
                "DELETE FROM ratings WHERE rowid IN (SELECT rowid FROM ratings "
                "WHERE user_id BETWEEN ? AND ? LIMIT ?)",
                (low, high, UNDO_ROWS),
            )
            session.commit()
            if deleted.rowcount < UNDO_ROWS:
                break
        _delete_ranges(session, User.__table__.c.id, low, high)
    if "movie" in ids:
        rated = sa.exists().where(Rating.__table__.c.movie_id == Movie.__table__.c.id)
        _delete_ranges(session, Movie.__table__.c.id, *ids["movie"], ~rated)
    links = sa.table("movie_external_ids", sa.column("source"), sa.column("external_id"))
    for start in range(0, len(record.get("links", [])), UNDO_KEYS):
        chunk = record["links"][start : start + UNDO_KEYS]
        session.execute(
            sa.delete(links).where(
                links.c.source == record["dataset"], links.c.external_id.in_(chunk)
            )
        )
        session.commit()
    for start in range(0, len(record.get("genres", [])), UNDO_KEYS):
        pairs = [tuple(pair) for pair in record["genres"][start : start + UNDO_KEYS]]
        session.execute(
            sa.delete(movie_genres).where(
                sa.tuple_(movie_genres.c.movie_id, movie_genres.c.genre_id).in_(pairs)
            )
        )
        session.commit()
    if "genre" in ids:
        used = sa.exists().where(movie_genres.c.genre_id == Genre.__table__.c.id)
        _delete_ranges(session, Genre.__table__.c.id, *ids["genre"], ~used)
    record_pending(session, run_id, None)
    session.commit()
    return True


def _delete_ranges(
    session: Session, id_column: sa.Column[int], low: int, high: int, *where: Any
) -> None:
    """Delete the rows of ids ``low``..``high`` (and ``where``), ``UNDO_IDS`` per commit."""
    for start in range(low, high + 1, UNDO_IDS):
        end = min(start + UNDO_IDS - 1, high)
        session.execute(sa.delete(id_column.table).where(id_column.between(start, end), *where))
        session.commit()


def undo_stopped_runs(session: Session) -> list[int]:
    """Undo every run that is no longer running but left a record; return their ids."""
    stopped = sa.select(ImportRun.id).where(
        ImportRun.status != ImportStatus.RUNNING, ImportRun.pending.is_not(None)
    )
    undone = [run_id for run_id in session.scalars(stopped).all() if undo_pending(session, run_id)]
    session.commit()
    return undone
