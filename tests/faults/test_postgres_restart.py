"""PostgreSQL stopped and started under a running app: a clean 503 while it is down, and the
same app object answers 200 again once it is back (no restart, no recreated engine)."""

from __future__ import annotations

from flask_migrate import upgrade

from recommender.app import create_app
from recommender.extensions import db
from tests.api.helpers import auth_headers
from tests.conftest import make_environ
from tests.factories import make_movie


def assert_database_down_json(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "unavailable"
    assert "database" in error["message"].lower()
    assert error["details"] == {"database": "unreachable"}
    assert int(response.headers["Retry-After"]) > 0


def test_requests_get_503_while_postgres_is_down_and_200_after(private_postgres):
    app = create_app(environ=make_environ(private_postgres.url), config={"RECOMMENDER_K": 3})
    with app.app_context():
        upgrade()
        movie_ids = [make_movie(f"Film {i}", imdb_rating=5 + i / 2).id for i in range(6)]
    client = app.test_client()
    headers = auth_headers(client, "ann")
    rate_first = client.put(
        f"/api/v1/me/ratings/{movie_ids[0]}", json={"rating": 4}, headers=headers
    )
    assert rate_first.status_code == 201
    # Fill the pool with connections that the stop below kills.
    assert client.get("/api/v1/me/recommendations", headers=headers).status_code == 200
    assert client.get("/healthz").status_code == 200

    private_postgres.stop()
    assert_database_down_json(client.get("/api/v1/movies"))
    assert_database_down_json(client.get("/api/v1/me/recommendations", headers=headers))
    assert_database_down_json(
        client.put(f"/api/v1/me/ratings/{movie_ids[1]}", json={"rating": 3}, headers=headers)
    )
    assert_database_down_json(client.get("/healthz"))
    page = client.get("/")
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "database is unreachable" in page.get_data(as_text=True)

    private_postgres.start()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    rated = client.put(f"/api/v1/me/ratings/{movie_ids[1]}", json={"rating": 3}, headers=headers)
    assert rated.status_code == 201
    body = client.get("/api/v1/me/recommendations", headers=headers).get_json()
    assert body["ratings_count"] == 2
    assert client.get("/").status_code == 200

    # A restart between two requests: nothing saw the pooled connections die, yet the first
    # request after it succeeds, because pool_pre_ping replaces them before use.
    private_postgres.stop()
    private_postgres.start()
    assert client.get("/api/v1/me/recommendations", headers=headers).status_code == 200
    with app.app_context():
        db.engine.dispose()
