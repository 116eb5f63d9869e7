"""Every rating change answers in place: the widget, and out of band the other cards'
predictions, the unlock banner, the progress and the ratings count (k = 3 in the tests)."""

from __future__ import annotations

import re

from tests.web.conftest import post


def _statuses(html: str) -> dict[int, str]:
    """The out-of-band status lines of an answer: movie id -> their text."""
    found = re.findall(
        r'<p class="rating-status" id="status-(\d+)" hx-swap-oob="true">(.*?)</p>', html, re.S
    )
    return {int(movie_id): " ".join(text.split()) for movie_id, text in found}


def _rate_first(client, movies, values=("4", "2", "5")) -> None:
    for movie, value in zip(movies, values, strict=False):
        assert post(client, f"/ratings/{movie.id}", {"rating": value}).status_code == 200


def test_the_unlocking_rating_shows_predictions_on_the_other_cards(alice, catalogue):
    _rate_first(alice, catalogue[:3])
    others = [m.id for m in catalogue[4:10]]
    cards = ",".join(str(i) for i in [catalogue[3].id, *others, catalogue[0].id])
    before = post(alice, f"/ratings/{catalogue[2].id}", {"rating": "5", "cards": cards})
    # Before the unlock the other cards have nothing to show yet.
    assert set(_statuses(before.get_data(as_text=True)).values()) == {
        '<span class="muted">Not rated yet</span>'
    }

    response = post(alice, f"/ratings/{catalogue[3].id}", {"rating": "3.5", "cards": cards})
    html = response.get_data(as_text=True)
    statuses = _statuses(html)
    # Every unrated card, not the one just rated, nor an already rated one (catalogue[0]).
    assert sorted(statuses) == sorted(others)
    assert all(
        re.fullmatch(r"Predicted for you: <strong class=\"predicted\">\d\.\d</strong>", s)
        for s in statuses.values()
    )
    assert "Saved: 3.5 stars." in html


def test_the_catalogue_banner_follows_the_count_both_ways(alice, catalogue):
    _rate_first(alice, catalogue[:2])
    html = post(alice, f"/ratings/{catalogue[2].id}", {"rating": "1", "parts": "banner"}).get_data(
        as_text=True
    )
    assert re.search(
        r'<div id="unlock-banner" hx-swap-oob="true">\s*<p class="banner">Rate 1 '
        r"more movie to unlock",
        html,
    )
    html = post(alice, f"/ratings/{catalogue[3].id}", {"rating": "1", "parts": "banner"}).get_data(
        as_text=True
    )
    assert re.search(r'<div id="unlock-banner" hx-swap-oob="true">\s*</div>', html)
    html = post(alice, f"/ratings/{catalogue[3].id}/delete", {"parts": "banner"}).get_data(
        as_text=True
    )
    assert "Rate 1 more movie to unlock" in html


def test_removing_a_rating_updates_the_count_and_the_card(alice, catalogue):
    _rate_first(alice, catalogue[:4], ("4", "2", "5", "3"))
    assert "4 rated" in alice.get("/ratings").get_data(as_text=True)
    response = post(alice, f"/ratings/{catalogue[1].id}/delete", {"parts": "count"})
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="count" id="ratings-count" hx-swap-oob="true">3 rated', html)
    # The removed film's own card now shows no rating (3 left: k = 3, so no prediction yet).
    assert "Rating removed." in html and 'class="yours"' not in html
    assert "Not rated yet" in html


def test_removing_a_rating_past_the_unlock_shows_its_prediction(alice, catalogue):
    _rate_first(alice, catalogue[:5], ("4", "2", "5", "3", "1"))
    html = post(alice, f"/ratings/{catalogue[4].id}/delete", {}).get_data(as_text=True)
    assert re.search(r'Predicted for you: <strong class="predicted">\d\.\d</strong>', html)


def test_an_error_answers_only_the_widget(alice, catalogue):
    cards = ",".join(str(m.id) for m in catalogue[1:5])
    response = post(
        alice, f"/ratings/{catalogue[0].id}", {"rating": "9", "cards": cards, "parts": "count"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "hx-swap-oob" not in html


def test_junk_in_the_cards_field_is_skipped_and_the_rating_saved(alice, catalogue):
    cards = f"{catalogue[1].id},abc,,-,99999999999,{catalogue[1].id}"
    response = post(alice, f"/ratings/{catalogue[0].id}", {"rating": "4", "cards": cards})
    assert response.status_code == 200
    assert list(_statuses(response.get_data(as_text=True))) == [catalogue[1].id]


def test_pages_send_their_cards_with_every_rating(alice, catalogue):
    html = alice.get("/").get_data(as_text=True)
    match = re.search(r'class="page-state" name="cards" value="([\d,]+)"', html)
    assert match and len(match.group(1).split(",")) == len(catalogue)
    assert 'hx-include=".page-state"' in html
    assert 'name="parts" value="count"' in alice.get("/ratings").get_data(as_text=True)
