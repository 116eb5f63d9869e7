"""Helpers shared by the browser blueprints: the signed-in user's id, the rating scale, htmx."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request
from flask_login import current_user

from recommender.services.onboarding import StarterCache
from recommender.services.recommendations import Recommender
from recommender.services.stats import scale_steps
from recommender.settings import current_settings

# A whole number a query string may carry: ASCII digits only (str.isdigit also says yes to "²",
# which int() refuses) and at most 7 of them, so no page, year or k can overflow a database
# integer.
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,7}")


def int_arg(name: str) -> int | None:
    """The query-string argument ``name`` as an int, or None when absent or not a number."""
    value = request.args.get(name, "").strip()
    return int(value) if WHOLE_NUMBER.fullmatch(value) else None


def text_arg(name: str, max_length: int = 200) -> str | None:
    """A free-text query-string argument, trimmed and cut to ``max_length``, or None when empty.

    (NUL characters never get here: recommender/security.py refuses them.)
    """
    return request.args.get(name, "").strip()[:max_length] or None


def user_id() -> int:
    """The signed-in user's id (inside a ``login_required`` view)."""
    # Not get_id(): that is the session id, "<user id>:<session epoch>" (web/auth.py).
    return current_user.id


def recommender() -> Recommender:
    return current_app.extensions["recommender"]


def starter_cache() -> StarterCache:
    """The app's cache of onboarding picks (made on first use)."""
    return current_app.extensions.setdefault("starter_cache", StarterCache())


def is_htmx() -> bool:
    """Whether htmx sent this request (it then wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def template_globals() -> dict[str, Any]:
    """Values every template may use: the rating scale's steps and k."""
    settings = current_settings()
    return {
        "rating_steps": scale_steps(settings.rating_scale),
        "rating_scale": settings.rating_scale,
        "k_setting": settings.k,
    }
