"""The catalogue page at ``/``."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template, request

from recommender.extensions import db
from recommender.services import catalogue

bp = APIBlueprint("pages", __name__, enable_openapi=False)
PER_PAGE = 24


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.lstrip("-").isdigit() else None


@bp.get("/")
def index() -> str:
    """List the catalogue with search, genre and year filters, sorted and paginated."""
    sort = request.args.get("sort", "title")
    filters = {
        "q": request.args.get("q", "").strip()[:200] or None,
        "genre": request.args.get("genre") or None,
        "year_min": _int_arg("year_min"),
        "year_max": _int_arg("year_max"),
        "sort": sort if sort in catalogue.SORT_KEYS else "title",
    }
    page = max(_int_arg("page") or 1, 1)
    result = catalogue.search_movies(db.session, **filters, page=page, per_page=PER_PAGE)
    return render_template(
        "index.html",
        result=result,
        filters=filters,
        genres=catalogue.list_genres(db.session),
        sort_keys=catalogue.SORT_KEYS,
        last_page=max((result.total + PER_PAGE - 1) // PER_PAGE, 1),
    )
