"""The rating widget's routes and the "Your ratings" page, one user at a time."""

from __future__ import annotations

import pytest

from recommender.extensions import db
from recommender.models import User
from recommender.services.ratings import get_rating
from tests.web.conftest import csrf_token, post


def _user_id(username: str) -> int:
    return db.session.query(User.id).filter_by(username=username).scalar()


def test_rating_saves_without_a_reload_and_shows_it(alice, catalogue):
    movie = catalogue[0]
    response = post(alice, f"/ratings/{movie.id}", {"rating": "4.5"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="rating-widget"' in html and "<html" not in html  # a fragment for htmx
    assert "Saved: 4.5 stars." in html and 'value="4.5" checked' in html
    assert get_rating(db.session, _user_id("alice"), movie.id) == 4.5


def test_a_rating_can_be_changed_and_removed(alice, catalogue):
    movie = catalogue[0]
    post(alice, f"/ratings/{movie.id}", {"rating": "2"})
    post(alice, f"/ratings/{movie.id}", {"rating": "3.5"})
    assert get_rating(db.session, _user_id("alice"), movie.id) == 3.5
    response = post(alice, f"/ratings/{movie.id}/delete", {})
    assert response.status_code == 200 and "Rating removed." in response.get_data(as_text=True)
    assert get_rating(db.session, _user_id("alice"), movie.id) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7", "Rating must be from 0.5 to 5, got 7"),
        ("0", "Rating must be from 0.5 to 5, got 0"),
        ("3.3", "Rating must be a multiple of 0.5 from 0.5, got 3.3"),
        ("nan", "Rating must be from 0.5 to 5, got nan"),
        ("", "Choose a rating first."),
        ("four", "Choose a rating first."),
    ],
)
def test_a_bad_value_shows_an_error_and_changes_nothing(alice, catalogue, value, message):
    movie = catalogue[0]
    post(alice, f"/ratings/{movie.id}", {"rating": "2"})
    response = post(alice, f"/ratings/{movie.id}", {"rating": value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'role="alert"' in html
    assert 'value="2" checked' in html  # the widget still shows the stored rating
    assert get_rating(db.session, _user_id("alice"), movie.id) == 2


def test_rating_an_unknown_movie_is_a_404(alice, catalogue):
    assert post(alice, "/ratings/99999", {"rating": "3"}).status_code == 404


def test_removing_a_rating_you_do_not_have_shows_an_error(alice, catalogue):
    response = post(alice, f"/ratings/{catalogue[0].id}/delete", {})
    assert response.status_code == 422
    assert "You have not rated movie" in response.get_data(as_text=True)


def test_without_javascript_the_form_posts_and_redirects_back(alice, catalogue):
    movie = catalogue[0]
    response = post(alice, f"/ratings/{movie.id}", {"rating": "5", "next": "/?page=1"}, htmx=False)
    assert response.status_code == 302 and response.headers["Location"] == "/?page=1"
    assert "Saved: 5 stars." in alice.get("/").get_data(as_text=True)
    response = post(
        alice, f"/ratings/{movie.id}", {"rating": "9", "next": "//evil.example"}, htmx=False
    )
    assert response.headers["Location"] == "/"
    assert get_rating(db.session, _user_id("alice"), movie.id) == 5


def test_anonymous_rating_is_refused(client, app, catalogue):
    token = csrf_token(client, "/")
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    response = client.post(f"/ratings/{catalogue[0].id}", data={"rating": "3"}, headers=headers)
    assert response.status_code == 401
    response = client.post(f"/ratings/{catalogue[0].id}", data={"rating": "3", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_your_ratings_lists_only_yours(alice, bob, catalogue):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "4"})
    post(bob, f"/ratings/{catalogue[1].id}", {"rating": "1"})
    alices = alice.get("/ratings").get_data(as_text=True)
    bobs = bob.get("/ratings").get_data(as_text=True)
    assert "Film 00" in alices and "Film 01" not in alices and "1 rated" in alices
    assert "Film 01" in bobs and "Film 00" not in bobs


def test_a_second_user_cannot_change_the_first_users_rating(alice, bob, catalogue):
    movie = catalogue[0]
    post(alice, f"/ratings/{movie.id}", {"rating": "4"})
    post(bob, f"/ratings/{movie.id}", {"rating": "1"})
    post(bob, f"/ratings/{movie.id}/delete", {})
    assert get_rating(db.session, _user_id("alice"), movie.id) == 4
    assert get_rating(db.session, _user_id("bob"), movie.id) is None
    # Bob's catalogue shows no rating of his, and never Alice's.
    page = bob.get("/").get_data(as_text=True)
    assert "Your rating:" not in page


def test_the_catalogue_shows_your_rating_on_the_card(alice, catalogue):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "3.5"})
    page = alice.get("/").get_data(as_text=True)
    assert 'Your rating: <strong class="yours">3.5</strong>' in page
