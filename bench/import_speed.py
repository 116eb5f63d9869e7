"""Import speed: MovieLens 100K through our importer against a bare DBAPI load of the same rows.

Both sides start from an empty, migrated database, read the same RecBole files
(``ml-100k.inter``, ``ml-100k.item``) and write, in one transaction, the tables a real import
fills: movies, genres, movie_genres, movie_external_ids, users and ratings (timestamps stored
as the same text/timestamptz). Ours also validates every line, matches movies to the
catalogue, merges duplicate movies, records the run and reports progress; the reference only
inserts, rows in file order, with the driver's executemany (and COPY for the ratings on
PostgreSQL). Goal (issue 6): ours within 2x of the reference, measured in the same run.

Run: ``make bench-import`` (or ``.venv/bin/python bench/import_speed.py --repeats 3``);
``--database-url postgresql+psycopg://...`` measures PostgreSQL instead: that database is
EMPTIED (every table dropped and migrated again) before each run.
MovieLens 100K is fetched from the recbole wheel into the git-ignored ``.cache/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from recommender.app import create_app  # noqa: E402
from recommender.datasets import fetch_ml100k  # noqa: E402
from recommender.engine.scale import RatingScale  # noqa: E402
from recommender.extensions import db  # noqa: E402
from recommender.importers.movielens.importer import import_movielens  # noqa: E402

SCALE = RatingScale(0.5, 5.0, 0.5)
GOAL = 2.0
# The text SQLAlchemy stores for a whole-second DateTime on SQLite, made by SQLite.
SQLITE_STAMP = "datetime(?, 'unixepoch') || '.000000'"


def migrated_database(url: str):
    """An app over ``url`` emptied and migrated from scratch."""
    app = create_app(
        environ={
            "RECOMMENDER_ENV": "production",
            # Production refuses a weak key and wants its host names (127.0.0.1: the bench server).
            "SECRET_KEY": secrets.token_hex(32),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": url,
        }
    )
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        db.engine.dispose()
    return app


def time_ours(url: str) -> tuple[float, int]:
    app = migrated_database(url)
    folder = fetch_ml100k(ROOT / ".cache" / "datasets")
    with app.app_context():
        started = time.perf_counter()
        report = import_movielens(db.session, folder, scale=SCALE, progress=lambda *_: None)
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed, report.counts["ratings_inserted"]


def read_rows(folder: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of every table, read with the csv module, ids as in the files."""
    now = dt.datetime.now(dt.UTC)
    movies, genres, links, movie_genres = [], {}, [], []
    with (folder / "ml-100k.item").open(encoding="utf-8") as items:
        reader = csv.reader(items, delimiter="\t")
        next(reader)
        first_of: dict[tuple[str, int | None], int] = {}
        movie_of: dict[str, int] = {}
        for item, title, year, classes in reader:
            key = (title, int(year) if year.isdigit() else None)
            # One row per (title, year), as the schema wants: a repeated movie is linked only.
            movie_of[item] = movie_id = first_of.setdefault(key, int(item))
            links.append(("ml-100k", item, movie_id))
            if movie_id != int(item):
                continue
            movies.append((movie_id, *key, now, now))
            for name in dict.fromkeys(classes.split()):
                movie_genres.append((movie_id, genres.setdefault(name, len(genres) + 1)))
    with (folder / "ml-100k.inter").open(encoding="utf-8") as inter:
        reader = csv.reader(inter, delimiter="\t")
        next(reader)
        # Keyed by (user, movie): two ids of one movie rated by one user are one rating.
        by_key = {(int(u), movie_of[i]): (float(r), int(t)) for u, i, r, t in reader}
    ratings = [(user, movie, *value) for (user, movie), value in by_key.items()]
    users = sorted({user for user, _ in by_key})
    return {
        "movies (id, title, year, created_at, updated_at)": movies,
        "genres (name, id)": list(genres.items()),
        "movie_genres (movie_id, genre_id)": movie_genres,
        "movie_external_ids (source, external_id, movie_id)": links,
        # username_key (migration 0006): the folded name, which for these names is the name.
        "users (id, username, username_key, is_admin, ratings_version, source, external_id,"
        " created_at)": [
            (user, f"ml-100k-{user}", f"ml-100k-{user}", False, 1, "ml-100k", str(user), now)
            for user in users
        ],
        "ratings": ratings,
    }


def time_bare(url: str) -> tuple[float, int]:
    """Load the same rows with the bare driver: executemany (and COPY on PostgreSQL)."""
    migrated_database(url)
    folder = fetch_ml100k(ROOT / ".cache" / "datasets")
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    postgresql = engine.dialect.name == "postgresql"
    if not postgresql:
        raw.execute("PRAGMA foreign_keys=ON")
    mark = "%s" if postgresql else "?"
    started = time.perf_counter()
    tables = read_rows(folder)
    cursor = raw.cursor()
    for into, rows in tables.items():
        if into == "ratings":
            continue
        if not postgresql:  # SQLite stores datetimes as SQLAlchemy's text.
            rows = [tuple(_sqlite_value(value) for value in row) for row in rows]
        cursor.executemany(f"INSERT INTO {into} VALUES ({', '.join([mark] * len(rows[0]))})", rows)
    ratings = tables["ratings"]
    if postgresql:
        copy_sql = "COPY ratings (user_id, movie_id, rating, rated_at) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            for user, movie, rating, stamp in ratings:
                copy.write_row((user, movie, rating, dt.datetime.fromtimestamp(stamp, dt.UTC)))
    else:
        cursor.executemany(
            f"INSERT INTO ratings (user_id, movie_id, rating, rated_at) "
            f"VALUES (?, ?, ?, {SQLITE_STAMP})",
            ratings,
        )
    raw.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    engine.dispose()
    return elapsed, len(ratings)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL to measure instead of SQLite files (the database is emptied)",
    )
    args = parser.parse_args()
    fetch_ml100k(ROOT / ".cache" / "datasets")
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeats):
            url = args.database_url or f"sqlite:///{Path(tmp) / f'ours-{run}.sqlite3'}"
            seconds, ours_rows = time_ours(url)
            ours.append(seconds)
            url = args.database_url or f"sqlite:///{Path(tmp) / f'bare-{run}.sqlite3'}"
            seconds, bare_rows = time_bare(url)
            bare.append(seconds)
    backend = "PostgreSQL" if args.database_url else "SQLite (file, WAL)"
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"MovieLens 100K into {backend}, {args.repeats} runs each, alternating, same machine")
    print(f"({os.cpu_count()} CPUs; other work on the machine slows both sides alike):")
    reference = "bare driver executemany" + (" + COPY ratings" if args.database_url else "")
    for name, times, rows in (
        ("recommender import movielens", ours, ours_rows),
        (reference, bare, bare_rows),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times)
        median = statistics.median(times)
        print(f"  {name:<38} median {median:.2f} s  (runs {runs}; {rows:,} ratings)")
    print(
        "  reference: reads the same files with csv, inserts movies, genres, movie_genres,\n"
        "  movie_external_ids, users and ratings in file order in one transaction, one row\n"
        "  per (title, year) and per (user, movie) as the schema requires; no other checks"
    )
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(f"  ratio ours/reference {ratio:.2f} (goal <= {GOAL}: {verdict})")


if __name__ == "__main__":
    main()
