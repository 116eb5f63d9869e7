"""Export, the other half of import: the database's movies and ratings as a dataset that
``recommender import movielens`` reads back, and one user's ratings as a CSV download.

Everything is streamed: rows come from the database in chunks (``yield_per``: a server-side
cursor on PostgreSQL) and go to the file as they come, so memory stays at one chunk whatever
the number of ratings.

The ``latest`` layout (MovieLens "latest"/25M: ``movies.csv`` + ``ratings.csv``) holds what a
rating dataset holds: each movie's title, year and genres, and each rating's user, movie, value
and time. ``userId`` is the database's user id and ``movieId`` the database's movie id.
Importing the folder creates one user per ``userId`` named ``<dataset>-<userId>`` (the dataset
being the folder's name when it starts with ``ml-``, else ``ml-latest``), with no password;
users without ratings are not in the file. The movies' other attributes (runtime, budget, IMDb
figures...) are a catalogue's, not a rating dataset's: they are not exported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.models import Genre, Movie, Rating, movie_genres
from recommender.services.errors import InvalidInput

Progress = Callable[[int, int], None]
# Rows fetched per round trip: memory is one chunk of rows, whatever the table's size.
CHUNK_ROWS = 10_000
# What movies.csv says for a movie without genres (the importer reads it as none).
NO_GENRES = "(no genres listed)"
LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; every timestamp here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _stream(session: Session, query: sa.Select[Any]) -> Iterator[sa.Row[Any]]:
    """Yield the rows of ``query`` one chunk at a time (server-side on PostgreSQL)."""
    result = session.execute(query.execution_options(yield_per=CHUNK_ROWS))
    for chunk in result.partitions():
        yield from chunk


@dataclass
class ExportReport:
    path: str
    layout: str
    movies: int = 0
    ratings: int = 0
    users: int = 0
    # Titles whose line breaks became spaces: the importer reads a dataset line by line.
    titles_flattened: int = 0
    # Ratings of movies added while the export ran (not in its movies file): left out.
    ratings_skipped: int = 0

    def summary(self) -> str:
        lines = [
            f"Exported {self.movies:,} movies and {self.ratings:,} ratings by {self.users:,} "
            f"users to {self.path} ({self.layout} layout)."
        ]
        if self.titles_flattened:
            lines.append(f"  {self.titles_flattened:,} titles had line breaks, written as spaces")
        if self.ratings_skipped:
            lines.append(
                f"  {self.ratings_skipped:,} ratings of movies added during the export left out"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# The latest layout
# --------------------------------------------------------------------------------------------


def _genres_by_movie(session: Session) -> Iterator[tuple[int, list[str]]]:
    """Yield (movie id, its genre names) in ascending movie id, for movies with genres."""
    query = (
        sa.select(movie_genres.c.movie_id, Genre.name)
        .join(Genre, Genre.id == movie_genres.c.genre_id)
        .order_by(movie_genres.c.movie_id, Genre.name)
    )
    for movie_id, rows in groupby(_stream(session, query), key=lambda row: row[0]):
        yield movie_id, [row[1] for row in rows]


def _write_movies(session: Session, out: TextIO, report: ExportReport) -> int:
    """Write movies.csv (movieId,title,genres; the year in the title, as MovieLens does);
    return the largest id written (0: none)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    genres = _genres_by_movie(session)
    next_genres = next(genres, None)
    last = 0
    for movie_id, title, year in _stream(
        session, sa.select(Movie.id, Movie.title, Movie.year).order_by(Movie.id)
    ):
        # Both streams ascend by movie id: advance the genres to this movie.
        while next_genres is not None and next_genres[0] < movie_id:
            next_genres = next(genres, None)
        names = next_genres[1] if next_genres is not None and next_genres[0] == movie_id else []
        flat = title.translate(LINE_BREAKS)
        report.titles_flattened += flat != title
        text = flat if year is None else f"{flat} ({year})"
        writer.writerow([movie_id, text, "|".join(names) or NO_GENRES])
        report.movies += 1
        last = movie_id
    return last


# One ratings.csv line per row, made by the database: a row reaches Python as one string, not
# four values and a datetime (at 25 million ratings, Python's share is the export's cost).
# The time is exact: whole seconds, then the fraction when there is one ("874965758",
# "1700000000.25"), the same text on both databases.
RATING_LINES = {
    "postgresql": (
        "SELECT user_id::text || ',' || movie_id::text || ',' || rating::text || ',' "
        "|| trim_scale(extract(epoch FROM rated_at))::text "
        "FROM ratings WHERE movie_id <= %s ORDER BY user_id, movie_id"
    ),
    # SQLAlchemy stores a DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' text in SQLite.
    "sqlite": (
        "SELECT user_id || ',' || movie_id || ',' || rating || ',' || strftime('%s', rated_at) "
        "|| CASE WHEN rtrim(substr(rated_at, 21), '0') = '' THEN '' "
        "ELSE '.' || rtrim(substr(rated_at, 21), '0') END "
        "FROM ratings WHERE movie_id <= ? ORDER BY user_id, movie_id"
    ),
}


def _write_ratings(
    session: Session,
    out: TextIO,
    max_movie_id: int,
    report: ExportReport,
    progress: Progress | None,
) -> None:
    """Write ratings.csv (userId,movieId,rating,timestamp), in user and movie order.

    Only ratings of movies up to ``max_movie_id`` (the last in movies.csv) are written: a
    movie added meanwhile is not in the file, and the importer would refuse its ratings.
    Read through the driver's own cursor, a named (server-side) one on PostgreSQL, as
    ``feature_store.rating_arrays`` does.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect not in RATING_LINES:
        raise InvalidInput(f"Export supports SQLite and PostgreSQL, not {dialect}")
    ratings = Rating.__table__.c
    kept = ratings.movie_id <= max_movie_id
    total, users = session.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(ratings.user_id))).where(kept)
    ).one()
    out.write("userId,movieId,rating,timestamp\n")
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor(name="export_ratings") if dialect == "postgresql" else driver.cursor()
    done = 0
    try:
        cursor.execute(RATING_LINES[dialect], (max_movie_id,))
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            out.write("\n".join([row[0] for row in chunk]))
            out.write("\n")
            done += len(chunk)
            if progress is not None:
                progress(done, max(total, done))
    finally:
        cursor.close()
    report.ratings, report.users = done, users
    report.ratings_skipped = (
        session.scalar(sa.select(sa.func.count()).where(ratings.movie_id > max_movie_id)) or 0
    )


def _export_latest(
    session: Session, folder: Path, report: ExportReport, progress: Progress | None
) -> dict[str, Path]:
    """Write the latest layout's files as ``.partial`` files; return final name -> partial."""
    partial = {name: folder / f".{name}.partial" for name in ("movies.csv", "ratings.csv")}
    with partial["movies.csv"].open("w", encoding="utf-8", newline="") as out:
        max_movie_id = _write_movies(session, out, report)
    with partial["ratings.csv"].open("w", encoding="utf-8", newline="") as out:
        _write_ratings(session, out, max_movie_id, report, progress)
    return partial


# The layouts an export writes, by the names the importer knows them by.
EXPORT_LAYOUTS: dict[
    str, Callable[[Session, Path, ExportReport, Progress | None], dict[str, Path]]
] = {"latest": _export_latest}
LAYOUT_FILES = {"latest": ("movies.csv", "ratings.csv")}


def export_dataset(
    session: Session,
    folder: str | Path,
    *,
    layout: str = "latest",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportReport:
    """Write the database's movies and ratings into ``folder`` (created if missing) in
    ``layout``, as a dataset ``import movielens`` reads back.

    The files appear only when complete (written aside, then renamed); an existing dataset in
    ``folder`` is refused unless ``overwrite``. Reads only: the session's transaction is ended.
    """
    if layout not in EXPORT_LAYOUTS:
        known = ", ".join(EXPORT_LAYOUTS)
        raise InvalidInput(
            f"Unknown export layout {layout!r}: expected one of {known}", {"layout": layout}
        )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(
            f"{folder} is a file: give a folder to write into", {"path": str(folder)}
        )
    existing = [name for name in LAYOUT_FILES[layout] if (folder / name).exists()]
    if existing and not overwrite:
        raise InvalidInput(
            f"{folder} already holds {', '.join(existing)}: choose another folder or overwrite",
            {"path": str(folder), "files": existing},
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInput(
            f"Cannot create {folder}: {error.strerror}", {"path": str(folder)}
        ) from None
    report = ExportReport(str(folder), layout)
    partial: dict[str, Path] = {}
    try:
        partial = EXPORT_LAYOUTS[layout](session, folder, report, progress)
        for name, path in partial.items():
            os.replace(path, folder / name)
    finally:
        session.rollback()  # a read-only transaction: end it, and its server-side cursors
        for path in partial.values():
            path.unlink(missing_ok=True)
        for path in folder.glob(".*.partial"):
            path.unlink(missing_ok=True)
    return report


# --------------------------------------------------------------------------------------------
# One user's ratings, for download
# --------------------------------------------------------------------------------------------

USER_RATINGS_COLUMNS = ("movie_id", "title", "year", "rating", "rated_at")


def user_ratings_csv(session: Session, user_id: int) -> Iterator[str]:
    """Yield the user's ratings as CSV text, newest first, a chunk of lines at a time.

    Columns: movie_id, title, year, rating, rated_at (ISO 8601, UTC). Titles are quoted as CSV
    needs (commas, quotes and line breaks survive any CSV reader).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(USER_RATINGS_COLUMNS)
    query = (
        sa.select(Rating.movie_id, Movie.title, Movie.year, Rating.rating, Rating.rated_at)
        .join(Movie, Movie.id == Rating.movie_id)
        .where(Rating.user_id == user_id)
        .order_by(Rating.rated_at.desc(), Rating.movie_id)
    )
    result = session.execute(query.execution_options(yield_per=CHUNK_ROWS // 10))
    for chunk in result.partitions():
        for movie_id, title, year, rating, rated_at in chunk:
            writer.writerow(
                [movie_id, title, "" if year is None else year, rating, _utc(rated_at).isoformat()]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of a user with no ratings
        yield buffer.getvalue()
