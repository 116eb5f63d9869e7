"""Shared steps of the API tests: sign up, sign in, check the error shape."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.models import User
from recommender.services import accounts
from recommender.settings import current_settings

PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Return a fresh token for an existing account."""
    response = client.post("/api/v1/auth/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def auth_headers(client: FlaskClient, username: str) -> dict[str, str]:
    """Register ``username`` through the API and return headers carrying its token."""
    response = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 201, response.get_json()
    return bearer(sign_in(client, username))


def admin_headers(client: FlaskClient, username: str = "admin") -> dict[str, str]:
    """Create an administrator (as the CLI does) and return headers carrying its token."""
    accounts.create_user(
        db.session,
        username,
        PASSWORD,
        is_admin=True,
        hash_method=current_settings().password_hash_method,
    )
    return bearer(sign_in(client, username))


def user_id(username: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == username))


def ratings_version(username: str) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(User.ratings_version).where(User.username == username))


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Check ``response`` is the JSON error shape with ``status``; return its ``error``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]
