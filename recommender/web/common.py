"""Helpers shared by the browser blueprints: the signed-in user's id, the rating scale, htmx."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_login import current_user

from recommender.services.ratings import RatingScale
from recommender.services.recommendations import Recommender
from recommender.services.stats import scale_steps


def user_id() -> int:
    """The signed-in user's id (inside a ``login_required`` view)."""
    return int(current_user.get_id())


def recommender() -> Recommender:
    return current_app.extensions["recommender"]


def is_htmx() -> bool:
    """Whether htmx sent this request (it then wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def template_globals() -> dict[str, Any]:
    """Values every template may use: the rating scale's steps and k."""
    scale = RatingScale.from_config(current_app.config)
    return {
        "rating_steps": scale_steps(scale),
        "rating_scale": scale,
        "k_setting": current_app.config["RECOMMENDER_K"],
    }
