"""The one place errors become HTTP: JSON ``{"error": {code, message, details}}`` under /api
and /healthz, a plain page in the browser."""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask, HTTPError
from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

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
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
DOMAIN_STATUS = {NotFound: 404, Conflict: 409, ImportRefused: 422, InvalidCredentials: 401}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz"))


def error_body(error: HTTPError) -> dict[str, Any]:
    code = error.extra_data.get("code") or STATUS_CODES.get(error.status_code, "error")
    return {"error": {"code": code, "message": error.message, "details": error.detail or {}}}


def init_app(app: APIFlask) -> None:
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

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge):
        limit_mib = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        return render_error(
            HTTPError(
                413,
                f"The request body is larger than the limit of {limit_mib:g} MiB "
                "(the MAX_UPLOAD_MB setting).",
            )
        )

    @app.errorhandler(TooManyRequests)
    def too_many_requests(error: TooManyRequests):
        # Flask-Limiter's description is the bare limit ("10 per 1 minute"): say what it means.
        # Its Retry-After header is added to the response after this handler.
        return render_error(
            HTTPError(429, f"Too many attempts: the limit is {error.description}. Try again later.")
        )
