"""Catalogue cost: what each movie costs a worker (memory) and a recommendation (time).

For each ``--movies`` size: a fresh SQLite database with that many movies (years, runtimes,
IMDb ratings and votes, one to three genres each), ``--raters`` local users with
``--ratings-per-user`` ratings each and item factors learned by ``retrain``, built in one
process; then, in a fresh process (so its memory is the worker's own), the feature version
loaded as a worker loads it (resident memory before and after), and recommendations (top 20)
computed with both caches emptied before each, for a rater (personal KNN) and for a new user
(cold start). Prints a table and the cost per 1,000 movies between the sizes.

This is what ``MAX_CATALOGUE_MOVIES`` (default 200,000) bounds: docs/scaling.md quotes it.

Run: ``.venv/bin/python bench/catalogue_cost.py --movies 62000 200000``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from recommender.app import create_app  # noqa: E402
from recommender.extensions import db  # noqa: E402
from recommender.models import Genre, Movie, Rating, User, movie_genres  # noqa: E402
from recommender.services.cache import LRUCache  # noqa: E402
from recommender.services.recommendations import ListOptions  # noqa: E402

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Documentary"]
LIMIT = 20


def environ(url: str) -> dict[str, str]:
    return {"RECOMMENDER_ENV": "testing", "DATABASE_URL": url, "RECOMMENDER_K": "10"}


def build(url: str, movies: int, raters: int, per_user: int, seed: int) -> None:
    """Fill a fresh database and learn the item factors (``recommender retrain``)."""
    rng = random.Random(seed)
    app = create_app(environ=environ(url))
    with app.app_context():
        upgrade()
        connection = db.session.connection()
        connection.execute(sa.insert(Genre), [{"name": name} for name in GENRES])
        connection.execute(
            sa.insert(Movie),
            [
                {
                    "title": f"Film {n}",
                    "year": rng.randint(1920, 2020),
                    "runtime_min": rng.randint(70, 180),
                    "imdb_rating": round(rng.uniform(2, 9), 1),
                    "imdb_votes": rng.randint(10, 500_000),
                }
                for n in range(movies)
            ],
        )
        ids = list(db.session.scalars(sa.select(Movie.id)))
        genre_ids = list(db.session.scalars(sa.select(Genre.id)))
        links = {(m, g) for m in ids for g in rng.sample(genre_ids, rng.randint(1, 3))}
        connection.execute(
            sa.insert(movie_genres), [{"movie_id": m, "genre_id": g} for m, g in links]
        )
        connection.execute(
            sa.insert(User),
            [{"username": f"rater{n}", "password_hash": None} for n in range(raters + 1)],
        )
        users = list(db.session.scalars(sa.select(User.id).order_by(User.id)))[:raters]
        popular = ids[:5000]  # Raters meet: the factors need co-rated movies.
        rows = [
            {"user_id": u, "movie_id": m, "rating": rng.randint(1, 10) / 2}
            for u in users
            for m in rng.sample(popular, per_user)
        ]
        connection.execute(sa.insert(Rating), rows)
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["retrain"])
        assert result.exit_code == 0, result.output
        print(result.output.strip(), file=sys.stderr)
        db.session.remove()
        db.engine.dispose()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(url: str, requests: int) -> dict[str, float]:
    """In this (fresh) process: the worker's memory for the features, and request times."""
    app = create_app(environ=environ(url))
    with app.app_context():
        service = app.extensions["recommender"]
        db.session.execute(sa.select(1))
        before = rss_mb()
        started = time.perf_counter()
        features = service.feature_store.current(db.session)
        load_seconds = time.perf_counter() - started
        after = rss_mb()
        users = list(db.session.scalars(sa.select(User.id).order_by(User.id)))
        timings: dict[str, float] = {}
        for label, user_id in (("rater", users[0]), ("cold", users[-1])):
            seconds = []
            for _ in range(requests):
                service.responses = LRUCache(max_size=2048)
                service.cache = LRUCache(256 * 2**20, size_of=lambda e: e.nbytes)
                begun = time.perf_counter()
                service.recommend_json(db.session, user_id, LIMIT, None, ListOptions())
                seconds.append(time.perf_counter() - begun)
                db.session.rollback()
            timings[label] = float(np.median(seconds))
        peak = rss_mb()
        return {
            "movies": int(features.matrix.shape[0]),
            "columns": int(features.matrix.shape[1]),
            "rss_before_mb": before,
            "rss_features_mb": after - before,
            "rss_after_requests_mb": peak,
            "load_seconds": load_seconds,
            "rater_ms": 1000 * timings["rater"],
            "cold_ms": 1000 * timings["cold"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movies", type=int, nargs="+", default=[62_000, 200_000])
    parser.add_argument("--raters", type=int, default=300)
    parser.add_argument("--ratings-per-user", type=int, default=70)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child: a database URL
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.requests)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.movies:
            url = f"sqlite:///{Path(tmp) / f'catalogue-{size}.sqlite3'}"
            build(url, size, args.raters, args.ratings_per_user, args.seed)
            child = subprocess.run(
                [sys.executable, __file__, "--measure", url, "--requests", str(args.requests)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"{'movies':>9}{'columns':>8}{'worker MB':>11}{'features MB':>13}{'load s':>8}"
          f"{'rater ms':>10}{'cold ms':>9}")  # fmt: skip
    for row in rows:
        print(
            f"{row['movies']:>9,}{row['columns']:>8}{row['rss_after_requests_mb']:>11.0f}"
            f"{row['rss_features_mb']:>13.1f}{row['load_seconds']:>8.2f}"
            f"{row['rater_ms']:>10.0f}{row['cold_ms']:>9.0f}"
        )
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        per_k = 1000 / (large["movies"] - small["movies"])
        memory = large["rss_after_requests_mb"] - small["rss_after_requests_mb"]
        print(
            f"per 1,000 movies (between {small['movies']:,} and {large['movies']:,}): "
            f"worker memory {per_k * memory:.2f} MB, "
            f"rater request {per_k * (large['rater_ms'] - small['rater_ms']):.2f} ms, "
            f"cold-start request {per_k * (large['cold_ms'] - small['cold_ms']):.2f} ms"
        )


if __name__ == "__main__":
    main()
