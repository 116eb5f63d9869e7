"""The "Not interested" and "Watch later" buttons of every card (htmx, with plain-form
fallbacks) and the two lists' own pages, ``/hidden`` and ``/watchlist``."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from recommender.extensions import db
from recommender.services import catalogue, lists
from recommender.services.errors import DomainError
from recommender.web.auth import safe_next
from recommender.web.common import WHOLE_NUMBER, int_arg, is_htmx, user_id
from recommender.web.pages import card_context, next_starter
from recommender.web.recommendations import replacement

bp = APIBlueprint("lists", __name__, enable_openapi=False)
PER_PAGE = 20

DONE = {
    ("hidden", True): "Hidden: {title} will not be recommended.",
    ("hidden", False): "{title} can be recommended again.",
    ("watchlist", True): "Added {title} to your watch list.",
    ("watchlist", False): "Removed {title} from your watch list.",
}


@bp.app_template_global()
def list_state(movie_id: int) -> dict[str, bool]:
    """Whether the signed-in user has the movie on each list, for the buttons of every card.

    Read once per request and kept on the request object (not ``g``, which lives as long as the
    app context: a test's spans many requests)."""
    if not current_user.is_authenticated:
        return {"hidden": False, "watchlist": False}
    ids = getattr(request, "list_ids", None)
    if ids is None:
        ids = {
            film_list.name: lists.member_ids(db.session, film_list, user_id())
            for film_list in lists.LISTS.values()
        }
        request.list_ids = ids
    return {name: movie_id in members for name, members in ids.items()}


def _where() -> str | None:
    # Only the values the buttons send: anything else re-renders plain buttons.
    where = request.form.get("from")
    return where if where in WHERES else None


WHERES = ("recommendations", "welcome", "list-hidden", "list-watchlist")
# At most this many card ids read from a page's state (the onboarding page shows 12 to 16).
MAX_CARDS = 60


def _page_cards() -> list[int]:
    """The onboarding page's cards (its ``cards`` state field: ids joined by commas); a hint
    our own page sends, so anything that is not a whole number is skipped."""
    ids = []
    for part in request.form.get("cards", "").split(",")[:MAX_CARDS]:
        part = part.strip()
        if WHOLE_NUMBER.fullmatch(part) and int(part) not in ids:
            ids.append(int(part))
    return ids


def _answer_htmx(
    film_list: lists.FilmList, movie_id: int, adding: bool, message: str
) -> str | tuple[str, int]:
    """What the page's htmx swaps in after a change: see :func:`_change`."""
    where = request.form.get("from")
    if where == f"list-{film_list.name}" and not adding:
        return _left_list_page(film_list)
    if where == "recommendations" and adding:
        # The card goes (an empty swap) and the next recommendation under the page's state is
        # appended in its place; the count and "Show more" follow.
        return render_template(
            "_rec_replaced.html",
            **replacement(request.form),
            film_list=film_list.name,
            message=message,
        )
    if where == "welcome" and adding and film_list is lists.HIDDEN:
        # The card goes and the next starter film not on the page takes its place.
        cards = [card for card in _page_cards() if card != movie_id]
        item = next_starter([*cards, movie_id])
        if item is not None:
            cards.append(item["id"])
        return render_template(
            "_welcome_replaced.html",
            item=item,
            movies=[{"id": card} for card in cards],
            message=message,
            **card_context([item["id"]] if item else []),
        )
    movie = catalogue.get_movie(db.session, movie_id)
    return render_template(
        "_list_actions_answer.html", movie=movie, message=message, where=_where(), error=False
    )


def _left_list_page(film_list: lists.FilmList) -> str:
    """A row taken off its list's page: nothing in its place, and out of band the page's count
    (and the empty-list line when it was the last)."""
    total = lists.list_page(db.session, film_list, user_id(), page=1, per_page=1).total
    return render_template("_list_left.html", film_list=film_list.name, total=total)


def _change(
    film_list: lists.FilmList, movie_id: int, adding: bool
) -> Response | str | tuple[str, int]:
    """Add or remove, then answer: htmx gets a fragment (422 with the buttons and the message
    on error), a plain form a flash and a redirect back to where it came from."""
    back = safe_next(request.form.get("next"), url_for("pages.index"))
    try:
        if adding:
            lists.add(db.session, film_list, user_id(), movie_id)
        else:
            lists.remove(db.session, film_list, user_id(), movie_id)
        title = catalogue.get_movie(db.session, movie_id)["title"]
    except DomainError as error:
        if not is_htmx():
            flash(error.message, "error")
            return redirect(back)
        request.list_ids = None
        if movie_id not in _existing([movie_id]):
            return error.message, 404
        movie = catalogue.get_movie(db.session, movie_id)
        html = render_template(
            "_list_actions_answer.html",
            movie=movie,
            message=error.message,
            where=_where(),
            error=True,
        )
        return html, 422
    message = DONE[(film_list.name, adding)].format(title=title)
    if not is_htmx():
        flash(message, "success")
        return redirect(back)
    return _answer_htmx(film_list, movie_id, adding, message)


def _existing(movie_ids: list[int]) -> set[int]:
    return lists.existing_movies(db.session, movie_ids)


@bp.post("/hidden/<int:movie_id>")
@login_required
def hide(movie_id: int) -> Response | str | tuple[str, int]:
    """Mark a film "Not interested"."""
    return _change(lists.HIDDEN, movie_id, adding=True)


@bp.post("/hidden/<int:movie_id>/delete")
@login_required
def show_again(movie_id: int) -> Response | str | tuple[str, int]:
    """Show a hidden film again."""
    return _change(lists.HIDDEN, movie_id, adding=False)


@bp.post("/watchlist/<int:movie_id>")
@login_required
def add_to_watchlist(movie_id: int) -> Response | str | tuple[str, int]:
    """Put a film on the watch list."""
    return _change(lists.WATCHLIST, movie_id, adding=True)


@bp.post("/watchlist/<int:movie_id>/delete")
@login_required
def remove_from_watchlist(movie_id: int) -> Response | str | tuple[str, int]:
    """Take a film off the watch list."""
    return _change(lists.WATCHLIST, movie_id, adding=False)


def _list_page(film_list: lists.FilmList, template: str) -> str:
    number = max(int_arg("page") or 1, 1)
    result = lists.list_page(db.session, film_list, user_id(), page=number, per_page=PER_PAGE)
    context: dict[str, Any] = {
        "result": result,
        "last_page": max((result.total + PER_PAGE - 1) // PER_PAGE, 1),
    }
    return render_template(template, **context)


@bp.get("/hidden")
@login_required
def hidden_page() -> str:
    """The films you marked "Not interested", most recent first, each with "Show again"."""
    return _list_page(lists.HIDDEN, "hidden.html")


@bp.get("/watchlist")
@login_required
def watchlist_page() -> str:
    """Your watch list in the order you added the films, each with "Remove"."""
    return _list_page(lists.WATCHLIST, "watchlist.html")
