"""Input written to break things does nothing: SQL and LIKE wildcards are matched literally,
HTML is escaped, oversized bodies get a clear 413 and odd numbers never reach the database."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.api.helpers import admin_headers, assert_error
from tests.factories import make_movie
from tests.web.conftest import csrf_token

SCRIPT = "<script>alert(1)</script>"
TITLES = ("Plain Film", "100% Love", "snake_case", "Back\\slash", "It's", SCRIPT)


@pytest.fixture
def odd_titles(app: Flask) -> None:
    for i, title in enumerate(TITLES):
        make_movie(title, 1990 + i)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("' OR 1=1 --", []),
        ("'; DROP TABLE movies; --", []),
        ('" OR ""="', []),
        ("%", ["100% Love"]),
        ("_", ["snake_case"]),
        ("\\", ["Back\\slash"]),
        ("'", ["It's"]),
        ("%_%", []),
        (SCRIPT, [SCRIPT]),
    ],
)
def test_api_search_matches_sql_and_wildcards_literally(client, odd_titles, q, expected):
    response = client.get("/api/v1/movies", query_string={"q": q})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert sorted(m["title"] for m in response.get_json()["items"]) == sorted(expected)
    assert client.get("/api/v1/movies").get_json()["total"] == len(TITLES)  # nothing dropped


@pytest.mark.parametrize("field", ["q", "genre"])
def test_api_search_refuses_nul_characters_with_a_422(client, odd_titles, field):
    error = assert_error(client.get("/api/v1/movies", query_string={field: "a\x00b"}), 422)
    assert error["details"]["query"][field] == ["Must not contain NUL characters."]


@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/auth/tokens"])
def test_credentials_with_nul_characters_are_a_422(client, path):
    body = {"username": "eve\x00", "password": "correct horse battery"}
    error = assert_error(client.post(path, json=body), 422)
    assert "username" in error["details"]["json"]


@pytest.mark.parametrize("genre", ["' OR 1=1 --", "%", SCRIPT])
def test_api_genre_filter_is_literal(client, odd_titles, genre):
    response = client.get("/api/v1/movies", query_string={"genre": genre})
    assert response.status_code == 200
    assert response.get_json()["items"] == []


@pytest.mark.parametrize("q", [SCRIPT, "' OR 1=1 --", "%", '"><img src=x onerror=alert(1)>'])
def test_catalogue_page_escapes_what_was_searched(client, odd_titles, q):
    response = client.get("/", query_string={"q": q})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert SCRIPT not in page
    assert "<img src=x" not in page


def test_a_movie_titled_like_a_script_is_shown_as_text(client, odd_titles):
    page = client.get("/", query_string={"q": "script"}).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page


@pytest.mark.parametrize(
    "query",
    [
        {"page": "99999999999999999999999"},
        {"page": "-5"},
        {"page": "--5"},
        {"page": "²"},
        {"year_min": "99999999999999999999999"},
        {"year_max": "-99999999999999999999999"},
        {"year_min": "٣"},  # an Arabic-Indic digit: str.isdigit says yes, int() says maybe
        {"sort": "title; DROP TABLE movies"},
        {"genre": "' OR 1=1 --"},
    ],
)
def test_catalogue_page_survives_odd_numbers_and_keys(client, odd_titles, query):
    response = client.get("/", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)[-500:]
    assert client.get("/api/v1/movies").get_json()["total"] == len(TITLES)


@pytest.mark.parametrize("page", ["99999999999999999999999", "1e3", "-1", "0x10"])
def test_api_paging_refuses_odd_numbers_with_a_422(client, page):
    assert_error(client.get("/api/v1/movies", query_string={"page": page}), 422)


def test_an_oversized_upload_is_a_413_json_error_naming_the_limit(make_app):
    small = make_app(MAX_UPLOAD_MB="1")
    client = small.test_client()
    # Encoded in memory: the test client would spool a large form to a file it never closes.
    boundary, body = encode_multipart(
        {"kind": "catalogue", "file": FileStorage(io.BytesIO(b"x" * 1024**2), "big.csv")}
    )
    response = client.post(
        "/api/v1/admin/imports",
        headers=admin_headers(client),
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    error = assert_error(response, 413, "payload_too_large")
    assert "larger than the limit of 1 MiB" in error["message"]
    assert "MAX_UPLOAD_MB" in error["message"]


def test_an_oversized_form_in_the_browser_gets_the_413_page(make_app):
    small = make_app(MAX_UPLOAD_MB="1")
    body = b"username=" + b"a" * 1024**2
    response = small.test_client().post(
        "/login", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert "That file is too large" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_forms_with_nul_characters_are_refused_not_crashed(client, path):
    form = {
        "username": "eve\x00",
        "password": "pass\x00word",
        "password_again": "pass\x00word",
        "csrf_token": csrf_token(client),
    }
    response = client.post(path, data=form)
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", [{"q": "a\x00b"}, {"genre": "\x00"}, {"page\x00": "1"}])
def test_pages_refuse_nul_characters_in_the_query(client, odd_titles, query):
    response = client.get("/", query_string=query)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "NUL character" in response.get_data(as_text=True)
