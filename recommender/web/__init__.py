"""Browser pages: server-rendered Jinja templates with small htmx enhancements."""

from __future__ import annotations

from apiflask import APIFlask

from recommender.web import (
    admin,
    auth,
    formatting,
    lists,
    movies,
    pages,
    ratings,
    recommendations,
)
from recommender.web.common import template_globals


def init_app(app: APIFlask) -> None:
    """Register the page blueprints and the template globals."""
    app.context_processor(template_globals)
    formatting.init_app(app)

    for module in (pages, movies, auth, ratings, recommendations, lists, admin):
        app.register_blueprint(module.bp)
