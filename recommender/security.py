"""Defences every response and every sign-in share: security headers and rate limits.

Headers come from a small ``after_request`` hook rather than flask-talisman: we need six fixed
headers, while talisman (last released 2023) also redirects to HTTPS and rewrites the session
cookie flags, which recommender/settings.py already owns and which would fight the test client
and ``make demo`` over plain http.

Rate limits use Flask-Limiter, one ``Limiter`` per app (a module-level one would carry its
storage and its on/off switch from one app to the next, and tests build hundreds of apps). The
limited endpoints are listed here, in one table, instead of decorating views across blueprints.
Counters live in Redis when ``RATELIMIT_STORAGE_URL`` (or ``CACHE_URL``) points at one, so every
app server counts together, and in memory otherwise. A Redis that fails (down or hung) is given
at most REDIS_TIMEOUT_SECONDS per call; Flask-Limiter then counts in this process's memory and
asks Redis again only after 1, 2, 4 ... 32 s (its own back-off), so sign-ins never fail for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apiflask import APIFlask, HTTPError, abort
from flask import Flask, Response, request
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import SecurityError

from recommender import json_bodies
from recommender.services.cache import REDIS_CLIENT_OPTIONS
from recommender.settings import app_settings, current_settings

# No inline script or style anywhere: pages load htmx and app.js from /static, the API docs page
# loads the vendored Swagger UI and api-docs.js. data: images are Swagger UI's icons and the
# empty favicon of base.html.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The longest URL (path and query) the app reads. gunicorn reads request lines of up to 8,190
# bytes (recommender/server.py): a URL up to this limit reaches the app, and one over it gets
# our 414, which is JSON under /api; the margin is the method and protocol of the line.
MAX_URL_BYTES = 8000

# Only sent in production over HTTPS: a browser that saw it would refuse http://127.0.0.1 later.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


@dataclass(frozen=True)
class Throttle:
    """A rate limit on some endpoints: the setting that holds it and which answers count."""

    setting: str  # the attribute of recommender.settings.Settings
    endpoints: tuple[str, ...]
    counts: Callable[[Response], bool]
    # Endpoints sharing a scope share one counter: an attacker gains nothing by switching
    # between the sign-in form and the token endpoint.
    scope: str
    methods: tuple[str, ...] = ("POST",)


def _failed(response: Response) -> bool:
    return response.status_code >= 400


def _succeeded(response: Response) -> bool:
    return response.status_code < 400


def _attempted(response: Response) -> bool:
    # Every sign-up the server judged, made or refused: a refusal (the API's 409, the form's
    # 422) says the name is taken, so counting only successes let anyone list the names.
    return response.status_code < 500


THROTTLES = (
    # Password guessing: failed sign-ins per client address, form and API together.
    Throttle("login_rate_limit", ("auth.login", "accounts.create_token"), _failed, "login"),
    # Token minting: every token issued fills a row of api_tokens.
    Throttle("token_rate_limit", ("accounts.create_token",), _succeeded, "tokens"),
    # Sign-up attempts, form and API together.
    Throttle("signup_rate_limit", ("auth.signup", "accounts.register"), _attempted, "signup"),
    # Guessing through a stolen session: a wrong current password on a password change counts
    # with the failed sign-ins (one counter, the sign-in limit), API and form alike.
    Throttle(
        "login_rate_limit",
        ("me.change_password", "auth.change_password"),
        _failed,
        "login",
        ("PUT", "POST"),
    ),
)


def throttled_operations(app: Flask) -> set[tuple[str, str]]:
    """The (method, path) of every rate-limited API operation, for the OpenAPI document's 429
    (werkzeug's rules read like OpenAPI's paths where they take no parameter)."""
    methods = {
        endpoint: throttle.methods for throttle in THROTTLES for endpoint in throttle.endpoints
    }
    return {
        (method.lower(), rule.rule)
        for rule in app.url_map.iter_rules()
        for method in methods.get(rule.endpoint, ())
        if method in (rule.methods or ())
    }


def init_app(app: Flask) -> None:
    """Add the security headers to every response and rate-limit the endpoints of THROTTLES.

    Call after every blueprint is registered: the limits wrap the registered view functions.
    """
    app.after_request(add_security_headers)
    app.before_request(refuse_long_urls)
    app.before_request(refuse_nul_characters)
    app.register_error_handler(SecurityError, refuse_foreign_host)
    json_bodies.init_app(app)

    settings = app_settings(app)
    storage_uri = app.config["RATELIMIT_STORAGE_URI"]
    limiter = Limiter(
        get_remote_address,
        storage_uri=storage_uri,
        # Without them a hung Redis holds every sign-in for redis-py's default (no timeout).
        storage_options=dict(REDIS_CLIENT_OPTIONS) if storage_uri != "memory://" else {},
        key_prefix="recommender-limits",
        headers_enabled=True,
        # A Redis outage falls back to per-process counters instead of failing every sign-in.
        in_memory_fallback_enabled=True,
        # The fallback covers checking a limit, not counting an answer after the view (our
        # limits count only some answers): a Redis failing there is logged, not a 500.
        swallow_errors=True,
        enabled=app.config["RATELIMIT_ENABLED"],
    )
    limiter.init_app(app)
    app.extensions["recommender_limiter"] = limiter
    for throttle in THROTTLES:
        limit = limiter.shared_limit(
            getattr(settings, throttle.setting),
            scope=throttle.scope,
            methods=list(throttle.methods),
            deduct_when=throttle.counts,
        )
        for endpoint in throttle.endpoints:
            app.view_functions[endpoint] = limit(app.view_functions[endpoint])


def refuse_foreign_host(error: SecurityError) -> Response:
    """Answer a request for a host not in ALLOWED_HOSTS (Flask's TRUSTED_HOSTS) with a 400.

    Flask refuses the Host before it can build URLs for the request, and the error page needs
    them (its stylesheet, its links): they are built for the first allowed host instead. They
    are relative paths, so that host never shows; the refused one is only quoted back.
    """
    app: APIFlask = request_ctx.app  # type: ignore[assignment]
    if request_ctx.url_adapter is None:
        request_ctx.url_adapter = app.url_map.bind(
            app_settings(app).allowed_hosts[0].lstrip("."),
            script_name=request.script_root or None,
            url_scheme=request.scheme,
            subdomain=app.url_map.default_subdomain or "",
        )
    refused = request.headers.get("Host", "")[:100]
    return app.error_callback(
        HTTPError(
            400,
            f"This site does not answer to the host {refused!r} (the ALLOWED_HOSTS setting).",
            detail={"host": refused},
            extra_data={"code": "host_not_allowed"},
        )
    )


def is_personal_answer() -> bool:
    """Whether the answer may depend on who asks, so no cache (shared or the browser's) keeps it.

    Every page is: each carries the session's CSRF token and, signed in, the user's name. So is
    every API answer but an anonymous GET (the public catalogue, the OpenAPI document), which
    proxies may keep; whatever a token asked for, or a POST answered (a new token), is not.
    Static files keep their caching.
    """
    if request.endpoint == "static":
        return False
    if not request.path.startswith("/api/"):
        return True
    return request.method not in ("GET", "HEAD") or "Authorization" in request.headers


def refuse_long_urls() -> None:
    """Refuse a URL longer than MAX_URL_BYTES (414): no page or endpoint needs one."""
    length = len(request.environ.get("RAW_URI") or request.full_path.rstrip("?"))
    if length > MAX_URL_BYTES:
        abort(414, f"The URL is {length} bytes long; at most {MAX_URL_BYTES} are accepted.")


def refuse_nul_characters() -> None:
    """Refuse a page request whose query or form carries a NUL character (400).

    No field accepts one and PostgreSQL cannot store or compare it (a 500 otherwise). The API
    validates its own fields and answers 422 (recommender/api/schemas.py ``Text``).
    """
    if request.path.startswith("/api/"):
        return
    values = [*request.args.values(), *request.args.keys()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.values(), *request.form.keys()]
    if any("\x00" in value for value in values):
        abort(400, "The request contains a NUL character, which no field accepts.")


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if is_personal_answer():
        response.headers["Cache-Control"] = "no-store"
    if current_settings().env == "production" and request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response
