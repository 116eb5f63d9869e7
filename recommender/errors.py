"""The one place errors become HTTP: JSON ``{"error": {code, message, details}}`` under /api
and /healthz, a plain page in the browser."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from recommender.extensions import db
from recommender.services.accounts import InvalidCredentials
from recommender.services.errors import Conflict, DomainError, ImportRefused, NotFound

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
DOMAIN_STATUS = {NotFound: 404, Conflict: 409, ImportRefused: 422, InvalidCredentials: 401}
# Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_DOWN_MESSAGE = "The database is unreachable; please try again shortly"
# sqlite3 raises OperationalError for a missing table or a syntax error too: only these
# messages mean the file is out of reach for now.
SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk I/O error", "busy")

log = logging.getLogger(__name__)


def database_unavailable(error: DBAPIError) -> bool:
    """Whether ``error`` means the database cannot be reached (as opposed to a bad query).

    OperationalError covers a refused or dropped connection (and SQLite's "database is
    locked" after the busy timeout, but not its "no such table"); InterfaceError a connection
    already closed; any other DBAPI error counts only when SQLAlchemy saw the connection die.
    """
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        return any(marker in str(error.orig) for marker in SQLITE_UNAVAILABLE)
    return isinstance(error, OperationalError | InterfaceError)


def database_unavailable_error() -> HTTPError:
    return HTTPError(
        503,
        DATABASE_DOWN_MESSAGE,
        detail={"database": "unreachable"},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def error_body(error: HTTPError) -> dict[str, Any]:
    code = error.extra_data.get("code") or STATUS_CODES.get(error.status_code, "error")
    return {"error": {"code": code, "message": error.message, "details": error.detail or {}}}


def init_app(app: APIFlask) -> None:
    app.teardown_appcontext(end_the_session_of_a_dead_database)

    @app.error_processor
    def render_error(error: HTTPError):
        if wants_json():
            return error_body(error), error.status_code, error.headers
        page = render_template("error.html", status=error.status_code, message=error.message)
        return page, error.status_code, error.headers

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        # Say what was wrong with the form ("The CSRF token is missing."), not "Bad Request".
        return render_error(HTTPError(400, error.description))

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(error, cls)), 422)
        return render_error(
            HTTPError(status, error.message, detail=error.details, extra_data={"code": error.code})
        )

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        # A dead database is a 503 the client may retry, not a 500; pool_pre_ping (see
        # extensions.engine_options) replaces the dead connections once it is back, so the app
        # recovers without a restart. Any other database error stays a 500.
        if not database_unavailable(error):
            raise error
        log.warning("database unreachable, answering 503: %s", error.orig or error)
        if not wants_json():
            # The page's header asks Flask-Login for the user, which would query the dead
            # database again from inside this handler: render it signed out instead, through
            # the g slot where Flask-Login caches the request's user (it has no public setter).
            g.setdefault("_login_user", current_app.login_manager.anonymous_user())
        return render_error(database_unavailable_error())

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge):
        # The limit of this request: MAX_UPLOAD_MB, or the smaller one of a JSON body
        # (recommender/json_bodies.py), chunked or not.
        limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
        if limit == current_app.config["MAX_CONTENT_LENGTH"]:
            which = f"{limit / (1024 * 1024):g} MiB (the MAX_UPLOAD_MB setting)"
        else:
            which = f"{limit // 1024} KiB for a JSON body"
        return render_error(
            HTTPError(
                413,
                f"The request body is larger than the limit of {which}.",
                detail={"limit_bytes": limit},
            )
        )

    @app.errorhandler(TooManyRequests)
    def too_many_requests(error: TooManyRequests):
        # Flask-Limiter's description is the bare limit ("10 per 1 minute"): say what it means.
        # Its Retry-After header is added to the response after this handler.
        return render_error(
            HTTPError(429, f"Too many attempts: the limit is {error.description}. Try again later.")
        )


def end_the_session_of_a_dead_database(_error: BaseException | None) -> None:
    """Close the request's session, letting a database that died since its last query be."""
    # The response is ready before the session's closing rollback runs; if the database
    # died in between (a crash after the last query), that rollback raises where no error
    # handler is, and gunicorn would answer a bodiless 500. Flask runs teardowns last
    # registered first, so this ends the session before Flask-SQLAlchemy's teardown would.
    try:
        db.session.remove()
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        # SQLAlchemy has invalidated (closed) the dead connection already; the session
        # let go of its transaction before the rollback, so nothing is left to end.
        log.warning("database unreachable while ending a session: %s", error.orig or error)
