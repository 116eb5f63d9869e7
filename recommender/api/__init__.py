"""REST API under /api/v1 and the health check."""

from __future__ import annotations

from apiflask import APIFlask


def init_app(app: APIFlask) -> None:
    """Register the API blueprints."""
    from recommender.api import health, movies
    from recommender.api.schemas import ErrorOut

    # Document the error body every 4xx/5xx really has (see recommender/errors.py).
    app.config["HTTP_ERROR_SCHEMA"] = ErrorOut
    app.config["VALIDATION_ERROR_SCHEMA"] = ErrorOut
    app.register_blueprint(health.bp)
    app.register_blueprint(movies.bp)
