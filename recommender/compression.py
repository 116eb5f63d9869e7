"""Compressed responses (Flask-Compress): brotli or gzip for pages and JSON.

The signed-in catalogue page is 123 KB of HTML, mostly repeated star widgets: 5.7 KB in gzip,
4.9 KB in brotli. What is left alone, and why:

- Streamed responses: CSV downloads (``recommender/downloads.py``, row by row) and static
  files (sent as a file wrapper). Flask-Compress's stream compression never closes the
  wrapped file (a ResourceWarning per static file, a descriptor held until garbage
  collection) and would re-encode the CSV chunk by chunk; COMPRESS_STREAMS off leaves both
  exactly as before. Static files are small and cached by the browser.
- Small bodies (under 500 bytes: a JSON error, a redirect) cost more to
  compress than they save.
- No zstd: Python 3.11 has no zstd module and Flask-Compress would need one.

The recommendation API's cached JSON body is compressed per request, and only when the client
asks for it (Accept-Encoding); the cache keeps the plain bytes.

BREACH: a compressed page that holds a secret next to text an attacker chooses (the search
box's ``?q=``, reflected in the page) leaks the secret through the compressed size, guessed a
character at a time over many requests. The pages' secret is the CSRF token, and Flask-WTF's
is the same for the whole session except for its last part (a base64 of the session's raw
token, then a timestamp and its signature). Instead of giving up compression on pages, every
response masks the token (``masked_csrf_token``): a fresh random pad and the token XORed with
it, so no two responses share any of it. The token is the same everywhere in one response, so
it still compresses there. ``unmask_csrf_token`` undoes it before Flask-WTF checks the token
(form field or header). A token that is not masked is passed on as it is: it was as valid
before. The JSON API carries no secret in a body it reflects: its tokens are made only on
``POST /api/v1/auth/tokens`` and answered once, to a request no other site can make with the
user's credentials.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from flask import Flask, current_app, request
from flask_compress import Compress
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import ImmutableMultiDict

compress = Compress()
ALGORITHMS = ["br", "gzip"]
# Marks a masked token: the prefix is no base64 character Flask-WTF's tokens start with.
MASKED_PREFIX = "~"
MASKED_KEY = "recommender.masked_csrf_token"  # (token, masked) of this request


def init_app(app: Flask) -> None:
    """Compress responses, and mask the CSRF token per response against BREACH.

    Call after ``csrf.init_app``: the masked token replaces Flask-WTF's ``csrf_token`` in the
    templates, and the unmasking runs before its check.
    """
    app.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    app.config.setdefault("COMPRESS_STREAMS", False)
    compress.init_app(app)
    app.jinja_env.globals["csrf_token"] = masked_csrf_token
    # Flask-WTF's context processor would win over the global; a later one wins over it.
    app.context_processor(lambda: {"csrf_token": masked_csrf_token})
    app.before_request_funcs.setdefault(None, []).insert(0, unmask_request_token)


def mask(token: str) -> str:
    """Return ``token`` XORed with a fresh random pad, with the pad, in URL-safe base64."""
    raw = token.encode("ascii")
    pad = secrets.token_bytes(len(raw))
    masked = bytes(a ^ b for a, b in zip(raw, pad, strict=True))
    return MASKED_PREFIX + base64.urlsafe_b64encode(pad + masked).decode("ascii").rstrip("=")


def unmask_csrf_token(value: str) -> str:
    """Return the token ``mask`` made ``value`` from; any other value as it is."""
    if not value.startswith(MASKED_PREFIX):
        return value
    text = value[len(MASKED_PREFIX) :]
    try:
        both = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return value
    half = len(both) // 2
    if not both or len(both) % 2:
        return value
    token = bytes(a ^ b for a, b in zip(both[:half], both[half:], strict=True))
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return value  # Refused by Flask-WTF as any wrong token is.


def masked_csrf_token() -> str:
    """The session's CSRF token, masked once per response (the same everywhere in it).

    Kept in the request's environ, not ``g``: an app context (and its ``g``) can outlive one
    request, as in the tests, and a token masked for one session must not reach another.
    """
    token = generate_csrf()
    cached = request.environ.get(MASKED_KEY)
    if cached is None or cached[0] != token:
        cached = request.environ[MASKED_KEY] = (token, mask(token))
    return cached[1]


def unmask_request_token() -> None:
    """Unmask the CSRF token of a page request (form field or header) for Flask-WTF."""
    config = current_app.config
    if request.method not in config["WTF_CSRF_METHODS"] or request.path.startswith("/api/"):
        return
    for header in config["WTF_CSRF_HEADERS"]:
        key = "HTTP_" + header.upper().replace("-", "_")
        if key in request.environ:
            request.environ[key] = unmask_csrf_token(request.environ[key])
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return
    field = config["WTF_CSRF_FIELD_NAME"]
    form = request.form
    if any(key.endswith(field) for key in form):
        fields = [
            (key, unmask_csrf_token(value) if key.endswith(field) else value)
            for key, value in form.items(multi=True)
        ]
        # werkzeug caches the parsed form on the request: Flask-WTF reads this one.
        request.__dict__["form"] = ImmutableMultiDict(fields)
