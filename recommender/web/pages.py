"""The catalogue page at ``/`` and the onboarding page at ``/welcome``."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from recommender.engine.predictor import personal_goal
from recommender.extensions import db
from recommender.services import catalogue, explanations, lists, onboarding
from recommender.settings import current_settings
from recommender.web.common import int_arg, recommender, starter_cache, text_arg, user_id
from recommender.web.recommendations import PREDICTED, catalogue_by_prediction

bp = APIBlueprint("pages", __name__, enable_openapi=False)
PER_PAGE = 24
FIRST_RECOMMENDATIONS = 5


def progress_context() -> dict[str, object]:
    """The signed-in user's onboarding progress and, once unlocked, their first recommendations."""
    k = current_settings().k
    progress = onboarding.progress(onboarding.ratings_count(db.session, user_id()), k)
    first = []
    if progress["unlocked"]:
        first = recommender().recommend(db.session, user_id(), FIRST_RECOMMENDATIONS)["items"]
    return {"progress": progress, "first_recommendations": first}


@bp.get("/")
def index() -> str | Response:
    """List the catalogue with search, genre and year filters, sorted and paginated."""
    sort = request.args.get("sort")
    filters = {
        "q": text_arg("q"),
        "genre": text_arg("genre", max_length=60),
        "year_min": int_arg("year_min"),
        "year_max": int_arg("year_max"),
        # No sort chosen: best match first when searching, by title otherwise.
        "sort": sort if sort in catalogue.SORT_KEYS else None,
    }
    page = max(int_arg("page") or 1, 1)
    # "Predicted for you" (web/recommendations.py): only with personal predictions.
    by_prediction = catalogue_by_prediction(filters, page, PER_PAGE)
    sort_keys = catalogue.SORT_KEYS if by_prediction is None else (*catalogue.SORT_KEYS, PREDICTED)
    if by_prediction is not None and sort == PREDICTED:
        filters["sort"] = PREDICTED
        result = by_prediction()
    else:
        result = catalogue.search_movies(db.session, **filters, page=page, per_page=PER_PAGE)
    last_page = max((result.total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > last_page:  # never "page 999 of 134": the last page's own address instead
        return redirect(url_for("pages.index", **dict(request.args, page=last_page)))
    yours: dict[int, float] = {}
    predicted: dict[int, float] = {}
    progress = None
    if current_user.is_authenticated:
        movie_ids = [movie["id"] for movie in result.items]
        yours = onboarding.user_ratings(db.session, user_id(), movie_ids)
        predicted = explanations.predictions_for(recommender(), db.session, user_id(), movie_ids)
        count = onboarding.ratings_count(db.session, user_id())
        progress = onboarding.progress(count, current_settings().k)
    return render_template(
        "index.html",
        result=result,
        filters=filters,
        genres=catalogue.list_genres(db.session),
        sort_keys=sort_keys,
        last_page=last_page,
        yours=yours,
        predicted=predicted,
        progress=progress,
    )


def welcome_movies() -> list[dict[str, Any]]:
    """The onboarding page's films: the starter set less the user's hidden films."""
    goal = personal_goal(current_settings().k)
    features = recommender().feature_store.current(db.session)
    return onboarding.starter_movies(
        db.session,
        # A few more than needed, so nobody is stuck with films they have not seen.
        max(goal + 4, 12),
        cache=starter_cache(),
        version=features.version if features is not None else None,
        hidden=lists.hidden_ids(db.session, user_id()),
    )


def card_context(movie_ids: list[int]) -> dict[str, dict[int, float]]:
    """The user's ratings and predictions of the cards' films, for ``movie_card``."""
    return {
        "yours": onboarding.user_ratings(db.session, user_id(), movie_ids),
        "predicted": explanations.predictions_for(recommender(), db.session, user_id(), movie_ids),
    }


def next_starter(shown: list[int]) -> dict[str, Any] | None:
    """The film that takes a hidden card's place on the onboarding page: the first of the
    starter set (what a reload would show) that is not on the page already."""
    on_page = set(shown)
    return next((movie for movie in welcome_movies() if movie["id"] not in on_page), None)


@bp.get("/welcome")
@login_required
def welcome() -> str:
    """Onboarding: rate a few well-known movies of different genres to unlock predictions."""
    movies = welcome_movies()
    return render_template(
        "welcome.html",
        movies=movies,
        **card_context([movie["id"] for movie in movies]),
        **progress_context(),
    )
