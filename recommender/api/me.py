"""``/api/v1/me``: the signed-in user's own ratings, and their password."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response

from recommender.api.auth import current_user, token_auth
from recommender.api.schemas import (
    PageQuery,
    PasswordChangeIn,
    RatingIn,
    RatingOut,
    RatingPageOut,
)
from recommender.downloads import csv_attachment
from recommender.extensions import db
from recommender.services import accounts, export, ratings
from recommender.settings import current_settings

bp = APIBlueprint("me", __name__, url_prefix="/api/v1/me", tag="My ratings")

RATING_PATH = "/ratings/<int:movie_id>"


@bp.get("/ratings")
@bp.auth_required(token_auth)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(RatingPageOut)
def list_my_ratings(query: dict[str, int]) -> dict[str, Any]:
    """List your ratings, newest first, one page at a time."""
    return ratings.list_ratings(db.session, current_user().id, **query).to_dict()


@bp.get("/ratings.csv")
@bp.auth_required(token_auth)
@bp.doc(
    responses={
        200: {
            "description": "Your ratings as CSV: movie_id,title,year,rating,rated_at",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="ratings.csv"',
                    "schema": {"type": "string"},
                }
            },
        }
    }
)
def download_my_ratings() -> Response:
    """Download all your ratings as a CSV file.

    Newest first, streamed; columns movie_id, title, year, rating and rated_at (ISO 8601, UTC).
    """
    return csv_attachment(export.user_ratings_csv(db.session, current_user().id), "ratings.csv")


@bp.put(RATING_PATH)
@bp.auth_required(token_auth)
@bp.input(RatingIn, arg_name="body")
@bp.output(RatingOut, description="Rating changed")
@bp.doc(
    responses={
        201: {
            "description": "Rating created",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RatingOut"}}},
        },
        400: "Malformed JSON",
        404: "No such movie",
        413: "Body too large",
    }
)
def rate_movie(movie_id: int, body: dict[str, float]) -> tuple[dict[str, Any], int]:
    """Rate a movie, or change your rating of it."""
    created, rating = ratings.rate_movie(
        db.session,
        current_user().id,
        movie_id,
        body["rating"],
        current_settings().rating_scale,
    )
    return rating, 201 if created else 200


@bp.delete(RATING_PATH)
@bp.auth_required(token_auth)
@bp.output({}, status_code=204, description="Rating removed")
@bp.doc(responses={404: "You have not rated this movie"})
def delete_my_rating(movie_id: int) -> str:
    """Remove your rating of a movie."""
    ratings.delete_rating(db.session, current_user().id, movie_id)
    return ""


@bp.put("/password")
@bp.auth_required(token_auth)
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output({}, status_code=204, description="Password changed; only this token still works")
@bp.doc(
    tags=["Auth"],
    responses={
        400: "Bad Request",
        413: "Payload Too Large",
        422: "The current password is wrong, or the new one too short",
    },
)
def change_password(body: dict[str, str]) -> str:
    """Change your password: every other API token is revoked and every browser session ends."""
    accounts.change_password(
        db.session,
        current_user(),
        body["current_password"],
        body["new_password"],
        hash_method=current_settings().password_hash_method,
        keep_token=token_auth.get_auth().token,
    )
    return ""
