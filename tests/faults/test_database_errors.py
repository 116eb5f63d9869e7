"""Which database errors become a 503 (the database cannot be reached) and which stay a 500."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError


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
