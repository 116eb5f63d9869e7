"""Usernames starting with a dataset prefix ("ml-", in any case) are reserved for imports:
sign-up through the API and the form refuses them with a 422 naming the rule; an import
still creates them, so registering "ml-100k-1" no longer blocks a later import."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import User
from tests.api.helpers import PASSWORD, assert_error
from tests.web.conftest import csrf_token

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"


def user_count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.mark.parametrize("name", ["ml-100k-1", "ML-1m-2", "Ml-anything", "ml-"])
def test_api_sign_up_refuses_a_dataset_prefix_in_any_case(client, name):
    response = client.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD})
    error = assert_error(response, 422, "invalid_input")
    assert "starting with 'ml-'" in error["message"] and "reserved" in error["message"]
    assert error["details"] == {"username": name}
    assert user_count() == 0


@pytest.mark.parametrize("name", ["mlfan", "ml_fan", "html-lover", "xml-1"])
def test_names_that_only_resemble_the_prefix_are_free(client, name):
    response = client.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()


def test_the_sign_up_form_refuses_a_dataset_prefix(client):
    data = {"username": "ML-1M-1", "password": PASSWORD, "password_again": PASSWORD}
    response = client.post("/signup", data={**data, "csrf_token": csrf_token(client, "/signup")})
    assert response.status_code == 422
    assert "reserved for the users of imported rating datasets" in response.get_data(as_text=True)
    assert user_count() == 0


def test_an_import_still_creates_its_users_after_a_refused_sign_up(client):
    client.post("/api/v1/auth/register", json={"username": "ml-1m-1", "password": PASSWORD})
    import_movielens(db.session, FIXTURES / "1m", scale=RatingScale(0.5, 5.0, 0.5))
    names = set(db.session.scalars(sa.select(User.username)))
    assert "ml-1m-1" in names and all(name.startswith("ml-1m-") for name in names)
