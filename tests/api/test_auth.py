"""/api/v1/auth: registration, tokens, sign-out, and what a token does and does not open."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from recommender.app import create_app
from recommender.extensions import db
from recommender.models import ApiToken, User, utcnow
from recommender.services import accounts
from recommender.settings import ConfigError, load_settings
from tests.api.helpers import PASSWORD, assert_error, auth_headers, bearer, sign_in
from tests.conftest import make_environ

ME = "/api/v1/me/ratings"


def register(client, username: str = "alice", password: str = PASSWORD):
    return client.post("/api/v1/auth/register", json={"username": username, "password": password})


def test_register_returns_the_new_user_without_secrets(client):
    response = register(client)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "username", "is_admin", "created_at"}
    assert body["username"] == "alice" and body["is_admin"] is False
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo is not None
    stored = db.session.get(User, body["id"])
    assert stored.password_hash and PASSWORD not in stored.password_hash


def test_register_cannot_make_an_admin(client):
    response = client.post(
        "/api/v1/auth/register",
        json={"username": "mallory", "password": PASSWORD, "is_admin": True},
    )
    # Unknown fields are refused outright rather than silently ignored.
    assert_error(response, 422, "validation_error")
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_register_a_taken_name_is_409_and_keeps_the_first_account(client):
    register(client, "alice", PASSWORD)
    error = assert_error(register(client, "alice", "another password"), 409, "conflict")
    assert "alice" in error["message"]
    assert sign_in(client, "alice", PASSWORD)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("al", PASSWORD, "Username must be 3 to 80"),
        ("alice smith", PASSWORD, "Username must be 3 to 80"),
        ("x" * 81, PASSWORD, "Username must be 3 to 80"),
        ("alice", "short", "Password must be at least 8 characters"),
    ],
)
def test_register_refuses_bad_names_and_passwords_with_422(client, username, password, message):
    error = assert_error(register(client, username, password), 422, "invalid_input")
    assert message in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "alice"}, "password"),
        ({"username": 42, "password": PASSWORD}, "username"),
        ({"username": "alice", "password": None}, "password"),
    ],
)
def test_register_with_missing_or_mistyped_fields_is_422_naming_the_field(client, body, field):
    error = assert_error(client.post("/api/v1/auth/register", json=body), 422, "validation_error")
    assert field in error["details"]["json"]


def test_malformed_json_is_a_json_400(client):
    response = client.post(
        "/api/v1/auth/register", data='{"username": "alice",', content_type="application/json"
    )
    assert_error(response, 400, "bad_request")


def test_token_is_issued_for_right_credentials_and_opens_the_api(client):
    register(client)
    response = client.post("/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "expires_at"}
    assert client.get(ME, headers=bearer(body["token"])).status_code == 200
    # Only a hash of the token is stored.
    stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert len(stored) == 1 and body["token"] not in stored[0]


def test_token_lasts_the_configured_number_of_hours(app, database_url):
    two_hours = create_app(environ=make_environ(database_url), config={"TOKEN_TTL_HOURS": 2})
    client = two_hours.test_client()
    register(client)
    before = utcnow()
    body = client.post(
        "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
    ).get_json()
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(hours=2) <= expires_at - before < dt.timedelta(hours=2, minutes=1)
    with two_hours.app_context():
        db.engine.dispose()


def test_token_lifetime_defaults_to_thirty_days_and_reads_token_ttl_hours():
    assert load_settings({"RECOMMENDER_ENV": "testing"}).token_ttl_hours == 720
    assert (
        load_settings({"RECOMMENDER_ENV": "testing", "TOKEN_TTL_HOURS": "1"}).token_ttl_hours == 1
    )
    with pytest.raises(ConfigError, match="TOKEN_TTL_HOURS must be at least 1, got 0"):
        load_settings({"RECOMMENDER_ENV": "testing", "TOKEN_TTL_HOURS": "0"})


@pytest.mark.parametrize(
    ("username", "password"),
    # (Another case of the name is the same account: tests/services/test_usernames.py.)
    [("alice", "wrong password"), ("nobody", PASSWORD), ("ALICE", "wrong password")],
)
def test_wrong_credentials_are_401_and_do_not_say_which_part_was_wrong(client, username, password):
    register(client)
    response = client.post("/api/v1/auth/tokens", json={"username": username, "password": password})
    error = assert_error(response, 401, "invalid_credentials")
    assert error["message"] == "Invalid username or password"
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_dataset_users_without_a_password_cannot_get_a_token(client):
    db.session.add(User(username="ml_user_1", password_hash=None, source="movielens"))
    db.session.commit()
    response = client.post(
        "/api/v1/auth/tokens", json={"username": "ml_user_1", "password": PASSWORD}
    )
    assert_error(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
    ],
)
def test_requests_without_a_valid_token_are_401_json(client, headers):
    response = client.get(ME, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_401(client):
    register(client)
    user = db.session.scalar(sa.select(User).where(User.username == "alice"))
    token, _ = accounts.issue_token(
        db.session, user, ttl=dt.timedelta(hours=1), now=utcnow() - dt.timedelta(hours=2)
    )
    assert_error(client.get(ME, headers=bearer(token)), 401, "unauthorized")


def test_sign_out_revokes_only_the_token_used(client):
    headers = auth_headers(client, "alice")
    other = bearer(sign_in(client, "alice"))

    response = client.delete("/api/v1/auth/tokens", headers=headers)

    assert response.status_code == 204 and response.get_data() == b""
    assert_error(client.get(ME, headers=headers), 401, "unauthorized")
    assert_error(client.delete("/api/v1/auth/tokens", headers=headers), 401, "unauthorized")
    assert client.get(ME, headers=other).status_code == 200


def test_sign_out_needs_a_token(client):
    assert_error(client.delete("/api/v1/auth/tokens"), 401, "unauthorized")


def test_a_session_cookie_is_never_accepted_instead_of_a_token(client):
    headers = auth_headers(client, "alice")
    client.get(ME, headers=headers)
    # Whatever cookies the client now holds, a request without the header is refused.
    assert_error(client.get(ME), 401, "unauthorized")
