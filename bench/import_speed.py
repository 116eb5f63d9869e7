"""Import speed: MovieLens 100K through our importer against a bare sqlite3 executemany.

Both sides start from an empty, migrated SQLite file, read the same RecBole files
(``ml-100k.inter``, ``ml-100k.item``) and write users, movies and ratings in one transaction.
Ours also validates every line, matches movies to the catalogue, records the run and keeps
the external ids; the reference only inserts. Goal: ours within 2x of the reference.

Run: ``make bench-import`` (or ``.venv/bin/python bench/import_speed.py --repeats 3``).
MovieLens 100K is fetched from the recbole wheel into the git-ignored ``.cache/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from recommender import create_app  # noqa: E402
from recommender.datasets import fetch_ml100k  # noqa: E402
from recommender.extensions import db  # noqa: E402
from recommender.services.movielens import import_movielens  # noqa: E402
from recommender.services.ratings import RatingScale  # noqa: E402

SCALE = RatingScale(0.5, 5.0, 0.5)


def migrated_database(path: Path):
    """An app over a fresh, migrated SQLite file at ``path``."""
    app = create_app(
        environ={
            "RECOMMENDER_ENV": "production",
            "SECRET_KEY": "benchmark-only-secret",
            "DATABASE_URL": f"sqlite:///{path}",
        }
    )
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return app


def time_ours(folder: Path, workdir: Path, run: int) -> tuple[float, int]:
    app = migrated_database(workdir / f"ours-{run}.sqlite3")
    with app.app_context():
        started = time.perf_counter()
        report = import_movielens(db.session, folder, scale=SCALE)
        elapsed = time.perf_counter() - started
        db.engine.dispose()
    return elapsed, report.to_dict()["counts"]["ratings_inserted"]


def time_bare(folder: Path, workdir: Path, run: int) -> tuple[float, int]:
    path = workdir / f"bare-{run}.sqlite3"
    migrated_database(path)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    now = dt.datetime.now(dt.UTC).isoformat()
    started = time.perf_counter()
    with (folder / "ml-100k.item").open(encoding="utf-8") as items:
        reader = csv.reader(items, delimiter="\t")
        next(reader)
        movies = [(int(row[0]), row[1], now, now) for row in reader]
    with (folder / "ml-100k.inter").open(encoding="utf-8") as inter:
        reader = csv.reader(inter, delimiter="\t")
        next(reader)
        ratings = [
            (int(u), int(i), float(r), dt.datetime.fromtimestamp(float(t), dt.UTC).isoformat(" "))
            for u, i, r, t in reader
        ]
    users = sorted({user for user, *_ in ratings})
    with connection:
        connection.executemany(
            "INSERT INTO movies (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)", movies
        )
        connection.executemany(
            "INSERT INTO users (id, username, is_admin, ratings_version, source, created_at)"
            " VALUES (?, ?, 0, 1, 'ml-100k', ?)",
            [(user, f"ml-100k-{user}", now) for user in users],
        )
        connection.executemany(
            "INSERT INTO ratings (user_id, movie_id, rating, rated_at) VALUES (?, ?, ?, ?)",
            ratings,
        )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, len(ratings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = fetch_ml100k(ROOT / ".cache" / "datasets")
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeats):
            seconds, ours_rows = time_ours(folder, Path(tmp), run)
            ours.append(seconds)
            seconds, bare_rows = time_bare(folder, Path(tmp), run)
            bare.append(seconds)
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"MovieLens 100K into SQLite, median of {args.repeats}:")
    for name, times, rows in (
        ("recommender import movielens", ours, ours_rows),
        ("bare sqlite3 executemany", bare, bare_rows),
    ):
        print(f"  {name:<30}{statistics.median(times):.2f} s ({rows:,} ratings)")
    print(f"  ratio {ratio:.2f} (goal <= 2.0: {'PASS' if ratio <= 2.0 else 'FAIL'})")


if __name__ == "__main__":
    main()
