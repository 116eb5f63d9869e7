"""Sign up, sign in, sign out, CSRF on every form, cookie settings, and the API's independence."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.models import User
from recommender.settings import load_settings
from tests.conftest import PRODUCTION
from tests.web.conftest import PASSWORD, csrf_token


def test_sign_up_signs_in_and_offers_onboarding(client: FlaskClient, app: Flask):
    data = {"username": "carol", "password": PASSWORD, "password_again": PASSWORD}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 302 and response.headers["Location"] == "/welcome"
    page = client.get("/welcome").get_data(as_text=True)
    assert "Welcome, carol!" in page and "Sign out" in page
    assert db.session.query(User).filter_by(username="carol").one().password_hash


@pytest.mark.parametrize(
    ("username", "password", "again", "message"),
    [
        ("x", PASSWORD, PASSWORD, "Username must be 3 to 80 letters"),
        ("carol", "short", "short", "Password must be at least 8 characters"),
        ("carol", PASSWORD, "something else", "The two passwords differ."),
    ],
)
def test_sign_up_refuses_bad_input_with_the_reason(client, app, username, password, again, message):
    data = {"username": username, "password": password, "password_again": again}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_sign_up_refuses_a_taken_name(client, app, alice):
    data = {"username": "alice", "password": PASSWORD, "password_again": PASSWORD}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_sign_in_with_a_wrong_password_fails_and_stays_signed_out(client, app, alice):
    data = {"username": "alice", "password": "wrong password", "csrf_token": csrf_token(client)}
    response = client.post("/login", data=data)
    assert response.status_code == 422
    assert "Invalid username or password" in response.get_data(as_text=True)
    assert client.get("/ratings").status_code == 302


def test_sign_in_goes_back_to_a_local_next_page_only(client, app, alice):
    token = csrf_token(client)
    data = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", data={**data, "next": "https://evil.example/"})
    assert response.headers["Location"] == "/welcome"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    response = client.post(
        "/login", data={**data, "csrf_token": csrf_token(client), "next": "/ratings"}
    )
    assert response.headers["Location"] == "/ratings"


def test_pages_for_users_send_anonymous_visitors_to_sign_in(client, app):
    for path in ("/welcome", "/ratings", "/recommendations", "/admin"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_sign_out_ends_the_session(alice):
    response = alice.post("/logout", data={"csrf_token": csrf_token(alice, "/")})
    assert response.status_code == 302
    assert "You are signed out." in alice.get("/").get_data(as_text=True)
    assert alice.get("/ratings").status_code == 302


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/signup", {"username": "carol", "password": PASSWORD, "password_again": PASSWORD}),
        ("/login", {"username": "alice", "password": PASSWORD}),
        ("/logout", {}),
        ("/ratings/1", {"rating": "4"}),
        ("/ratings/1/delete", {}),
        ("/admin/import", {"kind": "catalogue"}),
    ],
)
def test_forms_without_a_csrf_token_are_refused(alice, path, data):
    response = alice.post(path, data=data)
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)
    # Still signed in: nothing happened.
    assert alice.get("/ratings").status_code == 200


def test_a_wrong_csrf_token_is_refused(alice):
    response = alice.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert alice.get("/ratings").status_code == 200


def test_the_default_test_app_has_csrf_on(app):
    assert app.config["WTF_CSRF_ENABLED"] is True


def test_session_cookie_is_http_only_and_same_site_lax(client, app, alice):
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # tests run over http


def test_cookies_are_secure_in_production_only():
    production = load_settings(PRODUCTION).flask_config()
    development = load_settings({"RECOMMENDER_ENV": "development"}).flask_config()
    assert production["SESSION_COOKIE_SECURE"] and production["REMEMBER_COOKIE_SECURE"]
    assert not development["SESSION_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"] and production["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_the_api_rejects_the_session_cookie(alice):
    response = alice.get("/api/v1/me/ratings")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_api_needs_no_csrf_token(client, app):
    body = {"username": "dave", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
