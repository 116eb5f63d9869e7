"""Fixtures of the security tests: apps built with settings of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from recommender.app import create_app
from recommender.extensions import db
from tests.conftest import make_environ


@pytest.fixture
def make_app(database_url: str, app: Flask) -> Iterator[Callable[..., Flask]]:
    """Build more apps over the test database (emptied by ``app``) from extra settings; their
    connections are closed afterwards."""
    made: list[Flask] = []

    def build(config: dict[str, Any] | None = None, **settings: str) -> Flask:
        made.append(create_app(environ=make_environ(database_url, **settings), config=config))
        return made[-1]

    yield build
    for other in made:
        with other.app_context():
            db.engine.dispose()


# Pages are requested through test clients inside the ``app`` fixture's long app context: forget
# the signed-in user and CSRF token cached in ``g`` between requests, as tests/web does.
from tests.web.conftest import _user_per_request  # noqa: E402, F401
