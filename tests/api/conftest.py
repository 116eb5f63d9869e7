"""Signed-in users for the API tests (headers carrying a bearer token)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.api.helpers import admin_headers, auth_headers


@pytest.fixture
def alice(client: FlaskClient) -> dict[str, str]:
    return auth_headers(client, "alice")


@pytest.fixture
def bob(client: FlaskClient) -> dict[str, str]:
    return auth_headers(client, "bob")


@pytest.fixture
def admin(client: FlaskClient) -> dict[str, str]:
    return admin_headers(client)
