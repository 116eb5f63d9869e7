"""Many writes for one user at once, through a real threaded server: none lost, none a 5xx."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from recommender.extensions import db
from recommender.models import Rating
from tests.api.helpers import auth_headers, ratings_version, user_id
from tests.factories import make_movie

THREADS = 8
OWN_MOVIES = 4  # per thread
SHARED_WRITES = 3  # per thread, on the one movie every thread writes
TIMEOUT_S = 30


@dataclass(frozen=True)
class Outcome:
    method: str
    movie_id: int
    value: float | None
    status: int


@pytest.fixture
def live_server(app) -> Iterator[tuple[str, int]]:
    """Serve ``app`` from a thread with one thread per request, as a real deployment would."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Track the request threads so server_close() waits for them: a request still returning its
    # connection when the app fixture disposes the engine would leak that connection.
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        thread.join(TIMEOUT_S)
        server.server_close()


def send(address: tuple[str, int], headers: dict[str, str], method: str, movie_id: int, value):
    connection = http.client.HTTPConnection(*address, timeout=TIMEOUT_S)
    try:
        body = None if value is None else json.dumps({"rating": value})
        connection.request(
            method,
            f"/api/v1/me/ratings/{movie_id}",
            body=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return Outcome(method, movie_id, value, response.status)
    finally:
        connection.close()


def run_at_once(jobs: list[list[tuple[str, int, float | None]]], address, headers):
    """Run each job list in its own thread, all starting together; return every outcome."""
    start = threading.Barrier(len(jobs))
    outcomes: list[Outcome] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(steps: list[tuple[str, int, float | None]]) -> None:
        try:
            start.wait(TIMEOUT_S)
            for method, movie_id, value in steps:
                outcome = send(address, headers, method, movie_id, value)
                with lock:
                    outcomes.append(outcome)
        except BaseException as error:  # reported below instead of vanishing with the thread
            with lock:
                failures.append(error)

    threads = [threading.Thread(target=worker, args=(steps,)) for steps in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S * 4)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    assert not failures, failures
    return outcomes


def stored(username: str) -> dict[int, float]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id(username))
    )
    return dict(rows.all())


def acknowledged(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status in (200, 201, 204)]


def test_concurrent_writes_for_one_user_are_all_kept_and_counted(app, client, live_server):
    headers = auth_headers(client, "alice")
    shared = make_movie("Shared", 1999).id
    own = [
        [make_movie(f"Thread {t} movie {i}", 2000).id for i in range(OWN_MOVIES)]
        for t in range(THREADS)
    ]
    values = [0.5 * (1 + n % 10) for n in range(100)]
    jobs = []
    for t in range(THREADS):
        steps: list[tuple[str, int, float | None]] = []
        for i, movie_id in enumerate(own[t]):
            steps.append(("PUT", movie_id, values[t + i]))
            if i < SHARED_WRITES:
                steps.append(("PUT", shared, values[t * SHARED_WRITES + i]))
        steps.append(("DELETE", own[t][0], None))
        jobs.append(steps)

    outcomes = run_at_once(jobs, live_server, headers)

    assert len(outcomes) == sum(len(steps) for steps in jobs)
    assert all(o.status in (200, 201, 204) for o in outcomes), sorted({o.status for o in outcomes})
    final = stored("alice")
    for t in range(THREADS):
        assert own[t][0] not in final
        for i, movie_id in enumerate(own[t][1:], start=1):
            assert final[movie_id] == values[t + i]
    shared_puts = [o for o in outcomes if o.movie_id == shared]
    # Exactly one of the simultaneous first ratings created the row; the others changed it.
    assert sorted(o.status for o in shared_puts) == [200] * (len(shared_puts) - 1) + [201]
    assert final[shared] in {o.value for o in shared_puts}
    assert ratings_version("alice") == len(acknowledged(outcomes))


def test_concurrent_puts_and_deletes_of_one_movie_never_fail_or_lose_count(
    app, client, live_server
):
    headers = auth_headers(client, "alice")
    movie = make_movie("Contested", 1999).id
    jobs = [
        [
            ("PUT", movie, 0.5 * (t + 1)) if (t + i) % 2 == 0 else ("DELETE", movie, None)
            for i in range(6)
        ]
        for t in range(THREADS)
    ]

    outcomes = run_at_once(jobs, live_server, headers)

    # A DELETE may find nothing to delete (404); nothing may fail with a 5xx.
    assert {o.status for o in outcomes} <= {200, 201, 204, 404}
    assert ratings_version("alice") == len(acknowledged(outcomes))
    final = stored("alice")
    assert set(final) <= {movie}
    if movie in final:
        assert final[movie] in {o.value for o in outcomes if o.method == "PUT"}
