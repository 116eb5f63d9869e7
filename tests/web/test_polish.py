"""Item 7's polish: field errors marked on the field, no page past the last, plurals and
thousands separators, and headings that do not skip a level."""

from __future__ import annotations

import itertools
import re

import pytest

from recommender.web.formatting import plural, thousands
from tests.factories import make_movie
from tests.web.conftest import csrf_token, post


def _input(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return match.group(0)


def test_a_bad_username_is_marked_on_its_field(client):
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={
            "username": "a b",
            "password": "long enough pw",
            "password_again": "long enough pw",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = _input(html, "username")
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="username-error username-hint"' in field
    assert re.search(
        r'<span class="field-error" id="username-error" role="alert">Username must', html
    )
    assert "aria-invalid" not in _input(html, "password")
    assert 'class="flash error"' not in html  # the message is on the field, not a banner


def test_differing_passwords_mark_the_second_one(client):
    token = csrf_token(client, "/signup")
    html = client.post(
        "/signup",
        data={
            "username": "carol",
            "password": "long enough pw",
            "password_again": "other pw!!",
            "csrf_token": token,
        },
    ).get_data(as_text=True)
    assert 'aria-invalid="true"' in _input(html, "password_again")
    assert 'id="password_again-error"' in html and "The two passwords differ." in html


def test_a_failed_sign_in_marks_both_fields_with_one_message(client):
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": "nobody", "password": "wrong password", "csrf_token": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for name in ("username", "password"):
        field = _input(html, name)
        assert 'aria-invalid="true"' in field and 'aria-describedby="password-error"' in field
    assert html.count('id="password-error"') == 1


def test_a_page_past_the_last_goes_to_the_last(client, catalogue):
    response = client.get("/?page=999&sort=year")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "page=1" in location and "sort=year" in location
    assert "page 1 of 1" in client.get("/?page=1").get_data(as_text=True)


def test_your_ratings_past_the_last_page_go_to_the_last(alice, catalogue):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "3"})
    response = alice.get("/ratings?page=7")
    assert response.status_code == 302 and "page=1" in response.headers["Location"]


def test_one_film_and_one_star_are_singular(app, alice):
    movie = make_movie("Only One", 2001)
    assert "1 film<" in alice.get("/").get_data(as_text=True)
    html = post(alice, f"/ratings/{movie.id}", {"rating": "1"}).get_data(as_text=True)
    assert "Saved: 1 star." in html and 'title="1 star"' in html and 'title="1.5 stars"' in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3200, "3,200"), (1_234_567, "1,234,567"), (7, "7"), (4.5, "4.5"), (4.0, "4"), (None, "")],
)
def test_thousands_separators(value, expected):
    assert thousands(value) == expected


def test_plurals():
    assert plural(1, "film") == "1 film"
    assert plural(0, "film") == "0 films"
    assert plural(3200, "film") == "3,200 films"
    assert plural(1.5, "star") == "1.5 stars"


@pytest.mark.parametrize("path", ["/", "/ratings", "/welcome"])
def test_headings_never_skip_a_level(alice, catalogue, path):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "3"})
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", alice.get(path).get_data(as_text=True))]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
