"""GET /ratings.csv: the signed-in user's ratings as a CSV file, linked from "Your ratings"."""

from __future__ import annotations

import csv
import io

from tests.factories import make_movie
from tests.web.conftest import post

AWKWARD = 'Say "Cheese",\nthen Smile'


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_the_ratings_page_links_the_download(alice, catalogue):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "4"})
    page = alice.get("/ratings").get_data(as_text=True)
    assert 'href="/ratings.csv"' in page and "Download your ratings (CSV)" in page


def test_the_download_holds_only_your_ratings(app, alice, bob, catalogue):
    awkward = make_movie(AWKWARD, 1999).id
    post(alice, f"/ratings/{awkward}", {"rating": "4.5"})
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "2"})
    post(bob, f"/ratings/{catalogue[1].id}", {"rating": "5"})

    response = alice.get("/ratings.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="ratings.csv"'
    rows = rows_of(response)
    assert rows[0] == ["movie_id", "title", "year", "rating", "rated_at"]
    assert sorted((row[0], row[1], row[3]) for row in rows[1:]) == sorted(
        [(str(awkward), AWKWARD, "4.5"), (str(catalogue[0].id), catalogue[0].title, "2.0")]
    )
    assert [row[1] for row in rows_of(bob.get("/ratings.csv"))[1:]] == [catalogue[1].title]


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/ratings.csv")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
