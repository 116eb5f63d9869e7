"""Session and remember-me cookies: HttpOnly and SameSite always, Secure in production;
SECRET_KEY is required in production."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.services import accounts
from recommender.settings import ConfigError, app_settings, load_settings
from tests.conftest import PRODUCTION, PRODUCTION_SECRETS
from tests.web.conftest import PASSWORD


def sign_in_remembered(app: Flask, base_url: str) -> dict[str, str]:
    """Sign in through the form with "keep me signed in"; return the Set-Cookie header by name."""
    accounts.create_user(
        db.session, "alice", PASSWORD, hash_method=app_settings(app).password_hash_method
    )
    client = app.test_client()
    token = csrf_token_at(client, base_url)
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "remember": "1", "csrf_token": token},
        base_url=base_url,
        # Flask-WTF checks the referrer of HTTPS form posts.
        headers={"Referer": f"{base_url}/login"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-300:]
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def csrf_token_at(client: FlaskClient, base_url: str) -> str:
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match
    return match.group(1)


def flags(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def samesite(header: str) -> str:
    (value,) = [p.split("=")[1] for p in header.split("; ") if p.lower().startswith("samesite=")]
    return value


def test_cookies_are_httponly_and_samesite_lax_in_testing(app):
    cookies = sign_in_remembered(app, "http://localhost")
    assert set(cookies) >= {"session", "remember_token"}
    for name in ("session", "remember_token"):
        assert "httponly" in flags(cookies[name]), name
        assert samesite(cookies[name]) == "Lax", name
        assert "secure" not in flags(cookies[name]), name  # plain http in development


def test_cookies_are_secure_in_production(make_app):
    production = make_app(**PRODUCTION)
    with production.app_context():
        cookies = sign_in_remembered(production, "https://localhost")
    for name in ("session", "remember_token"):
        assert {"secure", "httponly"} <= flags(cookies[name]), name
        assert samesite(cookies[name]) == "Lax", name


@pytest.mark.parametrize("env_name", ["development", "testing", "production"])
def test_cookie_settings_for_each_environment(env_name):
    config = load_settings({**PRODUCTION_SECRETS, "RECOMMENDER_ENV": env_name}).flask_config()
    production = env_name == "production"
    for prefix in ("SESSION", "REMEMBER"):
        assert config[f"{prefix}_COOKIE_HTTPONLY"] is True
        assert config[f"{prefix}_COOKIE_SAMESITE"] == "Lax"
        assert config[f"{prefix}_COOKIE_SECURE"] is production


@pytest.mark.parametrize("environ", [{}, {"RECOMMENDER_ENV": "production", "SECRET_KEY": ""}])
def test_production_refuses_to_start_without_a_secret_key(environ):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set in production"):
        load_settings(environ)
