"""GET /api/v1/movies/{id} carries the community's figures: count, mean and a histogram."""

from __future__ import annotations

import datetime as dt

from recommender.extensions import db
from recommender.models import Rating
from recommender.services import accounts
from tests.api.helpers import assert_error
from tests.factories import make_movie


def rate_as_users(movie_id: int, values: list[float]) -> None:
    """One new user per value, each rating ``movie_id`` with it."""
    now = dt.datetime.now(dt.UTC)
    for i, value in enumerate(values):
        user = accounts.create_user(db.session, f"rater{movie_id}x{i}", "a long password")
        db.session.add(Rating(user_id=user.id, movie_id=movie_id, rating=value, rated_at=now))
    db.session.commit()


def test_a_rated_movie_carries_count_mean_and_histogram(client):
    movie = make_movie("Alien", 1979, ("Horror",))
    other = make_movie("Aliens", 1986, ("Action",))
    values = [5, 5, 4, 4.5, 1]
    rate_as_users(movie.id, values)
    rate_as_users(other.id, [2])  # another movie's ratings count nowhere here

    body = client.get(f"/api/v1/movies/{movie.id}").get_json()
    assert body["title"] == "Alien"
    assert body["ratings_count"] == len(values)
    assert body["ratings_mean"] == round(sum(values) / len(values), 3)
    bins = {b["rating"]: b["count"] for b in body["histogram"]}
    # Every step of the 0.5-5 scale, empty bins included, in order.
    assert [b["rating"] for b in body["histogram"]] == [0.5 * i for i in range(1, 11)]
    assert bins == {
        0.5: 0,
        1.0: 1,
        1.5: 0,
        2.0: 0,
        2.5: 0,
        3.0: 0,
        3.5: 0,
        4.0: 1,
        4.5: 1,
        5.0: 2,
    }
    assert sum(bins.values()) == body["ratings_count"]


def test_an_unrated_movie_has_zero_count_and_no_mean(client):
    movie = make_movie("Nobody Saw It", 2001)
    body = client.get(f"/api/v1/movies/{movie.id}").get_json()
    assert body["ratings_count"] == 0 and body["ratings_mean"] is None
    assert len(body["histogram"]) == 10 and all(b["count"] == 0 for b in body["histogram"])


def test_an_unknown_movie_is_a_404_with_a_json_error(client):
    assert_error(client.get("/api/v1/movies/987654"), 404)


def test_the_schema_documents_the_community_fields(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    detail = next(
        schema
        for schema in schemas.values()
        if {"ratings_count", "ratings_mean", "histogram"} <= set(schema.get("properties", {}))
    )
    assert {"ratings_count", "ratings_mean", "histogram"} <= set(detail["required"])
