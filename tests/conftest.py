"""Fixtures: a fresh app per test over a migrated database, on SQLite and (when
``TEST_DATABASE_URL`` is set) on PostgreSQL too."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import downgrade, upgrade

from recommender.app import create_app
from recommender.datasets import DatasetUnavailable, fetch_ml100k
from recommender.extensions import db
from recommender.jobs import wait_for_thread_jobs
from recommender.settings import EXTENSION_KEY, app_settings

# What production needs to start: a strong key (made up per run) and the test client's host.
PRODUCTION_SECRETS = {"SECRET_KEY": secrets.token_hex(32), "ALLOWED_HOSTS": "localhost"}
PRODUCTION = {"RECOMMENDER_ENV": "production", **PRODUCTION_SECRETS}
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def make_environ(database_url: str, **extra: str) -> dict[str, str]:
    """The environment a test app is built from: nothing leaks in from the developer's shell."""
    return {"RECOMMENDER_ENV": "testing", "DATABASE_URL": database_url, **extra}


def change_settings(app: Flask, **changes: Any) -> None:
    """Give ``app`` settings with ``changes``, for what its routes read per request (the
    recommender keeps the settings it was built with)."""
    app.extensions[EXTENSION_KEY] = replace(app_settings(app), **changes)


def unavailable(message: str) -> NoReturn:
    """Skip a test whose resource is missing on this machine; under CI=true it is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message + " (set CI=true to make this a failure)")


@pytest.fixture(scope="session")
def ml100k() -> Path:
    """MovieLens 100K in RecBole layout, fetched once into the git-ignored .cache/."""
    try:
        return fetch_ml100k(Path(__file__).resolve().parent.parent / ".cache" / "datasets")
    except DatasetUnavailable as error:
        unavailable(f"MovieLens 100K could not be fetched: {error}")


def _require_reachable(url: str) -> None:
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except sa.exc.OperationalError as error:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error.orig}")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated, empty database for the whole session, one per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        url = os.environ["TEST_DATABASE_URL"]
        _require_reachable(url)
    app = create_app(environ=make_environ(url))
    with app.app_context():
        db.drop_all()
        db.session.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade()
    yield url
    with app.app_context():
        downgrade(revision="base")
        db.engine.dispose()


def empty_all_tables() -> None:
    """Delete every row, children first, so each test starts from an empty schema."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(environ=make_environ(database_url), config={"RECOMMENDER_K": 3})
    with app.app_context():
        empty_all_tables()
        yield app
        db.session.rollback()
        empty_all_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _background_jobs_finish(request: pytest.FixtureRequest) -> Iterator[None]:
    """Let the worker threads of admin jobs a test started end before its app is emptied."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app")  # Set up first, so torn down after this waits.
    yield
    if "app" in request.fixturenames:
        wait_for_thread_jobs()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
