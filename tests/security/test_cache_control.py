"""``Cache-Control: no-store`` on every answer that depends on who asks: every page (each
carries the session's CSRF token), every API answer to a token or to a POST; the public
catalogue of the API and the static files stay cacheable."""

from __future__ import annotations

from tests.api.helpers import auth_headers
from tests.web.conftest import PASSWORD, csrf_token
from tests.web.conftest import sign_in as sign_in_page


def no_store(response) -> bool:
    return response.headers.get("Cache-Control") == "no-store"


def test_personal_pages_are_not_stored(app):
    browser = sign_in_page(app, "alice")
    for path in ("/ratings", "/recommendations", "/account", "/"):
        assert no_store(browser.get(path)), path


def test_anonymous_pages_are_not_stored_either(client):
    # The sign-in form embeds the visitor's CSRF token: a cached copy would fail for the next.
    assert no_store(client.get("/login"))


def test_api_answers_to_a_token_are_not_stored(client):
    headers = auth_headers(client, "alice")
    assert no_store(client.get("/api/v1/me/ratings", headers=headers))
    assert no_store(client.get("/api/v1/movies", headers=headers))


def test_a_new_token_is_not_stored(client):
    auth_headers(client, "alice")
    answer = client.post("/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 201 and no_store(answer)


def test_the_public_catalogue_and_static_files_stay_cacheable(client):
    assert not no_store(client.get("/api/v1/movies"))
    assert not no_store(client.get("/api/v1/openapi.json"))
    static = client.get("/static/style.css")
    assert static.status_code == 200 and not no_store(static)
    static.close()


def test_the_header_is_set_on_errors_too(client):
    csrf_token(client)  # a session exists
    assert no_store(client.get("/api/v1/me/ratings", headers={"Authorization": "Bearer nope"}))
