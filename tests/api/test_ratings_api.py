"""/api/v1/me/ratings: rate, change, delete and list your own ratings, and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.models import Rating
from tests.api.helpers import assert_error, ratings_version, user_id
from tests.conftest import change_settings
from tests.factories import make_movie

RATINGS = "/api/v1/me/ratings"


@pytest.fixture
def movies(app):
    return [make_movie(f"Movie {i}", 2000 + i, ("Drama",)) for i in range(5)]


def rate(client, headers, movie_id: int, value):
    return client.put(f"{RATINGS}/{movie_id}", json={"rating": value}, headers=headers)


def stored_ratings(username: str) -> dict[int, float]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id(username))
    )
    return dict(rows.all())


def test_first_rating_is_201_and_a_change_is_200(client, alice, movies):
    movie = movies[0]
    created = rate(client, alice, movie.id, 4.5)
    assert created.status_code == 201
    body = created.get_json()
    assert body["rating"] == 4.5 and body["movie"]["id"] == movie.id
    assert body["movie"]["title"] == "Movie 0" and body["rated_at"]

    changed = rate(client, alice, movie.id, 2)
    assert changed.status_code == 200
    assert changed.get_json()["rating"] == 2.0
    assert stored_ratings("alice") == {movie.id: 2.0}


def test_a_rating_carries_the_movie_with_all_its_attributes(client, alice):
    movie = make_movie(
        "Heat",
        1995,
        ("Crime", "Drama"),
        release_date=dt.date(1995, 12, 15),
        runtime_min=170,
        budget=60_000_000,
        imdb_rating=8.3,
        director="Michael Mann",
    )
    put = rate(client, alice, movie.id, 5).get_json()["movie"]
    listed = client.get(RATINGS, headers=alice).get_json()["items"][0]["movie"]
    assert put == listed
    assert put["release_date"] == "1995-12-15" and put["genres"] == ["Crime", "Drama"]
    assert (put["runtime_min"], put["budget"], put["imdb_rating"]) == (170, 60_000_000, 8.3)


def test_every_accepted_put_and_delete_bumps_the_ratings_version_by_one(client, alice, movies):
    assert ratings_version("alice") == 0
    rate(client, alice, movies[0].id, 4)
    assert ratings_version("alice") == 1
    rate(client, alice, movies[0].id, 4)  # the same value again still counts as a write
    assert ratings_version("alice") == 2
    rate(client, alice, movies[1].id, 3)
    assert ratings_version("alice") == 3
    assert client.delete(f"{RATINGS}/{movies[0].id}", headers=alice).status_code == 204
    assert ratings_version("alice") == 4


def test_list_shows_my_ratings_newest_first_with_paging(client, alice, movies):
    for movie, value in zip(movies, [1, 2, 3, 4, 5], strict=True):
        assert rate(client, alice, movie.id, value).status_code == 201

    first = client.get(f"{RATINGS}?per_page=2", headers=alice).get_json()
    last = client.get(f"{RATINGS}?per_page=2&page=3", headers=alice).get_json()

    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 5)
    assert [item["rating"] for item in first["items"]] == [5.0, 4.0]
    assert [item["movie"]["title"] for item in last["items"]] == ["Movie 0"]
    assert set(first["items"][0]) == {"movie", "rating", "rated_at"}


def test_an_empty_list_is_a_page_with_no_items(client, alice):
    body = client.get(RATINGS, headers=alice).get_json()
    assert body == {"items": [], "page": 1, "per_page": 20, "total": 0}


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=101", "page=x"])
def test_bad_paging_is_422_naming_the_parameter(client, alice, query):
    error = assert_error(client.get(f"{RATINGS}?{query}", headers=alice), 422, "validation_error")
    assert query.split("=")[0] in error["details"]["query"]


@pytest.mark.parametrize("value", [0.25, 5.5, 0, -0.5, 0.75, 4.49, 1e308])
def test_off_scale_or_off_step_ratings_are_422_and_change_nothing(client, alice, movies, value):
    rate(client, alice, movies[0].id, 3)

    error = assert_error(rate(client, alice, movies[0].id, value), 422, "invalid_input")
    assert "Rating must be" in error["message"]

    assert stored_ratings("alice") == {movies[0].id: 3.0}
    assert ratings_version("alice") == 1


@pytest.mark.parametrize(
    "raw_body",
    [
        '{"rating": NaN}',
        '{"rating": Infinity}',
        '{"rating": -Infinity}',
        '{"rating": "Infinity"}',
        '{"rating": "NaN"}',
        '{"rating": "five"}',
        '{"rating": "4.5"}',
        '{"rating": true}',
        '{"rating": null}',
        '{"rating": [4]}',
        "{}",
        '{"rating": 4, "comment": "loved it"}',
        "[4]",
    ],
)
def test_mistyped_or_missing_ratings_are_422_and_change_nothing(client, alice, movies, raw_body):
    rate(client, alice, movies[0].id, 3)

    response = client.put(
        f"{RATINGS}/{movies[0].id}", data=raw_body, content_type="application/json", headers=alice
    )

    assert_error(response, 422, "validation_error")
    assert stored_ratings("alice") == {movies[0].id: 3.0}
    assert ratings_version("alice") == 1


@pytest.mark.parametrize(
    ("raw_body", "content_type"),
    [('{"rating": 4', "application/json"), ("", "application/json"), ("rating=4", None)],
)
def test_a_body_that_is_not_json_is_a_json_error(client, alice, movies, raw_body, content_type):
    response = client.put(
        f"{RATINGS}/{movies[0].id}", data=raw_body, content_type=content_type, headers=alice
    )
    # Malformed JSON is 400; a body of another type reads as no JSON, so "rating" is missing.
    assert_error(response, 400 if content_type and raw_body else 422)
    assert stored_ratings("alice") == {}


def test_rating_an_unknown_movie_is_404_and_changes_nothing(client, alice, movies):
    error = assert_error(rate(client, alice, 999_999, 4), 404, "not_found")
    assert "999999" in error["message"]
    assert ratings_version("alice") == 0
    assert stored_ratings("alice") == {}


@pytest.mark.parametrize(
    "movie_id",
    [str(2**31), "9" * 18, str(2**63), "9" * 5000],
    ids=["int32_max_plus_1", "18_digits", "int64_max_plus_1", "5000_digits"],
)
def test_ids_beyond_the_database_range_are_404_not_500(client, alice, movie_id):
    assert_error(rate(client, alice, movie_id, 4), 404)
    assert_error(client.delete(f"{RATINGS}/{movie_id}", headers=alice), 404)
    assert_error(client.get(f"/api/v1/movies/{movie_id}"), 404)
    assert ratings_version("alice") == 0


def test_delete_removes_the_rating_and_a_second_delete_is_404(client, alice, movies):
    rate(client, alice, movies[0].id, 4)
    rate(client, alice, movies[1].id, 2)

    response = client.delete(f"{RATINGS}/{movies[0].id}", headers=alice)
    assert response.status_code == 204 and response.get_data() == b""
    assert stored_ratings("alice") == {movies[1].id: 2.0}

    assert_error(client.delete(f"{RATINGS}/{movies[0].id}", headers=alice), 404, "not_found")
    assert ratings_version("alice") == 3  # two PUTs and one DELETE; the refused one is not


def test_another_users_ratings_are_never_visible_or_deletable(client, alice, bob, movies):
    rate(client, alice, movies[0].id, 5)
    rate(client, bob, movies[1].id, 1)

    bobs = client.get(RATINGS, headers=bob).get_json()
    assert [item["movie"]["id"] for item in bobs["items"]] == [movies[1].id]
    assert bobs["total"] == 1

    assert_error(client.delete(f"{RATINGS}/{movies[0].id}", headers=bob), 404, "not_found")
    assert stored_ratings("alice") == {movies[0].id: 5.0}
    assert ratings_version("alice") == 1 and ratings_version("bob") == 1


def test_rating_the_same_movie_as_another_user_keeps_both(client, alice, bob, movies):
    rate(client, alice, movies[0].id, 5)
    assert rate(client, bob, movies[0].id, 1).status_code == 201
    assert stored_ratings("alice") == {movies[0].id: 5.0}
    assert stored_ratings("bob") == {movies[0].id: 1.0}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", RATINGS), ("put", f"{RATINGS}/1"), ("delete", f"{RATINGS}/1")],
)
def test_every_route_needs_a_token(client, method, path):
    response = getattr(client, method)(path, json={"rating": 4})
    assert_error(response, 401, "unauthorized")


def test_the_scale_comes_from_the_settings(app, client, alice, movies):
    change_settings(app, rating_scale=RatingScale(1.0, 10.0, 1.0))
    assert rate(client, alice, movies[0].id, 10).status_code == 201
    error = assert_error(rate(client, alice, movies[1].id, 4.5), 422, "invalid_input")
    assert "multiple of 1 from 1" in error["message"]
    assert_error(rate(client, alice, movies[1].id, 0.5), 422, "invalid_input")
