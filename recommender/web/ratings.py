"""The rating widget's routes (htmx, with plain-form fallbacks), the "Your ratings" page and its
CSV download."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from recommender.downloads import csv_attachment
from recommender.extensions import db
from recommender.services import catalogue, explanations, export, onboarding, ratings
from recommender.services.errors import DomainError, InvalidInput
from recommender.settings import current_settings
from recommender.web.auth import safe_next
from recommender.web.common import WHOLE_NUMBER, int_arg, is_htmx, recommender, user_id
from recommender.web.formatting import plural
from recommender.web.pages import progress_context
from recommender.web.recommendations import summary_context

# No url_prefix: the download is /ratings.csv, beside /ratings (a prefix would make it
# /ratings/.csv).
bp = APIBlueprint("ratings", __name__, enable_openapi=False)
PER_PAGE = 20


def _parse_rating(raw: str | None) -> float:
    try:
        return float(raw or "")
    except ValueError:
        raise InvalidInput("Choose a rating first.", {"rating": raw}) from None


# At most this many other cards refreshed per answer (a page shows 24).
MAX_CARDS = 60
PARTS = frozenset({"progress", "banner", "count", "discover"})


def _page_cards(movie_id: int) -> list[int]:
    """The other cards on the page (the ``cards`` field: ids joined by commas, and the
    recommendations page's ``shown`` fields, one per card), in order.

    A hint of what to refresh that our own pages send, not data: ids that are not whole
    numbers are skipped rather than refused, so a stale page still saves its rating.
    """
    ids = []
    given = request.form.get("cards", "").split(",") + request.form.getlist("shown")
    for part in given[:MAX_CARDS]:
        part = part.strip()
        if WHOLE_NUMBER.fullmatch(part) and int(part) != movie_id and int(part) not in ids:
            ids.append(int(part))
    return ids


def _page_parts() -> set[str]:
    """The page's parts that show the user's ratings count ("progress", "banner", "count")."""
    parts = {part.strip() for part in request.form.get("parts", "").split(",")} & PARTS
    if request.form.get("progress"):
        parts.add("progress")
    return parts


def _live_context(movie_id: int, rating: float | None) -> dict[str, Any]:
    """What else on the page changed with this rating: this film's own prediction once its
    rating is gone, the other unrated cards' predictions (they move with every rating and
    appear at the unlock), the progress and the ratings count."""
    parts = _page_parts()
    context: dict[str, Any] = {"parts": parts}
    if parts & {"progress", "banner"}:
        context.update(progress_context())
    if "count" in parts:
        context["ratings_total"] = onboarding.ratings_count(db.session, user_id())
    if "discover" in parts:  # the recommendations page's header, under the page's options
        context.update(summary_context(request.form))
    cards = _page_cards(movie_id)
    rated = onboarding.user_ratings(db.session, user_id(), cards)
    unrated = [card for card in cards if card not in rated]
    predicted = explanations.predictions_for(
        recommender(), db.session, user_id(), [movie_id, *unrated]
    )
    context["own_prediction"] = predicted.get(movie_id) if rating is None else None
    context["live_cards"] = [(card, predicted.get(card)) for card in unrated]
    return context


def _answer(
    movie_id: int, *, rating: float | None, message: str, error: bool = False
) -> Response | tuple[str, int]:
    """The re-rendered widget for htmx (422 on error), with out-of-band swaps of whatever else
    on the page the change moved; else a flash and a redirect back."""
    if not is_htmx():
        flash(message, "error" if error else "success")
        return redirect(safe_next(request.form.get("next"), url_for("pages.index")))
    movie = catalogue.get_movie(db.session, movie_id)
    # An error changed nothing: only the widget and its message come back.
    context: dict[str, Any] = {"parts": set(), "live_cards": [], "own_prediction": None}
    if not error:
        context = _live_context(movie_id, rating)
    html = render_template(
        "_rating_widget.html",
        movie=movie,
        rating=rating,
        message=message,
        error=error,
        with_progress="progress" in context["parts"],
        **context,
    )
    return html, 422 if error else 200


@bp.post("/ratings/<int:movie_id>")
@login_required
def rate(movie_id: int) -> Response | tuple[str, int]:
    """Rate a movie or change the rating; a value off the scale changes nothing."""
    try:
        value = _parse_rating(request.form.get("rating"))
        _, saved = ratings.rate_movie(
            db.session, user_id(), movie_id, value, current_settings().rating_scale
        )
    except DomainError as error:
        current = ratings.get_rating(db.session, user_id(), movie_id)
        return _answer(movie_id, rating=current, message=error.message, error=True)
    message = f"Saved: {plural(saved['rating'], 'star')}."
    return _answer(movie_id, rating=saved["rating"], message=message)


@bp.post("/ratings/<int:movie_id>/delete")
@login_required
def remove(movie_id: int) -> Response | tuple[str, int]:
    """Remove the signed-in user's rating of a movie."""
    try:
        ratings.delete_rating(db.session, user_id(), movie_id)
    except DomainError as error:
        current = ratings.get_rating(db.session, user_id(), movie_id)
        return _answer(movie_id, rating=current, message=error.message, error=True)
    return _answer(movie_id, rating=None, message="Rating removed.")


@bp.get("/ratings")
@login_required
def mine() -> str | Response:
    """Your ratings, newest first, each editable and removable."""
    number = max(int_arg("page") or 1, 1)
    result = ratings.list_ratings(db.session, user_id(), page=number, per_page=PER_PAGE)
    last_page = max((result.total + PER_PAGE - 1) // PER_PAGE, 1)
    if number > last_page:  # past the end (or every rating removed): the last page instead
        return redirect(url_for("ratings.mine", **dict(request.args, page=last_page)))
    return render_template("ratings.html", result=result, last_page=last_page)


@bp.get("/ratings.csv")
@login_required
def download() -> Response:
    """All the signed-in user's ratings as a CSV file (movie_id,title,year,rating,rated_at)."""
    return csv_attachment(export.user_ratings_csv(db.session, user_id()), "ratings.csv")
