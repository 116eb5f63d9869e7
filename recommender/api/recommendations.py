"""``/api/v1/me/recommendations`` and ``/api/v1/me/predictions/{movie_id}``."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app

from recommender.api.auth import current_user, token_auth
from recommender.api.schemas import PredictionDetailOut, RecommendationQuery, RecommendationsOut
from recommender.extensions import db
from recommender.services import explanations
from recommender.services.recommendations import ListOptions, Recommender, Versions

bp = APIBlueprint("recommendations", __name__, url_prefix="/api/v1/me", tag="Recommendations")


def recommender() -> Recommender:
    return current_app.extensions["recommender"]


@bp.get("/recommendations")
@bp.auth_required(token_auth)
@bp.input(RecommendationQuery, location="query", arg_name="query")
@bp.output(RecommendationsOut)
def get_recommendations(query: dict[str, Any]) -> Response:
    """Your top predictions (knn above k ratings, cold start at or below), with neighbours,
    one page at a time; filters narrow the list and ``total`` counts what passes them."""
    user = current_user()
    # The service hands back JSON it cached with the body (in the shape of RecommendationsOut,
    # which a test checks): a warm request then skips serialisation altogether.
    options = ListOptions(
        order=query["order"],
        genre=query.get("genre") or None,  # an empty genre filters nothing, as in /movies
        year_min=query.get("year_min"),
        year_max=query.get("year_max"),
        exclude=tuple(query["exclude"]),
        page=query["page"],
    )
    per_page = query.get("per_page", query["limit"])
    body = recommender().recommend_json(
        db.session, user.id, per_page, Versions(user.ratings_version, user.lists_version), options
    )
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/predictions/<int:movie_id>")
@bp.auth_required(token_auth)
@bp.output(PredictionDetailOut)
@bp.doc(responses=[404, 409])
def get_prediction(movie_id: int) -> dict[str, Any]:
    """Your predicted rating of one unrated movie, with the neighbours behind it: each one's
    share of their say, the 3-5 that carry most of it (``because``) and how you rated them
    (``rating_histogram``)."""
    service = recommender()
    predicted = service.predict(db.session, current_user().id, movie_id)
    return explanations.with_summary(predicted, service.settings.scale)
