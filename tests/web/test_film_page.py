"""The film page /movies/<id>: attributes, community figures, your rating or prediction,
"More like this", and a 404 for an unknown id."""

from __future__ import annotations

import datetime as dt
import re

from recommender.extensions import db
from recommender.models import Movie, Rating, User
from recommender.services import accounts
from recommender.settings import current_settings
from tests.web.conftest import post


def _rate(user_id: int, movie_id: int, value: float) -> None:
    db.session.add(
        Rating(user_id=user_id, movie_id=movie_id, rating=value, rated_at=dt.datetime.now(dt.UTC))
    )


def _user_id(username: str) -> int:
    return db.session.query(User.id).filter_by(username=username).scalar()


def test_an_unknown_film_is_the_404_page(client, catalogue):
    response = client.get("/movies/987654")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "We could not find that page" in html and "<html" in html


def test_anonymous_visitors_see_the_film_and_are_asked_to_sign_in(client, catalogue):
    movie: Movie = catalogue[3]
    movie.director = "Ada Director"
    movie.budget = 12_500_000
    db.session.commit()
    response = client.get(f"/movies/{movie.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"<h1>{movie.title} <span" in html
    assert "Ada Director" in html and "$12,500,000" in html
    assert f"{movie.runtime_min} min" in html
    assert "Nobody here has rated it yet." in html
    assert "Sign in</a> to rate it" in html and 'class="rating-widget"' not in html


def test_the_histogram_counts_everyone_s_ratings(client, catalogue):
    movie = catalogue[0]
    values = [4, 4, 5, 2]
    for i, value in enumerate(values):
        user = accounts.create_user(db.session, f"fan{i}", "a long password")
        _rate(user.id, movie.id, value)
    db.session.commit()
    html = client.get(f"/movies/{movie.id}").get_data(as_text=True)
    assert re.search(r'class="community-mean">3\.8<', html)  # 15 / 4 = 3.75
    assert "4 ratings" in html
    bars = dict(re.findall(r"<title>([\d.]+) stars: (\d+) ratings?</title>", html))
    assert bars["4"] == "2" and bars["5"] == "1" and bars["2"] == "1" and bars["3"] == "0"
    assert len(bars) == 10


def test_a_signed_in_user_sees_and_changes_their_rating_there(alice, catalogue):
    movie = catalogue[1]
    post(alice, f"/ratings/{movie.id}", {"rating": "3.5"})
    html = alice.get(f"/movies/{movie.id}").get_data(as_text=True)
    assert f'id="rate-{movie.id}"' in html and 'value="3.5" checked' in html
    response = post(alice, f"/ratings/{movie.id}", {"rating": "5"})
    assert "Saved: 5 stars." in response.get_data(as_text=True)
    assert "1 rating" in alice.get(f"/movies/{movie.id}").get_data(as_text=True)


def test_past_k_ratings_the_page_shows_your_prediction(app, alice, catalogue):
    k = current_settings().k
    assert k + 1 < len(catalogue), "the catalogue must leave a film unrated"
    user_id = _user_id("alice")
    for movie in catalogue[1 : k + 2]:
        _rate(user_id, movie.id, 4)
    # Written past the service, so bump the version the predictions cache is keyed by.
    db.session.query(User).filter_by(id=user_id).update({"ratings_version": 99})
    db.session.commit()
    before = alice.get(f"/movies/{catalogue[0].id}").get_data(as_text=True)
    assert "Predicted for you" in before
    html = alice.get(f"/movies/{catalogue[0].id}").get_data(as_text=True)
    assert re.search(r'Predicted for you: <strong class="predicted">\d\.\d</strong>', html)


def test_more_like_this_lists_other_films_nearest_first(client, catalogue):
    movie = catalogue[5]
    html = client.get(f"/movies/{movie.id}").get_data(as_text=True)
    similar = html.split('id="similar-heading"', 1)[1]
    linked = [int(i) for i in re.findall(r'href="/movies/(\d+)"', similar)]
    assert linked and movie.id not in linked and len(set(linked)) == len(linked)
    assert len(linked) == min(8, len(catalogue) - 1)


def test_titles_link_to_the_film_page_from_the_catalogue(client, catalogue):
    html = client.get("/").get_data(as_text=True)
    assert f'href="/movies/{catalogue[0].id}"' in html
