"""Which database errors become a 503 (the database cannot be reached) and which stay a 500."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from recommender.app import create_app
from recommender.extensions import db
from tests.conftest import make_environ


def raise_from_route(app, path: str, error: Exception) -> None:
    def boom():
        raise error

    app.add_url_rule(path, path.strip("/").replace("/", "_"), boom)


def test_a_locked_or_unreachable_database_is_a_json_503_with_retry_after(app, client):
    locked = OperationalError("UPDATE users", {}, sqlite3.OperationalError("database is locked"))
    raise_from_route(app, "/api/v1/test-locked", locked)
    response = client.get("/api/v1/test-locked")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "5"


def test_an_error_on_a_connection_that_died_is_a_503_page_in_the_browser(app, client):
    died = DBAPIError("SELECT 1", {}, Exception("server closed the connection"))
    died.connection_invalidated = True
    raise_from_route(app, "/test-died", died)
    response = client.get("/test-died")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "database is unreachable" in response.get_data(as_text=True)


def test_other_database_errors_are_not_disguised_as_an_outage(app, client):
    # A bug (here a constraint violation) must stay a 500 and reach the log, not ask to retry.
    duplicate = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    raise_from_route(app, "/api/v1/test-duplicate", duplicate)
    with pytest.raises(IntegrityError):  # TESTING propagates unhandled errors
        client.get("/api/v1/test-duplicate")


def test_a_missing_sqlite_table_is_a_bug_not_an_outage(app, client):
    # sqlite3 calls this an OperationalError too, but retrying will not make the table appear.
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: movies"))
    raise_from_route(app, "/api/v1/test-missing-table", missing)
    with pytest.raises(OperationalError):
        client.get("/api/v1/test-missing-table")


def test_a_database_that_dies_before_the_session_is_closed_leaves_the_answer_alone(
    database_url, monkeypatch
):
    # An app of its own, with no app context pushed, so each request ends its own (as under
    # gunicorn) and its session's closing rollback runs at the request's end.
    app = create_app(environ=make_environ(database_url))

    def query():
        return {"one": db.session.execute(sa.text("SELECT 1")).scalar_one()}

    app.add_url_rule("/api/v1/test-query", "test_query", query)
    with app.app_context():
        dialect = db.engine.dialect
    failed_rollbacks = []

    rollback = dialect.do_rollback

    def rollback_of_a_dead_server(connection):
        # The server is gone by now: the driver's own rollback fails as it would on a crash.
        failed_rollbacks.append(connection)
        connection.dbapi_connection.close()
        rollback(connection)

    client = app.test_client()
    with monkeypatch.context() as patch:
        # The crash lands after the request's last query: only the closing rollback sees it.
        patch.setattr(dialect, "do_rollback", rollback_of_a_dead_server)
        response = client.get("/api/v1/test-query")
    assert failed_rollbacks, "the closing rollback ran against the dead server"
    assert response.status_code == 200 and response.get_json() == {"one": 1}
    assert client.get("/api/v1/test-query").get_json() == {"one": 1}  # the next one recovers
    with app.app_context():
        db.engine.dispose()
