"""Sign-ins, token minting and sign-ups are rate-limited per client address: 429 JSON on the
API, a page in the browser, other endpoints unaffected, counters shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.services import accounts
from recommender.settings import ConfigError, app_settings, load_settings
from tests.api.helpers import PASSWORD, assert_error
from tests.conftest import PRODUCTION_SECRETS, unavailable
from tests.web.conftest import csrf_token

REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own, emptied of our keys after


@pytest.fixture
def fresh_limited(make_app: Callable[..., Flask]) -> Flask:
    """An app with its limits on (the test config leaves them off) and small.

    Built per test (after ``app``, which empties the database): RATELIMIT_ENABLED is read when
    the limiter is built, and a new app starts with fresh in-memory counters.
    """
    limited = make_app({"RATELIMIT_ENABLED": True}, LOGIN_RATE_LIMIT="3 per minute")
    return limited


def wrong_password(client: FlaskClient):
    return client.post("/api/v1/auth/tokens", json={"username": "alice", "password": "guess"})


def create_alice(app: Flask) -> None:
    accounts.create_user(
        db.session, "alice", PASSWORD, hash_method=app_settings(app).password_hash_method
    )


def test_the_test_config_leaves_limits_off_and_other_environments_on():
    testing = load_settings({"RECOMMENDER_ENV": "testing"}).flask_config()
    development = load_settings({"RECOMMENDER_ENV": "development"}).flask_config()
    assert testing["RATELIMIT_ENABLED"] is False
    assert development["RATELIMIT_ENABLED"] is True
    assert load_settings(PRODUCTION_SECRETS).login_rate_limit == "10 per minute"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LOGIN_RATE_LIMIT": "ten a minute"}, "LOGIN_RATE_LIMIT must be a rate limit"),
        ({"SIGNUP_RATE_LIMIT": "5 per fortnight"}, "SIGNUP_RATE_LIMIT must be a rate limit"),
        ({"RATELIMIT_STORAGE_URL": "mysql://x"}, "RATELIMIT_STORAGE_URL must be memory://"),
    ],
)
def test_malformed_limit_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"RECOMMENDER_ENV": "development", **environ})


def test_limits_are_kept_in_redis_when_the_cache_is(tmp_path):
    cache = load_settings(
        {"RECOMMENDER_ENV": "development", "CACHE_URL": "redis://h:6379/1"}
    ).flask_config()
    assert cache["RATELIMIT_STORAGE_URI"] == "redis://h:6379/1"
    explicit = load_settings(
        {
            "RECOMMENDER_ENV": "development",
            "CACHE_URL": "redis://h:6379/1",
            "RATELIMIT_STORAGE_URL": "redis://other:6379/2",
        }
    ).flask_config()
    assert explicit["RATELIMIT_STORAGE_URI"] == "redis://other:6379/2"
    development = load_settings({"RECOMMENDER_ENV": "development"}).flask_config()
    assert development["RATELIMIT_STORAGE_URI"] == "memory://"


def test_failed_api_sign_ins_past_the_limit_get_a_429_json_error(fresh_limited):
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    for _ in range(3):
        assert_error(wrong_password(client), 401)
    refused = wrong_password(client)
    error = assert_error(refused, 429, "too_many_requests")
    assert "3 per 1 minute" in error["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Even the right password waits now: the limit stops guessing, whatever the guess.
    right = client.post("/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert_error(right, 429)


def test_successful_sign_ins_do_not_use_up_the_sign_in_limit(fresh_limited):
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 201


def test_other_endpoints_are_unaffected_by_an_exhausted_limit(fresh_limited):
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    for _ in range(4):
        wrong_password(client)
    assert_error(wrong_password(client), 429)
    assert client.get("/api/v1/movies").status_code == 200
    assert client.get("/login").status_code == 200  # the form itself; only POSTs count
    registered = client.post(
        "/api/v1/auth/register", json={"username": "bob", "password": PASSWORD}
    )
    assert registered.status_code == 201


def test_the_sign_in_form_and_the_token_endpoint_share_one_counter(fresh_limited):
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    token = csrf_token(client)
    for _ in range(2):
        assert_error(wrong_password(client), 401)
    form = {"username": "alice", "password": "guess", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 422  # third failure
    page = client.post("/login", data=form)
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Too many attempts" in text and "3 per 1 minute" in text


def test_limits_are_per_client_address(fresh_limited):
    create_alice(fresh_limited)
    attacker = fresh_limited.test_client()
    for _ in range(4):
        wrong_password(attacker)
    assert_error(wrong_password(attacker), 429)
    elsewhere = fresh_limited.test_client()
    response = elsewhere.post(
        "/api/v1/auth/tokens",
        json={"username": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 201


def test_token_minting_and_sign_ups_have_their_own_limits(make_app):
    limited = make_app(
        {"RATELIMIT_ENABLED": True}, TOKEN_RATE_LIMIT="2 per hour", SIGNUP_RATE_LIMIT="2 per hour"
    )
    create_alice(limited)
    client = limited.test_client()
    credentials = {"username": "alice", "password": PASSWORD}
    for _ in range(2):
        assert client.post("/api/v1/auth/tokens", json=credentials).status_code == 201
    assert_error(client.post("/api/v1/auth/tokens", json=credentials), 429)

    for name in ("bob", "carol"):
        body = {"username": name, "password": PASSWORD}
        assert client.post("/api/v1/auth/register", json=body).status_code == 201
    assert_error(
        client.post("/api/v1/auth/register", json={"username": "dave", "password": PASSWORD}), 429
    )
    signup = client.post(
        "/signup",
        data={
            "username": "erin",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert signup.status_code == 429 and "Too many attempts" in signup.get_data(as_text=True)


def test_taken_names_count_towards_the_sign_up_limit(make_app):
    # Else POST /auth/register answers 409 or 201, unthrottled, for every name an attacker tries.
    limited = make_app({"RATELIMIT_ENABLED": True}, SIGNUP_RATE_LIMIT="3 per hour")
    create_alice(limited)
    client = limited.test_client()
    taken = {"username": "alice", "password": PASSWORD}
    for _ in range(2):
        assert_error(client.post("/api/v1/auth/register", json=taken), 409)
    signup = client.post(
        "/signup", data={**taken, "password_again": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert signup.status_code == 422  # the form's "taken" counts as well
    assert_error(client.post("/api/v1/auth/register", json=taken), 429)
    fresh = {"username": "newcomer", "password": PASSWORD}
    assert_error(client.post("/api/v1/auth/register", json=fresh), 429)


@pytest.fixture
def redis_limits() -> Iterator[redis.Redis]:
    """Redis database 13, emptied of the limiter's keys afterwards."""
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    yield connection
    for key in connection.scan_iter("*recommender-limits*"):
        connection.delete(key)
    connection.close()


def test_two_app_servers_share_their_counters_through_redis(make_app, redis_limits):
    # A unique limit per run: Flask-Limiter keys counters by the limit, so reruns never meet.
    limit = f"3 per {uuid.uuid4().int % 1000 + 1000} seconds"
    servers = [
        make_app(
            {"RATELIMIT_ENABLED": True}, RATELIMIT_STORAGE_URL=REDIS_URL, LOGIN_RATE_LIMIT=limit
        )
        for _ in range(2)
    ]
    create_alice(servers[0])
    first, second = (server.test_client() for server in servers)
    assert_error(wrong_password(first), 401)
    assert_error(wrong_password(second), 401)
    assert_error(wrong_password(first), 401)
    assert_error(wrong_password(second), 429)
    assert list(redis_limits.scan_iter("*recommender-limits*"))


def test_an_unreachable_redis_falls_back_to_counting_in_memory(make_app):
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    server = make_app(
        {"RATELIMIT_ENABLED": True},
        RATELIMIT_STORAGE_URL="redis://127.0.0.1:9/0",
        LOGIN_RATE_LIMIT="2 per minute",
    )
    create_alice(server)
    client = server.test_client()
    assert_error(wrong_password(client), 401)  # sign-ins go on while Redis is down
    assert_error(wrong_password(client), 401)
    assert_error(wrong_password(client), 429)  # and are still limited, per process


def test_behind_a_trusted_proxy_limits_count_the_forwarded_address(make_app):
    limited = make_app(
        {"RATELIMIT_ENABLED": True}, LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXIES="1"
    )
    create_alice(limited)
    client = limited.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}  # Every request arrives from the one proxy.

    def sign_in(client_address: str, password: str):
        return client.post(
            "/api/v1/auth/tokens",
            json={"username": "alice", "password": password},
            headers={"X-Forwarded-For": client_address},
            environ_base=proxy,
        )

    for _ in range(4):
        sign_in("198.51.100.1", "guess")
    assert_error(sign_in("198.51.100.1", "guess"), 429)
    assert sign_in("198.51.100.2", PASSWORD).status_code == 201


def change_password(client: FlaskClient, headers: dict[str, str], current: str):
    body = {"current_password": current, "new_password": "a new and long password"}
    return client.put("/api/v1/me/password", json=body, headers=headers)


def test_wrong_current_passwords_on_a_password_change_are_limited_with_sign_ins(fresh_limited):
    # A stolen token or session must not become an unthrottled password oracle.
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    token = client.post("/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    for _ in range(2):
        assert_error(change_password(client, headers, "guess"), 422)
    assert_error(wrong_password(client), 401)  # one counter with the failed sign-ins
    refused = change_password(client, headers, "guess")
    error = assert_error(refused, 429, "too_many_requests")
    assert "3 per 1 minute" in error["message"]
    assert_error(change_password(client, headers, PASSWORD), 429)  # whatever the guess
    assert client.get("/api/v1/me/ratings", headers=headers).status_code == 200


def test_the_account_password_form_is_limited_too(fresh_limited):
    create_alice(fresh_limited)
    client = fresh_limited.test_client()
    signed_in = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert signed_in.status_code == 302
    token = csrf_token(client, "/account")
    form = {
        "current_password": "guess",
        "new_password": "a new and long password",
        "new_password_again": "a new and long password",
        "csrf_token": token,
    }
    for _ in range(3):
        assert client.post("/account/password", data=form).status_code == 422
    page = client.post("/account/password", data=form)
    assert page.status_code == 429 and "Too many attempts" in page.get_data(as_text=True)
