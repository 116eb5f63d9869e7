"""The browser forms compare usernames regardless of case (issue 14 item 5)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.models import User
from tests.web.conftest import PASSWORD, csrf_token


def test_sign_up_of_alice_in_another_case_is_taken(client: FlaskClient, app: Flask, alice):
    data = {"username": "ALICE", "password": PASSWORD, "password_again": PASSWORD}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert "User &#39;ALICE&#39; already exists" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 1


def test_sign_in_accepts_the_username_in_any_case(client: FlaskClient, app: Flask, alice):
    data = {"username": "AlIcE", "password": PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=data)
    assert response.status_code == 302
    page = client.get("/ratings").get_data(as_text=True)
    assert "alice" in page and "AlIcE" not in page  # shown as the account spells it
