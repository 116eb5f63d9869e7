"""The recommendations page (filters, order, "show more", rate / hide / watch later in place)
and its "why" panel with the live k slider."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from apiflask import APIBlueprint
from flask import render_template, request
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from recommender.engine.predictor import is_personal
from recommender.extensions import db
from recommender.services import catalogue, explanations, onboarding
from recommender.services.recommendations import ORDERS, ListOptions
from recommender.web.charts import histogram, neighbour_rings
from recommender.web.common import WHOLE_NUMBER, int_arg, is_htmx, recommender, user_id

bp = APIBlueprint("recommended", __name__, url_prefix="/recommendations", enable_openapi=False)
LIMIT = 20
# The most card ids a request may send as shown ("show more" adds 20 a click).
MAX_SHOWN = 1000
# The list's own parameters, carried by its links and by the cards' forms (for the next card).
LIST_FIELDS = ("order", "genre", "year_min", "year_max")


def _whole(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if WHOLE_NUMBER.fullmatch(raw) else None


def list_options(
    values: MultiDict[str, str], *, page: int = 1, exclude: tuple[int, ...] = ()
) -> ListOptions:
    """The list's options from a query string or a card's form; anything unusable is ignored
    (a page's filter form never answers with an error: it shows the unfiltered list)."""
    order = values.get("order", "match")
    return ListOptions(
        order=order if order in ORDERS else "match",
        genre=(values.get("genre") or "").strip()[:60] or None,
        year_min=_whole(values.get("year_min")),
        year_max=_whole(values.get("year_max")),
        exclude=exclude,
        page=page,
    )


def list_fields(options: ListOptions) -> dict[str, Any]:
    """The options as query-string fields (empty ones left out)."""
    fields = {
        "order": options.order,
        "genre": options.genre,
        "year_min": options.year_min,
        "year_max": options.year_max,
    }
    return {name: value for name, value in fields.items() if value is not None}


def page_summary(options: ListOptions) -> dict[str, Any]:
    """The page's header for these options: the list's answer without the page's exclusions,
    whose ``total`` is the "N films to discover" (every film the list holds, whatever is on
    the page) and whose ``source`` says cold start or personal. One item only: rendering a
    page of them (each with its neighbours' titles) was most of the cost of the answer."""
    whole_list = replace(options, exclude=(), page=1)
    return recommender().recommend(db.session, user_id(), 1, options=whole_list)


def replacement(form: MultiDict[str, str]) -> dict[str, Any]:
    """What a hide or watch-later from the recommendations page answers with, computed under
    the page's own state (the ``.page-state`` fields: the list shown, not the filter form's
    unsubmitted values, and the ids of every card on it): the best film not on the page to
    take the card's place, the page's new header, and whether "Show more" still has more."""
    options = list_options(form)
    shown = shown_ids(form)
    rest = recommender().recommend(
        db.session, user_id(), 1, options=replace(options, exclude=shown)
    )
    item = rest["items"][0] if rest["items"] else None
    # ``rest.total`` counts the films not on the page; the replacement is one of them.
    more_left = rest["total"] - (1 if item else 0) > 0
    return {
        "item": item,
        "summary": page_summary(options),
        "options": options,
        "fields": list_fields(options),
        "has_more": more_left,
        # The page's plain "Show more" link names the page after the cards shown.
        "more_page": max(math.ceil(len(shown) / LIMIT), 1),
    }


def summary_context(form: MultiDict[str, str]) -> dict[str, Any]:
    """The recommendations page's header after a rating in place (web/ratings.py, part
    ``discover``): the rated film leaves the count, and at the unlock the header changes."""
    options = list_options(form)
    return {"summary": page_summary(options), "options": options}


PREDICTED = "predicted"


def catalogue_by_prediction(
    filters: dict[str, Any], page: int, per_page: int
) -> Callable[[], catalogue.Page] | None:
    """The catalogue's "predicted for you" sort, when the signed-in user has personal
    predictions: a function giving the page of the filtered catalogue in that order (from the
    cached predictions entry); else None, and the sort is not offered."""
    if not current_user.is_authenticated:
        return None
    count = onboarding.ratings_count(db.session, user_id())
    if not is_personal(count, recommender().settings.k):
        return None

    def ordered_page() -> catalogue.Page:
        wanted = {name: filters[name] for name in ("q", "genre", "year_min", "year_max")}
        # No filter: every movie of the feature version, without reading 62,000 ids (a film
        # added since joins when the feature store's next check builds the new version).
        ids = catalogue.matching_ids(db.session, **wanted) if any(wanted.values()) else None
        ordered = recommender().order_by_prediction(db.session, user_id(), ids)
        if ordered is None:  # the ratings changed meanwhile: the plain order
            ordered = ids if ids is not None else catalogue.matching_ids(db.session)
        return catalogue.page_of(db.session, ordered, page, per_page)

    return ordered_page


@bp.get("")
@login_required
def index() -> str:
    """Your recommendations, best first, one page at a time; htmx's "Show more" gets the next
    page's cards only."""
    page = min(max(int_arg("page") or 1, 1), 100_000)
    if is_htmx() and request.args.get("part") == "more":
        return _more(page)
    options = list_options(request.args, page=page)
    result = recommender().recommend(db.session, user_id(), LIMIT, options=options)
    context = {
        "result": result,
        "summary": result,
        "options": options,
        "fields": list_fields(options),
        "offset": (page - 1) * LIMIT,
        "has_more": result["total"] > page * LIMIT,
        "more_page": page,
        "genres": catalogue.list_genres(db.session),
    }
    return render_template("recommendations.html", **context)


def _more(page: int) -> str:
    """The next cards for "Show more": the best ones not on the page yet (the cards carry their
    ids), not the next page by offset, which shifts once a card was hidden or rated in place.
    The list's options come from the page's state (``.page-state``), as with every live
    update of the page."""
    shown = shown_ids(request.args)
    options = list_options(request.args, exclude=shown)
    result = recommender().recommend(db.session, user_id(), LIMIT, options=options)
    context = {
        "result": result,
        "fields": list_fields(options),
        "has_more": result["total"] > LIMIT,
        # The plain link of the next button still names a page (for a reload without htmx).
        "more_page": page,
    }
    return render_template("_rec_more.html", **context)


def shown_ids(values: MultiDict[str, str]) -> tuple[int, ...]:
    """The ids of the cards on the page, as the cards' hidden ``shown`` inputs send them."""
    shown = values.getlist("shown")[:MAX_SHOWN]
    return tuple(int(value) for value in shown if value.isdigit() and len(value) < 10)


@bp.get("/<int:movie_id>/why")
@login_required
def why(movie_id: int) -> str:
    """The rated films behind one prediction, in words and pictures, for the k chosen on the
    slider: a closable panel for htmx (``part=body``: its body only), else a page."""
    default_k = recommender().settings.k
    # Clamped to what this user can have: 1 to their number of ratings.
    count = onboarding.ratings_count(db.session, user_id())
    chosen = int_arg("k")
    k = min(max(default_k if chosen is None else chosen, 1), max(count, 1))
    explained = explanations.explain(recommender(), db.session, user_id(), movie_id, k)
    context = {
        "why": explained,
        "why_rings": neighbour_rings(explained["neighbours"]),
        "why_histogram": histogram(explained["rating_histogram"], width=300, height=120),
        "default_k": default_k,
        "closable": is_htmx(),
    }
    if not is_htmx():
        return render_template("why.html", **context)
    template = "_why_body.html" if request.args.get("part") == "body" else "_why.html"
    return render_template(template, **context)
