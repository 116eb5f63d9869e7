"""Two gunicorn instances of the app over one PostgreSQL database and one Redis: a rating
written through one is reflected at once (no sleep) in the recommendations of the other.

Each server keeps finished responses in its own memory and shares predictions through Redis;
both are keyed by the user's ratings version (bumped in the rating's transaction) and the
feature version, so an entry made before the rating is unreachable on either server.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade

from recommender.app import create_app
from recommender.extensions import db
from recommender.services import accounts
from recommender.services.recommendations import prediction_cache_key
from tests.conftest import unavailable
from tests.factories import make_movie
from tests.faults.conftest import free_port, start_gunicorn, wait_for_port

pytestmark = pytest.mark.postgres
# Not 0 (everyone's) nor 15 (the API tests'): this test flushes it before and after.
REDIS_DB = 9
K = 3


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database of our own on TEST_DATABASE_URL's server, dropped afterwards: the suite's
    shared test database is emptied by other tests' fixtures while our servers run."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        unavailable("TEST_DATABASE_URL is not set: two servers need a PostgreSQL to share")
    name = f"recommender_two_servers_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error.orig}")
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def shared_redis() -> Iterator[str]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=0.5)
    try:
        client.flushdb()
    except redis.RedisError as error:
        unavailable(f"Redis at 127.0.0.1:6379 is unreachable: {error}")
    yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    client.flushdb()
    client.close()


class Api:
    """A tiny JSON client for one server, on one kept-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        self.conn.request(method, "/api/v1" + path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def close(self) -> None:
        self.conn.close()

    def rate(self, movie_id: int, value: float) -> None:
        status, body = self.call("PUT", f"/me/ratings/{movie_id}", {"rating": value})
        assert status in (200, 201), body

    def recommendations(self) -> dict[str, Any]:
        status, body = self.call("GET", "/me/recommendations?limit=50")
        assert status == 200, body
        return body


def recommended_ids(body: dict[str, Any]) -> list[int]:
    return [item["movie"]["id"] for item in body["items"]]


def test_a_rating_through_one_server_is_seen_at_once_by_the_other(
    scratch_database, shared_redis, tmp_path: Path
):
    environ = {
        "RECOMMENDER_ENV": "testing",
        "SECRET_KEY": "two-servers-test",
        "DATABASE_URL": scratch_database,
        "CACHE_URL": shared_redis,
        "RECOMMENDER_K": str(K),
    }
    app = create_app(environ=environ)
    with app.app_context():
        upgrade()
        movies = [
            make_movie(
                f"Film {i}",
                year=1970 + 2 * i,
                imdb_rating=3 + (i * 7) % 60 / 10,
                runtime_min=80 + (i * 13) % 90,
            )
            for i in range(40)
        ]
        movie_ids = [movie.id for movie in movies]
        user = accounts.create_user(db.session, "ann", "correct horse battery")
        token, _ = accounts.issue_token(db.session, user, ttl=dt.timedelta(hours=1))
        user_id = user.id
        db.session.remove()
        db.engine.dispose()

    ports = [free_port(), free_port()]
    servers = [start_gunicorn(environ, port, tmp_path / f"server-{port}.log") for port in ports]
    one, two = (Api(port, token) for port in ports)
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_for_port(port, server, what=f"gunicorn on {port}")

        # At k ratings: cold start on both.
        for movie_id, value in zip(movie_ids[:K], [5, 1, 4], strict=True):
            one.rate(movie_id, value)
        cold = two.recommendations()
        assert (cold["source"], cold["ratings_count"]) == ("cold_start", K)
        assert one.recommendations() == cold  # warms server one's response cache too

        # Rating k + 1 through one: two switches to personal predictions at once.
        one.rate(movie_ids[K], 2)
        personal = two.recommendations()
        assert (personal["source"], personal["ratings_count"]) == ("knn", K + 1)
        assert movie_ids[K] not in recommended_ids(personal)
        assert one.recommendations() == personal
        assert redis.Redis.from_url(shared_redis).exists(prediction_cache_key(user_id))

        # Rating one's top pick through two: one drops it from its (cached) list at once.
        top = recommended_ids(one.recommendations())[0]
        two.rate(top, 3)
        after = one.recommendations()
        assert top not in recommended_ids(after) and after["ratings_count"] == K + 2

        # Changing a rating through one: two explains with the new value at once.
        neighbour = personal["items"][0]["neighbours"][0]
        new_value = 0.5 if neighbour["rating"] != 0.5 else 5.0
        one.rate(neighbour["movie_id"], new_value)
        explained = {
            n["movie_id"]: n["rating"]
            for item in two.recommendations()["items"]
            for n in item["neighbours"]
        }
        assert explained.get(neighbour["movie_id"], new_value) == new_value
        assert neighbour["movie_id"] in explained
        assert one.recommendations() == two.recommendations()
    finally:
        one.close()
        two.close()
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
