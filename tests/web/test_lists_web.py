"""The "Not interested" / "Watch later" buttons, the two list pages and the recommendations
page's filters, order, paging and replacement card (k = 3 in tests)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import HiddenMovie, User, WatchlistEntry
from tests.factories import make_movie
from tests.web.conftest import post


def _user_id(username: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == username))


def stored(model, username: str) -> list[int]:
    db.session.expire_all()
    return sorted(
        db.session.scalars(sa.select(model.movie_id).where(model.user_id == _user_id(username)))
    )


# A list page's row title, a link to the film page.
TITLE = r'<h2 class="title"><a class="film-link" href="/movies/\d+">(Film \d+)</a>'


def card_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<li class="rec" id="rec-(\d+)"', html)]


def rate_four(client, catalogue):
    for movie, value in zip(catalogue[:4], ("5", "4", "1", "2"), strict=True):
        assert post(client, f"/ratings/{movie.id}", {"rating": value}).status_code == 200


def test_every_catalogue_card_has_both_buttons_and_they_toggle(alice, catalogue):
    page = alice.get("/").get_data(as_text=True)
    assert page.count(">Not interested<") == 16 and page.count(">Watch later<") == 16
    movie = catalogue[0]
    response = post(alice, f"/hidden/{movie.id}", {})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and f'id="lists-{movie.id}"' in html
    assert ">Show again<" in html and f"Hidden: {movie.title}" in html
    assert stored(HiddenMovie, "alice") == [movie.id]
    again = post(alice, f"/hidden/{movie.id}/delete", {}).get_data(as_text=True)
    assert ">Not interested<" in again and stored(HiddenMovie, "alice") == []

    post(alice, f"/watchlist/{movie.id}", {})
    assert stored(WatchlistEntry, "alice") == [movie.id]
    page = alice.get("/").get_data(as_text=True)
    assert page.count("On your watch list<") == 1 and page.count(">Remove<span") == 1


def test_without_javascript_the_buttons_post_and_redirect_back(alice, catalogue):
    movie = catalogue[2]
    response = post(alice, f"/watchlist/{movie.id}", {"next": "/?page=1"}, htmx=False)
    assert response.status_code == 302 and response.headers["Location"] == "/?page=1"
    assert stored(WatchlistEntry, "alice") == [movie.id]
    page = alice.get("/?page=1").get_data(as_text=True)
    assert f"Added {movie.title} to your watch list." in page
    # An open redirect is refused: back to the catalogue instead.
    response = post(alice, f"/hidden/{movie.id}", {"next": "https://evil.example/"}, htmx=False)
    assert response.headers["Location"] == "/"


def test_errors_change_nothing_and_say_what(alice, catalogue):
    movie = catalogue[0]
    response = post(alice, f"/watchlist/{movie.id}/delete", {})
    assert response.status_code == 422
    assert "is not on your watch list" in response.get_data(as_text=True)
    assert post(alice, "/hidden/999999", {}).status_code == 404
    assert stored(HiddenMovie, "alice") == [] and stored(WatchlistEntry, "alice") == []


def test_the_list_pages_show_only_your_own_in_order_with_undo(alice, bob, catalogue):
    for i in (3, 1, 2):
        post(alice, f"/watchlist/{catalogue[i].id}", {})
        post(alice, f"/hidden/{catalogue[i].id}", {})
    post(bob, f"/watchlist/{catalogue[5].id}", {})
    watch = alice.get("/watchlist").get_data(as_text=True)
    titles = re.findall(TITLE, watch)
    assert titles == [catalogue[i].title for i in (3, 1, 2)]  # the order added
    assert catalogue[5].title not in watch
    hidden = alice.get("/hidden").get_data(as_text=True)
    assert re.findall(TITLE, hidden) == [catalogue[i].title for i in (2, 1, 3)]
    # "Show again" on the hidden page removes the row (an empty main swap) and the entry; the
    # page's count follows out of band.
    response = post(alice, f"/hidden/{catalogue[1].id}/delete", {"from": "list-hidden"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith(
        '<p class="count" id="list-count"'
    )
    assert "2 films you will not be recommended." in " ".join(html.split())
    assert stored(HiddenMovie, "alice") == sorted([catalogue[3].id, catalogue[2].id])
    # The other list's button on that page re-renders its buttons instead.
    response = post(alice, f"/watchlist/{catalogue[2].id}/delete", {"from": "list-hidden"})
    assert f'id="lists-{catalogue[2].id}"' in response.get_data(as_text=True)


def test_the_lists_are_linked_from_the_recommendations_page(alice, catalogue):
    page = alice.get("/recommendations").get_data(as_text=True)
    assert 'href="/watchlist"' in page and 'href="/hidden"' in page


@pytest.mark.parametrize("personal", [False, True], ids=["cold_start", "knn"])
def test_hiding_from_the_recommendations_page_brings_the_next_card(alice, catalogue, personal):
    if personal:
        rate_four(alice, catalogue)
    first = card_ids(alice.get("/recommendations?per_page=5").get_data(as_text=True))
    assert len(first) == (12 if personal else 16)  # fewer than a page: all shown
    shown = first[:5]
    data = {"from": "recommendations", "shown": [str(i) for i in shown], "order": "match"}
    response = post(alice, f"/hidden/{shown[0]}", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    # The card goes (nothing in the main swap) and the next one not on the page is appended.
    appended = card_ids(html)
    assert appended == [first[5]]
    assert 'hx-swap-oob="beforeend:#recs"' in html
    assert "will not be recommended" in html
    assert shown[0] not in card_ids(alice.get("/recommendations").get_data(as_text=True))


def test_more_than_twenty_recommendations_page_and_show_more(alice, app):
    movies = [
        make_movie(f"Many {i:02d}", 1950 + i, ("Drama",), imdb_votes=10 * i) for i in range(45)
    ]
    first = alice.get("/recommendations").get_data(as_text=True)
    assert len(card_ids(first)) == 20 and "Show more" in first
    second = alice.get("/recommendations?page=2").get_data(as_text=True)
    third = alice.get("/recommendations?page=3").get_data(as_text=True)
    ids = card_ids(first) + card_ids(second) + card_ids(third)
    assert sorted(ids) == sorted(m.id for m in movies) and "Show more" not in third
    # htmx's "Show more" sends the ids on the page and gets the best cards not among them.
    shown = "".join(f"&shown={i}" for i in card_ids(first))
    more = alice.get(f"/recommendations?page=2&part=more{shown}", headers={"HX-Request": "true"})
    html = more.get_data(as_text=True)
    assert "<html" not in html and card_ids(html) == card_ids(second)
    assert "page=3" in html and "Show more" in html
    shown += "".join(f"&shown={i}" for i in card_ids(second))
    last = alice.get(f"/recommendations?page=3&part=more{shown}", headers={"HX-Request": "true"})
    html = last.get_data(as_text=True)
    assert card_ids(html) == card_ids(third) and "Show more" not in html


def test_filters_and_order_narrow_and_sort_the_page(alice, catalogue):
    rate_four(alice, catalogue)
    page = alice.get("/recommendations?genre=comedy&year_min=1970&year_max=2020").get_data(
        as_text=True
    )
    ids = card_ids(page)
    comedies = {m.id for m in catalogue[4:] if "Comedy" in [g.name for g in m.genres]}
    assert set(ids) == comedies and ids
    by_rating = alice.get("/recommendations?order=rating").get_data(as_text=True)
    predicted = [float(v) for v in re.findall(r'<strong class="predicted">([\d.]+)<', by_rating)]
    assert predicted == sorted(predicted, reverse=True)
    assert 'value="rating" selected' in by_rating
    # Junk parameters show the plain list, never an error.
    assert alice.get("/recommendations?order=bogus&year_min=x&page=-3").status_code == 200


def test_hidden_films_leave_the_welcome_page(alice, catalogue):
    welcome = alice.get("/welcome").get_data(as_text=True)
    first = re.search(r'<li class="movie" id="movie-(\d+)"', welcome)
    assert first
    movie_id = int(first.group(1))
    post(alice, f"/hidden/{movie_id}", {})
    assert f'id="movie-{movie_id}"' not in alice.get("/welcome").get_data(as_text=True)


def test_the_catalogue_sorts_by_your_prediction_once_you_have_them(alice, catalogue):
    assert 'value="predicted"' not in alice.get("/").get_data(as_text=True)
    # Asked for before predictions exist: the usual order, no error.
    assert alice.get("/?sort=predicted").status_code == 200
    rate_four(alice, catalogue)
    page = alice.get("/?sort=predicted").get_data(as_text=True)
    assert 'value="predicted" selected' in page
    shown = re.findall(
        r'Predicted for you: <strong class="predicted">([\d.]+)</strong>|'
        r'Your rating: <strong class="yours">([\d.]+)</strong>',
        page,
    )
    predicted = [float(p) for p, _ in shown if p]
    yours = [float(y) for _, y in shown if y]
    assert len(predicted) == 12 and predicted == sorted(predicted, reverse=True)
    # The rated films come after every unrated one, best rated first.
    assert yours == [5.0, 4.0, 2.0, 1.0] and all(p for p, _ in shown[:12])
    # Filters still apply.
    dramas = alice.get("/?sort=predicted&genre=Drama").get_data(as_text=True)
    assert dramas.count('<li class="movie"') == 2
