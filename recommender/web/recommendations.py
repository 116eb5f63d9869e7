"""The recommendations page and its "why" panel with the live k slider."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template, request
from flask_login import login_required

from recommender.extensions import db
from recommender.services import explanations, onboarding
from recommender.web.charts import neighbour_map
from recommender.web.common import int_arg, is_htmx, recommender, user_id

bp = APIBlueprint("recommended", __name__, url_prefix="/recommendations", enable_openapi=False)
LIMIT = 20


@bp.get("")
@login_required
def index() -> str:
    """Your top predictions, each with a "why" panel; the cold-start list until unlocked."""
    result = recommender().recommend(db.session, user_id(), LIMIT)
    return render_template("recommendations.html", result=result)


@bp.get("/<int:movie_id>/why")
@login_required
def why(movie_id: int) -> str:
    """The neighbours and map behind one prediction, for the k chosen on the slider."""
    default_k = recommender().settings.k
    # Clamped to what this user can have: 1 to their number of ratings.
    count = onboarding.ratings_count(db.session, user_id())
    chosen = int_arg("k")
    k = min(max(default_k if chosen is None else chosen, 1), max(count, 1))
    explained = explanations.explain(recommender(), db.session, user_id(), movie_id, k)
    context = {"why": explained, "chart": neighbour_map(explained["map"]), "default_k": default_k}
    if not is_htmx():
        return render_template("why.html", **context)
    template = "_why_body.html" if request.args.get("part") == "body" else "_why.html"
    return render_template(template, **context)
