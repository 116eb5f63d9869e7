"""Pathological JSON bodies (deep nesting, huge numbers, oversize, non-JSON constants) are a
400 or 413 with the JSON error body on every JSON endpoint, signed in or not, log nothing at
ERROR and change nothing."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from recommender import json_bodies
from recommender.extensions import db
from recommender.models import Rating, User
from tests.api.helpers import assert_error, auth_headers
from tests.factories import make_movie

DEEP = "[" * 2000 + "]" * 2000
HOSTILE = {
    "nesting beyond the decoder's recursion": (DEEP, 400, "nested more than 32"),
    "nesting beyond the bound": ("[" * 33 + "]" * 33, 400, "nested 33 levels deep"),
    "an integer beyond Python's limit": ('{"rating": ' + "9" * 5000 + "}", 400, "5000 characters"),
    "a long float": ('{"rating": 4.' + "0" * 200 + "}", 400, "202 characters"),
    "invalid UTF-8": (b'{"rating": "\xff"}', 400, "not UTF-8"),
    "a syntax error": ('{"rating": 4,}', 400, "Expecting property name"),
    "a body over the JSON limit": ('{"rating": "' + "x" * (70 * 1024) + '"}', 413, "64 KiB"),
}


@pytest.fixture
def movie_id(app) -> int:
    return make_movie("Film", 1999).id


def send(client, method: str, path: str, body, headers=None):
    return client.open(
        path, method=method, data=body, content_type="application/json", headers=headers or {}
    )


def counts() -> tuple[int, int]:
    db.session.expire_all()
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(User)),
        db.session.scalar(sa.select(sa.func.count()).select_from(Rating)),
    )


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_json_is_a_client_error_on_register_and_ratings(client, movie_id, caplog, case):
    body, status, says = HOSTILE[case]
    headers = auth_headers(client, "ann")
    before = counts()
    caplog.set_level(logging.INFO)
    caplog.clear()

    for method, path, sent_headers in [
        ("POST", "/api/v1/auth/register", None),  # signed out
        ("POST", "/api/v1/auth/tokens", None),
        ("PUT", f"/api/v1/me/ratings/{movie_id}", headers),  # signed in
    ]:
        error = assert_error(send(client, method, path, body, sent_headers), status)
        assert says in error["message"], (path, error)

    assert counts() == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_syntax_error_says_where(client):
    error = assert_error(send(client, "POST", "/api/v1/auth/register", '{\n "a": 1,\n}'), 400)
    assert error["details"]["json"]["line"] == 3 and error["details"]["json"]["column"] == 1


def test_json_within_the_bounds_is_served(client, movie_id):
    headers = auth_headers(client, "ann")
    # 31 levels of wrapping inside an ignored field, a 100-character number: both accepted.
    body = '{"rating": 4.5' + "0" * 96 + ', "x": ' + "[" * 31 + "]" * 31 + "}"
    response = send(client, "PUT", f"/api/v1/me/ratings/{movie_id}", body, headers)
    assert response.status_code in (200, 201, 422), response.get_data(as_text=True)
    assert response.status_code != 400


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e999999"])
def test_numbers_within_the_bounds_are_left_to_the_field(client, movie_id, value):
    headers = auth_headers(client, "ann")
    body = '{"rating": ' + value + "}"
    error = assert_error(send(client, "PUT", f"/api/v1/me/ratings/{movie_id}", body, headers), 422)
    assert "rating" in error["details"]["json"]


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [[1], {"b": []}]}', 4), ("[[[[]]]]", 4), ("[[1], [[2]]]", 3)],
)
def test_depth_counts_containers(text, depth):
    assert json_bodies.nesting_depth(json_bodies.parse_bounded(text)) == depth
