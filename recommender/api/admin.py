"""``/api/v1/admin``: imports, merging duplicate movies and site statistics, for administrators
only."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app, url_for

from recommender.api.auth import current_user, token_auth
from recommender.api.schemas import (
    ImportIn,
    ImportReportOut,
    ImportRunOut,
    MergeIn,
    MergeOut,
    StatsOut,
)
from recommender.extensions import db
from recommender.importers.catalogue import import_catalogue
from recommender.importers.movielens.importer import import_movielens
from recommender.services import stats
from recommender.services.merge import merge_movies
from recommender.settings import current_settings

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="Admin")

FORBIDDEN = {403: "Signed in, but not an administrator"}


def upload_name(filename: str | None) -> str:
    """Return the bare name of an uploaded file: clients may send a path with it."""
    return (filename or "").replace("\\", "/").rsplit("/", 1)[-1] or "upload"


@bp.post("/imports")
@bp.auth_required(token_auth, roles=["admin"])
@bp.input(ImportIn, location="form_and_files", arg_name="form")
@bp.output(ImportReportOut, status_code=201, description="The file was imported")
@bp.doc(
    responses={
        **FORBIDDEN,
        409: "Another import is running (one at a time): details.running names it",
        413: "File larger than MAX_UPLOAD_MB",
    }
)
def create_import(form: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Import a catalogue file or a MovieLens .zip as a whole, or refuse it (422) saying why;
    while another import runs, a 409 naming it."""
    upload = form["file"]
    name, admin_id = upload_name(upload.filename), current_user().id
    settings = current_settings()
    if form["kind"] == "movielens":
        report: Any = import_movielens(
            db.session,
            upload.stream,
            scale=settings.rating_scale,
            filename=name,
            admin_id=admin_id,
            max_movies=settings.max_catalogue_movies,
        )
    else:
        report = import_catalogue(
            db.session,
            upload.stream,
            filename=name,
            admin_id=admin_id,
            max_movies=settings.max_catalogue_movies,
        )
    location = url_for(".get_import", run_id=report.run_id)
    return report.to_dict(), 201, {"Location": location}


@bp.get("/imports/<int:run_id>")
@bp.auth_required(token_auth, roles=["admin"])
@bp.output(ImportRunOut)
@bp.doc(responses=FORBIDDEN)
def get_import(run_id: int) -> dict[str, Any]:
    """One import run: its status, counts, errors and notes."""
    return stats.get_import_run(db.session, run_id)


@bp.get("/stats")
@bp.auth_required(token_auth, roles=["admin"])
@bp.output(StatsOut)
@bp.doc(responses=FORBIDDEN)
def site_stats() -> dict[str, Any]:
    """Count users, movies and ratings, with a histogram over the rating scale."""
    return stats.site_stats(db.session, current_settings().rating_scale)


@bp.post("/movies/<int:movie_id>/merge")
@bp.auth_required(token_auth, roles=["admin"])
@bp.input(MergeIn, arg_name="body")
@bp.output(MergeOut, description="drop_id was merged into the movie and deleted")
@bp.doc(
    responses={
        **FORBIDDEN,
        400: "Malformed JSON",
        404: "No movie with one of the ids",
        409: "The merged row would repeat another movie's title and year",
    }
)
def merge_movie(movie_id: int, body: dict[str, int]) -> dict[str, Any]:
    """Merge the duplicate ``drop_id`` into this movie, in one transaction: its ratings move
    here (a user who rated both keeps the later rating), its dataset ids and genres too, and
    it is deleted. A movie merged into itself is a 422."""
    summary = merge_movies(db.session, movie_id, body["drop_id"])
    # This process serves the new feature version at once; others at their next check.
    current_app.extensions["recommender"].feature_store.expire()
    return summary.to_dict()
