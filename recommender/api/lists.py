"""``/api/v1/me/hidden`` and ``/api/v1/me/watchlist``: your "Not interested" and "Watch later"
lists (services/lists.py). Both leave their films out of your recommendations."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from recommender.api.auth import current_user, token_auth
from recommender.api.schemas import (
    HiddenOut,
    HiddenPageOut,
    PageQuery,
    WatchlistOut,
    WatchlistPageOut,
)
from recommender.extensions import db
from recommender.services import lists

bp = APIBlueprint("my_lists", __name__, url_prefix="/api/v1/me", tag="My lists")


def _put_responses(schema: str) -> dict[int | str, Any]:
    return {
        201: {
            "description": "Added",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        404: "No such movie",
    }


def _add(film_list: lists.FilmList, movie_id: int) -> tuple[dict[str, Any], int]:
    created, entry = lists.add(db.session, film_list, current_user().id, movie_id)
    return entry, 201 if created else 200


@bp.get("/hidden")
@bp.auth_required(token_auth)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(HiddenPageOut)
def list_hidden(query: dict[str, int]) -> dict[str, Any]:
    """List the films you marked "Not interested", most recent first."""
    return lists.list_page(db.session, lists.HIDDEN, current_user().id, **query).to_dict()


@bp.put("/hidden/<int:movie_id>")
@bp.auth_required(token_auth)
@bp.output(HiddenOut, description="Hidden already")
@bp.doc(responses=_put_responses("HiddenOut"))
def hide_movie(movie_id: int) -> tuple[dict[str, Any], int]:
    """Mark a film "Not interested": it leaves your recommendations and onboarding set."""
    return _add(lists.HIDDEN, movie_id)


@bp.delete("/hidden/<int:movie_id>")
@bp.auth_required(token_auth)
@bp.output({}, status_code=204, description="Shown again")
@bp.doc(responses={404: "You have not hidden this movie"})
def show_movie_again(movie_id: int) -> str:
    """Show a hidden film again."""
    lists.remove(db.session, lists.HIDDEN, current_user().id, movie_id)
    return ""


@bp.get("/watchlist")
@bp.auth_required(token_auth)
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(WatchlistPageOut)
def list_watchlist(query: dict[str, int]) -> dict[str, Any]:
    """List your "Watch later" films in the order you added them."""
    return lists.list_page(db.session, lists.WATCHLIST, current_user().id, **query).to_dict()


@bp.put("/watchlist/<int:movie_id>")
@bp.auth_required(token_auth)
@bp.output(WatchlistOut, description="On your watch list already")
@bp.doc(responses=_put_responses("WatchlistOut"))
def add_to_watchlist(movie_id: int) -> tuple[dict[str, Any], int]:
    """Put a film on your watch list (at its end); it leaves your recommendations."""
    return _add(lists.WATCHLIST, movie_id)


@bp.delete("/watchlist/<int:movie_id>")
@bp.auth_required(token_auth)
@bp.output({}, status_code=204, description="Removed from your watch list")
@bp.doc(responses={404: "This movie is not on your watch list"})
def remove_from_watchlist(movie_id: int) -> str:
    """Take a film off your watch list."""
    lists.remove(db.session, lists.WATCHLIST, current_user().id, movie_id)
    return ""
