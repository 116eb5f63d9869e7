"""The recommendations and onboarding pages send their state with every live update and the
answers keep it: the next card under the list shown (not the filter form's unsubmitted values),
the counts out of band, the onboarding page's next starter film (k = 3 in the tests)."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_movie
from tests.web.conftest import post
from tests.web.test_lists_web import card_ids, rate_four


def _count(html: str) -> int:
    """The "N films to discover" of a page or an out-of-band answer."""
    match = re.search(r'<span class="discover-count">([\d,]+) films? to discover</span>', html)
    assert match, "no count"
    return int(match.group(1).replace(",", ""))


def _state(page: str) -> dict[str, list[str]]:
    """The page's ``.page-state`` inputs, as htmx's hx-include sends them."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(
        r'<input type="hidden" class="page-state"(?: id="[^"]+")? name="([^"]+)" value="([^"]*)"',
        page,
    ):
        fields.setdefault(name, []).append(value)
    return fields


@pytest.fixture
def many(app) -> list:
    """90 films from 1950 on, every third a comedy, so a filtered list passes a page too."""
    return [
        make_movie(
            f"Many {i:02d}",
            1950 + i,
            ("Comedy",) if i % 3 == 0 else ("Drama",),
            imdb_votes=10 * (i + 1),
        )
        for i in range(90)
    ]


def test_the_page_lists_its_state_once_and_each_card_its_id(alice, many):
    page = alice.get("/recommendations?genre=Comedy&year_min=1980&order=rating").get_data(
        as_text=True
    )
    state = _state(page)
    assert state["genre"] == ["Comedy"] and state["year_min"] == ["1980"]
    assert state["order"] == ["rating"] and state["parts"] == ["discover"]
    assert [int(i) for i in state["shown"]] == card_ids(page)
    # Every live control of the page sends it: the stars, both list buttons and "Show more".
    assert page.count('hx-include=".page-state"') == 3 * len(card_ids(page)) + (
        1 if "Show more" in page else 0
    )


def test_a_hide_answers_under_the_list_shown_not_the_filter_form(alice, many):
    rate_four(alice, many)
    page = alice.get("/recommendations?genre=Comedy&year_min=1960").get_data(as_text=True)
    shown = card_ids(page)
    assert len(shown) == 20 and _count(page) == 26  # comedies from 1960 on, none rated
    state = _state(page)
    # The card's own form carries nothing of the list: it all comes from the page's state.
    response = post(alice, f"/hidden/{shown[0]}", {"from": "recommendations", **state})
    html = response.get_data(as_text=True)
    appended = card_ids(html)
    assert len(appended) == 1 and appended[0] not in shown
    film = next(m for m in many if m.id == appended[0])
    assert [g.name for g in film.genres] == ["Comedy"] and film.year >= 1960
    # The count follows out of band: one film fewer to discover; five are left for more.
    assert 'id="rec-count" hx-swap-oob="true"' in html and _count(html) == 25
    assert re.search(r'<nav class="more" id="rec-more"[^>]*hx-swap-oob="true">', html)
    assert "Show more" in html


def test_when_the_list_runs_out_show_more_goes(alice, many):
    page = alice.get("/recommendations?genre=Comedy&year_min=2020").get_data(as_text=True)
    shown = card_ids(page)
    assert len(shown) == 6 and _count(page) == 6 and "Show more" not in page
    html = post(
        alice, f"/watchlist/{shown[2]}", {"from": "recommendations", **_state(page)}
    ).get_data(as_text=True)
    assert card_ids(html) == [] and _count(html) == 5 and "Show more" not in html


def test_show_more_is_kept_while_films_are_left_and_names_the_page_after(alice, many):
    page = alice.get("/recommendations").get_data(as_text=True)
    state = _state(page)
    assert _count(page) == 90 and len(state["shown"]) == 20
    html = post(
        alice, f"/watchlist/{state['shown'][3]}", {"from": "recommendations", **state}
    ).get_data(as_text=True)
    assert _count(html) == 89 and "Show more" in html
    assert 'href="/recommendations?page=2&amp;order=match"' in html
    # "Show more" with the state: the next twenty not on the page, none on the watch list.
    more = alice.get(
        "/recommendations",
        query_string={"page": 2, "part": "more", **state},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert len(card_ids(more)) == 20 and not set(card_ids(more)) & {int(i) for i in state["shown"]}


def test_a_rating_in_place_refreshes_the_count_the_header_and_the_other_cards(alice, many):
    rate_four(alice, many[:3] + many[4:5])
    page = alice.get("/recommendations").get_data(as_text=True)
    state = _state(page)
    before = _count(page)
    rated = int(state["shown"][0])
    html = post(alice, f"/ratings/{rated}", {"rating": "4.5", **state}).get_data(as_text=True)
    assert "Saved: 4.5 stars." in html
    assert _count(html) == before - 1
    assert "Predicted from your 5 ratings" in html
    statuses = re.findall(r'id="status-(\d+)" hx-swap-oob="true"', html)
    assert sorted(int(i) for i in statuses) == sorted(int(i) for i in state["shown"][1:])


def test_the_unlock_on_the_recommendations_page_changes_its_header_in_place(alice, many):
    for movie in many[:3]:
        assert post(alice, f"/ratings/{movie.id}", {"rating": "4"}).status_code == 200
    page = alice.get("/recommendations").get_data(as_text=True)
    assert "Rate 1 more movie to unlock" in page
    state = _state(page)
    html = post(alice, f"/ratings/{state['shown'][0]}", {"rating": "2", **state}).get_data(
        as_text=True
    )
    assert re.search(r'<div id="rec-intro" hx-swap-oob="true">\s*<p>Predicted from your 4', html)
    assert "Predicted for you: <strong" in html


def test_a_recommendation_shows_its_predicted_rating_once(alice, many):
    rate_four(alice, many)
    page = alice.get("/recommendations").get_data(as_text=True)
    cards = re.findall(r'<li class="rec" id="rec-\d+">(.*?)</li>', page, re.S)
    assert len(cards) == 20
    for card in cards:
        value = re.search(r'<strong class="predicted">(\d\.\d)</strong>', card).group(1)
        assert card.count(value) == 1, card
    assert 'class="score"' not in page


def test_hiding_a_starter_film_brings_the_next_one(alice, many):
    welcome = alice.get("/welcome").get_data(as_text=True)
    cards = [int(i) for i in re.findall(r'<li class="movie" id="movie-(\d+)"', welcome)]
    state = _state(welcome)
    assert [int(i) for i in state["cards"][0].split(",")] == cards
    assert 'hx-target="closest li"' in welcome  # the hide takes the card away
    response = post(alice, f"/hidden/{cards[0]}", {"from": "welcome", **state})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    appended = re.findall(r'<li class="movie" id="movie-(\d+)"', html)
    assert len(appended) == 1 and int(appended[0]) not in cards
    assert 'hx-swap-oob="beforeend:#starter-movies"' in html
    # The page's list of cards follows: the rating widgets send it for the live updates.
    new_cards = re.search(r'id="welcome-cards" name="cards" value="([\d,]+)"', html).group(1)
    assert [int(i) for i in new_cards.split(",")] == [*cards[1:], int(appended[0])]
    assert "will not be recommended" in html
    # What a reload shows: the same films (the diverse set may order them differently).
    reloaded = alice.get("/welcome").get_data(as_text=True)
    assert sorted(int(i) for i in re.findall(r'<li class="movie" id="movie-(\d+)"', reloaded)) == (
        sorted([*cards[1:], int(appended[0])])
    )
    # "Watch later" on the onboarding page keeps the card (it is still a starter film).
    later = post(alice, f"/watchlist/{cards[1]}", {"from": "welcome", **state})
    assert f'id="lists-{cards[1]}"' in later.get_data(as_text=True)


def test_the_last_row_leaving_a_list_page_says_the_list_is_empty(alice, many):
    post(alice, f"/watchlist/{many[0].id}", {})
    page = alice.get("/watchlist").get_data(as_text=True)
    assert "1 film to watch" in page and 'class="pages"' not in page  # no "page 1 of 1"
    html = post(alice, f"/watchlist/{many[0].id}/delete", {"from": "list-watchlist"}).get_data(
        as_text=True
    )
    assert '<p class="count" id="list-count" hx-swap-oob="true">0 films to watch.</p>' in html
    assert 'hx-swap-oob="beforeend:#watch-list"' in html and "Nothing here yet" in html


def test_the_film_page_has_the_list_buttons_for_its_film(alice, many):
    page = alice.get(f"/movies/{many[0].id}").get_data(as_text=True)
    assert f'id="lists-{many[0].id}"' in page and f'action="/hidden/{many[0].id}"' in page
