"""A hung Redis (accepting connections, never answering: SIGSTOP) costs at most its timeout
once, never a 5xx: sign-up, sign-in, rating and recommendations answer within a bound, the rate
limits keep counting (in memory) and the app uses Redis again once it answers."""

from __future__ import annotations

import time

import pytest
import redis

from recommender.app import create_app
from recommender.extensions import db
from recommender.services.cache import REDIS_TIMEOUT_SECONDS
from tests.api.helpers import PASSWORD, bearer
from tests.conftest import make_environ
from tests.factories import make_movie

# One request may pay the connect and socket timeouts of the cache and of the limiter once
# each; the rest pay nothing while the breaker and Flask-Limiter's fallback are open.
SLOWEST_SECONDS = 2.0
ROUNDS = 3


@pytest.fixture
def hung_app(app, database_url, private_redis):
    movie_ids = [make_movie(f"Film {i}", 1990 + i, imdb_rating=6 + i / 5).id for i in range(8)]
    served = create_app(
        environ=make_environ(database_url, CACHE_URL=private_redis.url),
        config={"RECOMMENDER_K": 3, "RATELIMIT_ENABLED": True},
    )
    yield served, movie_ids
    private_redis.thaw()
    with served.app_context():
        db.engine.dispose()


def test_a_hung_redis_costs_at_most_its_timeout_and_never_a_5xx(hung_app, private_redis):
    served, movie_ids = hung_app
    client = served.test_client()
    # Warm: Redis answers, the cache and the limiter use it.
    warm = client.post("/api/v1/auth/register", json={"username": "warm", "password": PASSWORD})
    assert warm.status_code == 201
    assert redis.Redis(port=private_redis.port).keys("*recommender-limits*")

    private_redis.freeze()
    durations: list[float] = []
    statuses: list[int] = []

    def timed(method: str, path: str, **options):
        started = time.monotonic()
        response = client.open(path, method=method, **options)
        durations.append(time.monotonic() - started)
        statuses.append(response.status_code)
        return response

    for round_ in range(ROUNDS):
        credentials = {"username": f"rater{round_}", "password": PASSWORD}
        timed("POST", "/api/v1/auth/register", json=credentials)
        token = timed("POST", "/api/v1/auth/tokens", json=credentials).get_json()["token"]
        headers = bearer(token)
        for movie_id, stars in zip(movie_ids[:5], (5, 1, 4, 2, 3), strict=True):
            timed("PUT", f"/api/v1/me/ratings/{movie_id}", json={"rating": stars}, headers=headers)
        timed("GET", "/api/v1/me/recommendations", headers=headers)
        timed("GET", f"/api/v1/me/predictions/{movie_ids[6]}", headers=headers)
        # A wrong password still counts towards the sign-in limit (in memory now).
        wrong = client.post("/api/v1/auth/tokens", json={**credentials, "password": "x"})
        assert wrong.status_code == 401 and "X-RateLimit-Remaining" in wrong.headers

    assert all(200 <= status < 300 for status in statuses), statuses
    assert max(durations) < SLOWEST_SECONDS, durations
    # Mostly nothing: at most a few calls waited for the timeout, not one per request.
    assert sum(durations) < SLOWEST_SECONDS + len(durations) * 0.1, durations
    assert sum(seconds >= REDIS_TIMEOUT_SECONDS for seconds in durations) <= 3, durations

    private_redis.thaw()
    # The limiter's counters stayed in Redis for the warm sign-up; the app carries on.
    assert client.get("/api/v1/me/recommendations", headers=headers).status_code == 200
