"""URL converters for the API's routes."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# The integer primary keys are 32-bit; PostgreSQL refuses to compare them with anything larger.
MAX_ID = 2**31 - 1


class DatabaseIntConverter(IntegerConverter):
    """``<int:...>`` in routes: a number too large to be a row id is a 404, never a 500.

    PostgreSQL fails on an id past the column's range and SQLite cannot bind one past 2**63 - 1.
    ``NotFound`` rather than werkzeug's ``ValidationError``: werkzeug answers 405 for the latter
    when another method shares the path.
    """

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        # The length check first: int() of a huge digit string is slow, then refused.
        if len(value) > len(str(MAX_ID)) or int(value) > MAX_ID:
            raise NotFound()
        return int(value)
