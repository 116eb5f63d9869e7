"""Raters keep working while a MovieLens import runs: on SQLite the import holds the write
lock only for its final transaction (or, for a dataset past ``ONE_TRANSACTION_ROWS``, for
short steps of about 0.1 s), on PostgreSQL never where raters write. A client rates
and signs up every 50 ms through the app while ML-100K is imported in another thread; no
request waits a second and none is a 5xx, and the import is whole.

The import is slowed to about 4 s (0.2 s per batch of 5,000 lines, as on a slower machine or
in a bigger file) so that the raters meet it while it reads: on ``main`` that import held
SQLite's write lock from its first movie to its commit, and a rating waited for all of it."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.importers.movielens import writer
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, Rating
from recommender.settings import current_settings
from tests.api.helpers import auth_headers

MAX_WAIT_SECONDS = 1.0
GRACE_SECONDS = 0.3  # a request's own time beside its wait for the lock
BUSY_TIMEOUT_SECONDS = 5.0  # SQLITE_BUSY_TIMEOUT_MS: a writer waiting longer gets a 503
PAUSE_SECONDS = 0.05
SLOW_READ_SECONDS = 0.2  # per batch of ratings read


@pytest.mark.parametrize("in_steps", [False, True], ids=["one-transaction", "in-steps"])
def test_ratings_and_sign_ups_during_an_ml100k_import_wait_under_a_second(
    app, client, ml100k, monkeypatch, in_steps
):
    if in_steps and db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite writes a large import in steps")
    # ML-100K is past ONE_TRANSACTION_ROWS: in steps, as every larger dataset. The other case
    # is a dataset of up to that many ratings, written in one transaction.
    assert writer.ONE_TRANSACTION_ROWS < 100_000
    if not in_steps:
        monkeypatch.setattr(writer, "ONE_TRANSACTION_ROWS", 10**9)
    headers = auth_headers(client, "rater")
    movies = [Movie(title=f"Local film {n}", year=2000 + n) for n in range(10)]
    db.session.add_all(movies)
    db.session.commit()
    movie_ids = [movie.id for movie in movies]
    outcome: dict[str, object] = {}

    def run_import() -> None:
        try:
            with app.app_context():
                scale = current_settings().rating_scale
                outcome["report"] = import_movielens(
                    db.session,
                    ml100k,
                    scale=scale,
                    progress=lambda done, total: time.sleep(SLOW_READ_SECONDS),
                )
        except BaseException as error:
            outcome["error"] = error

    importer = threading.Thread(target=run_import)
    latencies: list[tuple[str, float, int]] = []
    values = itertools.cycle([1.0, 2.5, 4.0, 5.0])
    importer.start()
    for n in itertools.count():
        if not importer.is_alive():
            break
        started = time.perf_counter()
        if n % 4 == 3:
            response = client.post(
                "/api/v1/auth/register",
                json={"username": f"newcomer{n}", "password": "correct horse battery"},
            )
            kind = "sign-up"
        else:
            response = client.put(
                f"/api/v1/me/ratings/{movie_ids[n % 10]}",
                json={"rating": next(values)},
                headers=headers,
            )
            kind = "rating"
        latencies.append((kind, time.perf_counter() - started, response.status_code))
        time.sleep(PAUSE_SECONDS)
    importer.join()

    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].counts["ratings_inserted"] == 100_000 - 307
    slowest = max(latencies, key=lambda item: item[1])
    assert all(status < 500 for _, _, status in latencies), latencies
    assert all(status in (200, 201) for _, _, status in latencies), latencies
    assert slowest[1] < BUSY_TIMEOUT_SECONDS / 2, slowest
    assert len(latencies) >= 30, "the import ended before the raters got going"
    report = outcome["report"]
    print(
        f"{len(latencies)} requests during the import; slowest: {slowest}; "
        f"final write transaction {report.write_seconds:.2f} s"
    )
    # A rater waits for the import's final write at most, never for its reading (~4 s here).
    # That write is about 0.5 s on an idle 2-core machine (the 1 s goal); on a busy one it
    # stretches, so the bound is relative to it, and half the busy timeout (never a 503).
    # On PostgreSQL nothing of the import blocks a rater, but the import's own CPU shares the
    # 2 cores with the server here (a CI run saw one rating take 1.08 s): the grace on top.
    final_write = report.write_seconds if db.engine.dialect.name == "sqlite" else MAX_WAIT_SECONDS
    assert slowest[1] < max(MAX_WAIT_SECONDS, final_write + GRACE_SECONDS), slowest
    if in_steps:  # 100,000 ratings in steps of about 0.1 s each, the longest under 1 s.
        # The count is what shows the steps; the longest one is 0.1-0.25 s idle, but on a
        # slower machine, beside the raters and a CI run, one took 0.52 s: the 1 s goal is
        # the bound, not half of it.
        assert report.write_transactions >= 5, report.write_transactions
        assert report.write_seconds < MAX_WAIT_SECONDS, report.write_seconds
    # Every acknowledged rating is stored.
    db.session.rollback()
    stored = db.session.scalar(
        sa.select(sa.func.count()).select_from(Rating).where(Rating.movie_id.in_(movie_ids))
    )
    assert stored == min(10, sum(1 for kind, _, _ in latencies if kind == "rating"))
