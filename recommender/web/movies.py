"""The film page at ``/movies/<id>``: a movie's attributes, how everyone rated it, your rating or
prediction, and "More like this"."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, render_template
from flask_login import current_user

from recommender.extensions import db
from recommender.services import catalogue, explanations, onboarding
from recommender.services.similar import SimilarMovies
from recommender.services.stats import scale_steps
from recommender.settings import current_settings
from recommender.web.charts import histogram
from recommender.web.common import recommender, user_id

bp = APIBlueprint("movies_page", __name__, enable_openapi=False)
MORE_LIKE_THIS = 8


def similar_movies() -> SimilarMovies:
    """The app's nearest-movies search (made on first use, with the predictor's metric)."""
    return current_app.extensions.setdefault(
        "similar_movies", SimilarMovies(recommender().settings.metric)
    )


@bp.get("/movies/<int:movie_id>")
def show(movie_id: int) -> str:
    """One film; an unknown id is the 404 page (the NotFound handler)."""
    steps = scale_steps(current_settings().rating_scale)
    movie = catalogue.get_movie_details(db.session, movie_id, steps)
    features = recommender().feature_store.current(db.session)
    similar_ids = []
    if features is not None:
        similar_ids = similar_movies().of(features, movie_id, MORE_LIKE_THIS)
    similar = catalogue.get_movies(db.session, similar_ids)
    yours: dict[int, float] = {}
    predicted: dict[int, float] = {}
    if current_user.is_authenticated:
        movie_ids = [movie_id, *(m["id"] for m in similar)]
        yours = onboarding.user_ratings(db.session, user_id(), movie_ids)
        predicted = explanations.predictions_for(recommender(), db.session, user_id(), movie_ids)
    return render_template(
        "movie.html",
        movie=movie,
        chart=histogram(movie["histogram"], width=340, height=170),
        similar=similar,
        yours=yours,
        predicted=predicted,
    )
