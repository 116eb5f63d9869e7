"""Request JSON read with bounds: size, nesting depth and number length, checked once for
every endpoint before any view (or APIFlask's webargs parser) decodes the body.

Python's decoder has no limits of its own: 2,000 nested brackets raise RecursionError and an
integer of 5,000 digits a ValueError (the int-conversion limit), both 500s with a traceback.
Here the body is decoded with the standard library under bounds that no request of ours comes
near, and a body outside them is a 400 (413 when too large) saying what and where. Values within
the bounds that a field cannot take (NaN, 1e999) are left to the field's validation (422). A
body that passes is safe for the second decode the view's parser does: depth and numbers are
bounded.

The module imports Flask only in :func:`init_app`'s hook; :func:`parse_bounded` is plain.
"""

from __future__ import annotations

import json
from typing import Any

from apiflask import HTTPError
from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

# The deepest JSON any endpoint takes is 2 levels ({"rating": 4}); 32 leaves room for any
# client's envelope, far below the decoder's recursion limit (~1,000).
MAX_DEPTH = 32
# A number literal of more characters is refused: 100 covers any float's repr (17 digits and an
# exponent) and any id; Python's limit for an integer is 4,300 digits.
MAX_NUMBER_LENGTH = 100
# Every JSON body of the API is a few hundred bytes (uploads are multipart, MAX_UPLOAD_MB).
MAX_BYTES = 64 * 1024

_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JSONBodyError(ValueError):
    """The body is not JSON within the bounds; ``where`` says where, when a position is known."""

    def __init__(self, message: str, where: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where or {}


def _number(kind: type[int] | type[float]):
    def convert(literal: str) -> int | float:
        if len(literal) > MAX_NUMBER_LENGTH:
            raise JSONBodyError(
                f"a number literal of {len(literal)} characters; at most "
                f"{MAX_NUMBER_LENGTH} are accepted"
            )
        # 1e999 becomes inf, and NaN or Infinity decode as Python's floats: cheap values the
        # fields' own validation refuses with a 422 naming the field.
        return kind(literal)

    return convert


def nesting_depth(document: Any) -> int:
    """The nesting depth of decoded JSON (a scalar is 0), walked without recursion."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_bounded(data: bytes | str) -> Any:
    """Decode JSON ``data`` or raise :class:`JSONBodyError` naming the broken bound or place."""
    if len(data) > MAX_BYTES:
        raise JSONBodyError(f"a body of {len(data)} bytes; at most {MAX_BYTES} are accepted")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise JSONBodyError("not UTF-8", {"byte": error.start}) from None
    try:
        document = json.loads(
            text,
            parse_int=_number(int),
            parse_float=_number(float),
        )
    except json.JSONDecodeError as error:
        raise JSONBodyError(error.msg, {"line": error.lineno, "column": error.colno}) from None
    except RecursionError:
        raise JSONBodyError(f"nested more than {MAX_DEPTH} levels deep") from None
    depth = nesting_depth(document)
    if depth > MAX_DEPTH:
        raise JSONBodyError(f"nested {depth} levels deep; at most {MAX_DEPTH} are accepted")
    return document


def check_json_body() -> None:
    """Refuse (400) a request whose JSON body is outside the bounds, before any view reads it.

    The body stays cached on the request for the view's own parser. A body over MAX_BYTES is a
    413 from Werkzeug, chunked or not (``max_content_length`` also bounds a stream).
    """
    if request.method not in _METHODS_WITH_BODY or not request.is_json:
        return
    limit = min(request.max_content_length or MAX_BYTES, MAX_BYTES)
    request.max_content_length = limit
    data = request.get_data(cache=True)
    # A chunked body: Werkzeug's stream stops at the limit without a word (a cut body, then
    # "invalid JSON", a 400). One more byte from the server's own stream tells.
    chunked = request.content_length is None
    if chunked and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    if not data:
        return  # the view's schema says which fields are missing (422)
    try:
        parse_bounded(data)
    except JSONBodyError as error:
        raise HTTPError(
            400,
            f"The request body is not acceptable JSON: {error.message}.",
            detail={"json": {"problem": error.message, **error.where}},
        ) from None


def init_app(app: Flask) -> None:
    app.before_request(check_json_body)
