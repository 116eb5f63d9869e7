"""``/api/v1/movies``: the catalogue, read-only."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from recommender.api.schemas import MovieDetailOut, MoviePageOut, MovieQuery
from recommender.extensions import db
from recommender.services import catalogue
from recommender.services.stats import scale_steps
from recommender.settings import current_settings

bp = APIBlueprint("movies", __name__, url_prefix="/api/v1/movies", tag="Movies")


@bp.get("/<int:movie_id>")
@bp.output(MovieDetailOut)
@bp.doc(responses=[404])
def get_movie(movie_id: int) -> dict[str, Any]:
    """One movie with all its attributes and the community's ratings of it (count, mean and
    one histogram bin per step of the scale)."""
    steps = scale_steps(current_settings().rating_scale)
    return catalogue.get_movie_details(db.session, movie_id, steps)


@bp.get("")
@bp.input(MovieQuery, location="query", arg_name="query")
@bp.output(MoviePageOut)
def list_movies(query: dict[str, Any]) -> dict[str, Any]:
    """Search and filter the catalogue, one page at a time."""
    return catalogue.search_movies(db.session, **query).to_dict()
