"""Browser-side fixtures: signed-in test clients (session cookie + CSRF token) and a catalogue."""

from __future__ import annotations

import re

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.models import Movie
from recommender.services import accounts
from recommender.settings import app_settings
from tests.factories import make_movie

PASSWORD = "correct horse battery"
GENRES = ("Drama", "Comedy", "Action", "Horror", "Romance", "Thriller", "Animation", "Western")


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's meta tag."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(app: Flask, username: str, *, admin: bool = False) -> FlaskClient:
    """A new client signed in as a new user ``username`` through the sign-in form."""
    accounts.create_user(
        db.session,
        username,
        PASSWORD,
        is_admin=admin,
        hash_method=app_settings(app).password_hash_method,
    )
    client = app.test_client()
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post(client: FlaskClient, path: str, data: dict[str, str], *, htmx: bool = True):
    """POST a form with the session's CSRF token, as htmx (header token) or as a plain form."""
    token = csrf_token(client, "/")
    if htmx:
        return client.post(path, data=data, headers={"HX-Request": "true", "X-CSRFToken": token})
    return client.post(path, data={**data, "csrf_token": token})


@pytest.fixture(autouse=True)
def _user_per_request(request: pytest.FixtureRequest) -> None:
    """Forget the signed-in user and CSRF token cached in ``g`` between requests.

    The ``app`` fixture keeps one app context open for the whole test, so every request shares
    its ``g``, where Flask-Login and Flask-WTF cache them; a server gives each request its own.
    The browser tests serve their own app from a thread and need none of this.
    """
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")

    @app.before_request
    def _forget_cached_user() -> None:
        g.pop("_login_user", None)
        g.pop("csrf_token", None)


@pytest.fixture
def catalogue(app: Flask) -> list[Movie]:
    """Sixteen movies over eight genres with distinct years, runtimes and vote counts."""
    return [
        make_movie(
            f"Film {i:02d}",
            1970 + 3 * i,
            (GENRES[i % len(GENRES)],),
            runtime_min=80 + 5 * i,
            imdb_rating=5.0 + (i % 5) * 0.8,
            imdb_votes=1000 * (i + 1),
        )
        for i in range(16)
    ]


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    return sign_in(app, "alice")


@pytest.fixture
def bob(app: Flask) -> FlaskClient:
    return sign_in(app, "bob")


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return sign_in(app, "root", admin=True)
