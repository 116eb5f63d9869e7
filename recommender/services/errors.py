"""Domain errors raised by services; `recommender/errors.py` maps them to HTTP (API and pages)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose. ``code`` is stable for clients."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidInput(DomainError):
    code = "invalid_input"


class ImportRefused(InvalidInput):
    """A data file was refused as a whole; ``details`` lists ``{location, message}`` problems."""

    code = "import_refused"
