"""REST API under /api/v1 and the health check."""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask

from recommender.api import accounts, admin, docs, health, lists, me, movies, recommendations
from recommender.api.converters import DatabaseIntConverter
from recommender.api.schemas import ErrorOut, document_rating_scale, document_status
from recommender.security import MAX_URL_BYTES, throttled_operations
from recommender.settings import app_settings


def init_app(app: APIFlask) -> None:
    """Register the API blueprints."""
    # Before any route is added: ids too long for the database are a 404, never a 500.
    app.url_map.converters["int"] = DatabaseIntConverter
    # Document the error body every 4xx/5xx really has (see recommender/errors.py).
    app.config["HTTP_ERROR_SCHEMA"] = ErrorOut
    app.config["VALIDATION_ERROR_SCHEMA"] = ErrorOut
    scale = app_settings(app).rating_scale

    @app.spec_processor
    def complete_the_document(spec: dict[str, Any]) -> dict[str, Any]:
        spec = mark_request_bodies_required(spec)
        spec = document_rating_scale(spec, scale)
        spec = document_status(
            spec, 414, f"The URL (path and query) is longer than {MAX_URL_BYTES} bytes"
        )
        return document_status(
            spec, 429, "Too many attempts from this address", throttled_operations(app)
        )

    for module in (health, movies, accounts, me, lists, admin, recommendations, docs):
        app.register_blueprint(module.bp)


def mark_request_bodies_required(spec: dict[str, Any]) -> dict[str, Any]:
    """Mark every request body required: APIFlask leaves it optional, yet each route needs it."""
    for operations in spec["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return spec
