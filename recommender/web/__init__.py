"""Browser pages: server-rendered Jinja templates."""

from __future__ import annotations

from apiflask import APIFlask


def init_app(app: APIFlask) -> None:
    from recommender.web import pages

    app.register_blueprint(pages.bp)
