"""Redis going away while the app runs: recommendations are computed without the cache, the
answer is the same as with an in-process cache, and no error reaches the user."""

from __future__ import annotations

import logging

import redis

from recommender.app import create_app
from recommender.extensions import db
from tests.api.helpers import auth_headers
from tests.conftest import make_environ
from tests.factories import make_movie


def test_recommendations_survive_redis_dying_mid_run(app, database_url, private_redis, caplog):
    movie_ids = [
        make_movie(f"Film {i}", year=1990 + i, imdb_rating=4 + i / 3, runtime_min=80 + 7 * i).id
        for i in range(12)
    ]
    cached_app = create_app(
        environ=make_environ(database_url, CACHE_URL=private_redis.url),
        config={"RECOMMENDER_K": 3},
    )
    cached = cached_app.test_client()
    headers = auth_headers(cached, "ann")
    for movie_id, value in zip(movie_ids[:5], [5, 1, 4, 2, 3], strict=True):
        assert cached.put(f"/api/v1/me/ratings/{movie_id}", json={"rating": value}, headers=headers)
    before = cached.get("/api/v1/me/recommendations", headers=headers)
    assert before.status_code == 200 and before.get_json()["source"] == "knn"
    assert redis.Redis(port=private_redis.port).keys("predictions:*")  # the cache was in use

    private_redis.kill()
    caplog.set_level(logging.WARNING, logger="recommender.services.cache")
    rated = cached.put(f"/api/v1/me/ratings/{movie_ids[5]}", json={"rating": 4.5}, headers=headers)
    assert rated.status_code == 201
    after = cached.get("/api/v1/me/recommendations", headers=headers)
    prediction = cached.get(f"/api/v1/me/predictions/{movie_ids[6]}", headers=headers)

    assert after.status_code == 200 and prediction.status_code == 200
    body = after.get_json()
    assert body["source"] == "knn" and body["ratings_count"] == 6
    assert movie_ids[5] not in {item["movie"]["id"] for item in body["items"]}
    assert "cache read failed" in caplog.text  # the dead Redis was asked, and shrugged off
    # The same answer as the app next door with its in-process cache (computed from scratch).
    assert app.test_client().get("/api/v1/me/recommendations", headers=headers).get_json() == body
    with cached_app.app_context():
        db.engine.dispose()
