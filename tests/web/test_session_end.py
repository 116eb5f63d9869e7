"""Sessions that end: sign-out, "sign out everywhere" and a password change void the session
and remember-me cookies issued before, even copies replayed from elsewhere; remember-me lasts
REMEMBER_DAYS."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recommender.app import create_app
from recommender.extensions import db
from recommender.models import User
from recommender.services import accounts
from recommender.settings import app_settings, load_settings
from tests.api.helpers import assert_error, bearer
from tests.api.helpers import sign_in as token_for
from tests.conftest import make_environ
from tests.web.conftest import PASSWORD, csrf_token, post

NEW_PASSWORD = "a brand new passphrase"
COOKIES = ("session", "remember_token")


def remembered_browser(app: Flask, username: str = "alice") -> FlaskClient:
    """A browser signed in with "keep me signed in" (the account is made if need be)."""
    if db.session.query(User).filter_by(username=username).first() is None:
        accounts.create_user(
            db.session, username, PASSWORD, hash_method=app_settings(app).password_hash_method
        )
    browser = app.test_client()
    response = browser.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "remember": "1",
            "csrf_token": csrf_token(browser),
        },
    )
    assert response.status_code == 302
    return browser


def copy_of(browser: FlaskClient, app: Flask, *names: str) -> FlaskClient:
    """Another client holding copies of ``browser``'s cookies ``names`` (a stolen cookie)."""
    thief = app.test_client()
    for name in names:
        cookie = browser.get_cookie(name)
        assert cookie is not None, name
        thief.set_cookie(name, cookie.value)
    return thief


def signed_in(client: FlaskClient) -> bool:
    answer = client.get("/ratings")
    assert answer.status_code in (200, 302)
    return answer.status_code == 200


def test_sign_out_voids_the_old_session_and_remember_cookies(app):
    browser = remembered_browser(app)
    old_session = copy_of(browser, app, "session")
    old_remember = copy_of(browser, app, "remember_token")
    # Before sign-out each copy opens the page: the replays below can fail.
    assert signed_in(old_session) and signed_in(copy_of(browser, app, "remember_token"))

    assert post(browser, "/logout", {}, htmx=False).status_code == 302

    assert not signed_in(browser)
    assert not signed_in(old_session)
    assert not signed_in(old_remember)


def test_signing_in_again_after_sign_out_works(app):
    browser = remembered_browser(app)
    post(browser, "/logout", {}, htmx=False)
    assert signed_in(remembered_browser(app))


def test_a_cookie_without_an_epoch_is_refused(app):
    # The form every session had before epochs (and a forged one's): {"_user_id": "<id>"}.
    user = accounts.create_user(db.session, "alice", PASSWORD, hash_method="pbkdf2:sha256:1000")
    forged = app.test_client()
    serializer = app.session_interface.get_signing_serializer(app)
    for user_id in (str(user.id), f"{user.id}:x", f"{user.id}:{user.session_epoch + 1}"):
        forged.set_cookie("session", serializer.dumps({"_user_id": user_id, "_fresh": True}))
        assert not signed_in(forged), user_id
    forged.set_cookie("session", serializer.dumps({"_user_id": f"{user.id}:{user.session_epoch}"}))
    assert signed_in(forged)  # the same cookie with the current epoch: the check is the epoch


def test_sign_out_everywhere_ends_every_browser_and_token(app):
    first, second = remembered_browser(app), remembered_browser(app)
    token = token_for(app.test_client(), "alice")
    stolen = copy_of(second, app, "remember_token")

    page = first.get("/account").get_data(as_text=True)
    assert 'action="/account/sign-out-everywhere"' in page
    answer = post(first, "/account/sign-out-everywhere", {}, htmx=False)

    assert answer.status_code == 302
    for browser in (first, second, stolen):
        assert not signed_in(browser)
    assert_error(app.test_client().get("/api/v1/me/ratings", headers=bearer(token)), 401)


def test_sign_out_everywhere_needs_the_csrf_token(app):
    browser = remembered_browser(app)
    assert browser.post("/account/sign-out-everywhere").status_code == 400
    assert signed_in(browser)


def test_api_revoke_all_tokens_ends_every_token_and_session(app):
    browser = remembered_browser(app)
    api = app.test_client()
    first, second = token_for(api, "alice"), token_for(api, "alice")

    answer = api.delete("/api/v1/auth/tokens?all=true", headers=bearer(first))

    assert answer.status_code == 204
    for token in (first, second):
        assert_error(api.get("/api/v1/me/ratings", headers=bearer(token)), 401)
    assert not signed_in(browser)


def test_api_revoke_without_all_ends_only_that_token(app):
    browser = remembered_browser(app)
    api = app.test_client()
    first, second = token_for(api, "alice"), token_for(api, "alice")

    assert api.delete("/api/v1/auth/tokens", headers=bearer(first)).status_code == 204

    assert_error(api.get("/api/v1/me/ratings", headers=bearer(first)), 401)
    assert api.get("/api/v1/me/ratings", headers=bearer(second)).status_code == 200
    assert signed_in(browser)


def test_revoking_all_leaves_other_users_alone(app):
    remembered_browser(app, "bob")
    bob = remembered_browser(app, "bob")
    api = app.test_client()
    bobs_token = token_for(api, "bob")
    remembered_browser(app)
    alices_token = token_for(api, "alice")

    api.delete("/api/v1/auth/tokens?all=true", headers=bearer(alices_token))

    assert signed_in(bob)
    assert api.get("/api/v1/me/ratings", headers=bearer(bobs_token)).status_code == 200


def test_remember_me_lasts_remember_days(app, database_url):
    week = create_app(environ=make_environ(database_url, REMEMBER_DAYS="7"))
    try:
        with week.app_context():
            browser = remembered_browser(week)
    finally:
        with week.app_context():
            db.engine.dispose()
    cookie = browser.get_cookie("remember_token")
    assert cookie is not None and cookie.expires is not None
    left = cookie.expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=7) - dt.timedelta(minutes=5) < left <= dt.timedelta(days=7)


@pytest.mark.parametrize(("value", "days"), [(None, 30), ("7", 7)])
def test_the_remember_days_setting(value, days):
    environ = {"RECOMMENDER_ENV": "development"} | ({"REMEMBER_DAYS": value} if value else {})
    config = load_settings(environ).flask_config()
    assert config["REMEMBER_COOKIE_DURATION"] == dt.timedelta(days=days)


def test_remember_days_must_be_a_positive_whole_number():
    with pytest.raises(ValueError, match="REMEMBER_DAYS must be at least 1, got 0"):
        load_settings({"RECOMMENDER_ENV": "development", "REMEMBER_DAYS": "0"})


def change_password_form(browser: FlaskClient, current: str, new: str, again: str | None = None):
    fields = {"current_password": current, "new_password": new, "new_password_again": again or new}
    return post(browser, "/account/password", fields, htmx=False)


def test_a_password_change_ends_every_other_session(app):
    here, elsewhere = remembered_browser(app), remembered_browser(app)
    stolen = copy_of(here, app, "session", "remember_token")
    token = token_for(app.test_client(), "alice")

    answer = change_password_form(here, PASSWORD, NEW_PASSWORD)

    assert answer.status_code == 302 and answer.headers["Location"] == "/account"
    assert signed_in(here)  # this browser stays signed in...
    assert not signed_in(elsewhere) and not signed_in(stolen)  # ...no other one
    assert_error(app.test_client().get("/api/v1/me/ratings", headers=bearer(token)), 401)
    # The new password signs in, the old one no longer does.
    api = app.test_client()
    assert token_for(api, "alice", NEW_PASSWORD)
    old = api.post("/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert_error(old, 401)


def test_the_browser_that_changed_the_password_stays_remembered(app):
    here = remembered_browser(app)
    change_password_form(here, PASSWORD, NEW_PASSWORD)
    assert signed_in(copy_of(here, app, "remember_token"))


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        ("wrong password", NEW_PASSWORD, None, "The current password is wrong"),
        (PASSWORD, "short", None, "Password must be at least 8 characters"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "The two new passwords differ"),
    ],
)
def test_a_refused_password_change_changes_nothing(app, current, new, again, message):
    here, elsewhere = remembered_browser(app), remembered_browser(app)

    answer = change_password_form(here, current, new, again)

    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert signed_in(here) and signed_in(elsewhere)
    assert token_for(app.test_client(), "alice", PASSWORD)


def test_the_api_changes_the_password_and_keeps_only_the_calling_token(app):
    browser = remembered_browser(app)
    api = app.test_client()
    calling, other = token_for(api, "alice"), token_for(api, "alice")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}

    answer = api.put("/api/v1/me/password", json=body, headers=bearer(calling))

    assert answer.status_code == 204
    assert api.get("/api/v1/me/ratings", headers=bearer(calling)).status_code == 200
    assert_error(api.get("/api/v1/me/ratings", headers=bearer(other)), 401)
    assert not signed_in(browser)
    assert token_for(api, "alice", NEW_PASSWORD)


def test_the_api_refuses_a_wrong_current_password_and_changes_nothing(app):
    browser = remembered_browser(app)
    api = app.test_client()
    calling, other = token_for(api, "alice"), token_for(api, "alice")
    body = {"current_password": "not it at all", "new_password": NEW_PASSWORD}

    answer = api.put("/api/v1/me/password", json=body, headers=bearer(calling))

    error = assert_error(answer, 422, "wrong_password")
    assert error["details"] == {"field": "current_password"}
    assert api.get("/api/v1/me/ratings", headers=bearer(other)).status_code == 200
    assert signed_in(browser)
    assert token_for(api, "alice", PASSWORD)
