"""GET /api/v1/me/ratings.csv: your own ratings (never anyone else's) as a streamed CSV file
whose titles survive commas, quotes and line breaks."""

from __future__ import annotations

import csv
import datetime as dt
import io

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Rating
from tests.api.helpers import assert_error, user_id
from tests.factories import make_movie

DOWNLOAD = "/api/v1/me/ratings.csv"
AWKWARD = 'Say "Cheese",\nthen Smile'  # a comma, quotes and a line break


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_the_download_holds_your_ratings_newest_first(client, alice, bob):
    awkward = make_movie(AWKWARD, 1999).id
    amelie = make_movie("Le Fabuleux destin d'Amélie Poulain", 2001).id
    undated = make_movie("Untitled", None).id
    for movie_id, value in ((awkward, 4.5), (amelie, 2.0), (undated, 5.0)):
        client.put(f"/api/v1/me/ratings/{movie_id}", json={"rating": value}, headers=alice)
    client.put(f"/api/v1/me/ratings/{amelie}", json={"rating": 1.0}, headers=bob)
    stamps = {awkward: dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)}
    stamps[amelie] = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
    stamps[undated] = dt.datetime(2022, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    for movie_id, stamp in stamps.items():
        db.session.execute(
            sa.update(Rating)
            .where(Rating.movie_id == movie_id, Rating.user_id == user_id("alice"))
            .values(rated_at=stamp)
        )
    db.session.commit()

    response = client.get(DOWNLOAD, headers=alice)

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="ratings.csv"'
    assert "no-store" in response.headers["Cache-Control"]
    assert rows_of(response) == [
        ["movie_id", "title", "year", "rating", "rated_at"],
        [str(awkward), AWKWARD, "1999", "4.5", "2024-01-02T03:04:05.006000+00:00"],
        [str(amelie), "Le Fabuleux destin d'Amélie Poulain", "2001", "2.0",
         "2023-06-01T00:00:00+00:00"],
        [str(undated), "Untitled", "", "5.0", "2022-12-31T23:59:59+00:00"],
    ]  # fmt: skip


def test_a_user_never_gets_another_users_ratings(client, alice, bob):
    films = [make_movie(f"Film {n}", 2000 + n).id for n in range(4)]
    for movie_id in films[:2]:
        client.put(f"/api/v1/me/ratings/{movie_id}", json={"rating": 4.0}, headers=alice)
    for movie_id in films[1:]:
        client.put(f"/api/v1/me/ratings/{movie_id}", json={"rating": 1.5}, headers=bob)

    alices = rows_of(client.get(DOWNLOAD, headers=alice))[1:]
    bobs = rows_of(client.get(DOWNLOAD, headers=bob))[1:]

    assert sorted((int(row[0]), row[3]) for row in alices) == [(films[0], "4.0"), (films[1], "4.0")]
    assert sorted((int(row[0]), row[3]) for row in bobs) == [
        (movie_id, "1.5") for movie_id in films[1:]
    ]


def test_no_ratings_is_a_header_alone(client, alice):
    response = client.get(DOWNLOAD, headers=alice)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "movie_id,title,year,rating,rated_at\r\n"


def test_the_download_needs_a_token_and_ignores_the_session_cookie(client):
    assert_error(client.get(DOWNLOAD), 401, "unauthorized")
    assert_error(client.get(DOWNLOAD, headers={"Authorization": "Bearer nope"}), 401)
