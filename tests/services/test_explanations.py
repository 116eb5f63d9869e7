"""The "why" of a prediction for any k, the cheap per-page predictions, and onboarding picks."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Flask

from recommender.extensions import db
from recommender.services import accounts, explanations, onboarding, ratings
from recommender.services.errors import Conflict, InvalidInput, NotFound
from recommender.settings import app_settings
from tests.factories import make_movie


@pytest.fixture
def setup(app: Flask):
    """Thirty movies and a user who rated seven of them (k = 3 in the test app)."""
    movies = [
        make_movie(
            f"Movie {i:02d}",
            1960 + 2 * i,
            (("Drama", "Comedy", "Action")[i % 3],),
            runtime_min=70 + 3 * i,
            imdb_rating=4.0 + (i * 7 % 11) * 0.5,
            imdb_votes=500 * (i + 1),
        )
        for i in range(30)
    ]
    user = accounts.create_user(db.session, "alice", "password123", hash_method="pbkdf2:sha256:1")
    scale = app_settings(app).rating_scale
    for movie, value in zip(movies[:7], (4, 2.5, 5, 1, 3.5, 4.5, 2), strict=True):
        ratings.rate_movie(db.session, user.id, movie.id, value, scale)
    return app.extensions["recommender"], user.id, movies


def test_explain_at_the_configured_k_equals_predict(setup):
    recommender, user_id, movies = setup
    for movie in movies[7:]:
        predicted = recommender.predict(db.session, user_id, movie.id)
        explained = explanations.explain(
            recommender, db.session, user_id, movie.id, recommender.settings.k
        )
        assert explained["predicted_rating"] == pytest.approx(
            predicted["predicted_rating"], abs=1e-9
        )
        assert explained["neighbours"] == predicted["neighbours"]


def test_explain_for_every_k_uses_k_neighbours_with_weights_summing_to_one(setup):
    recommender, user_id, movies = setup
    for k in range(1, 8):
        explained = explanations.explain(recommender, db.session, user_id, movies[20].id, k)
        assert explained["k"] == k and len(explained["neighbours"]) == k
        assert sum(n["weight"] for n in explained["neighbours"]) == pytest.approx(1, abs=1e-5)
        distances = [n["distance"] for n in explained["neighbours"]]
        assert distances == sorted(distances)
        assert 0.5 <= explained["predicted_rating"] <= 5


def test_explain_maps_every_rated_movie_and_marks_the_neighbours(setup):
    recommender, user_id, movies = setup
    explained = explanations.explain(recommender, db.session, user_id, movies[12].id, 3)
    points = explained["map"]["points"]
    assert len(points) == 7 and sum(p["is_neighbour"] for p in points) == 3
    neighbour_ids = {n["movie_id"] for n in explained["neighbours"]}
    assert {p["movie_id"] for p in points if p["is_neighbour"]} == neighbour_ids
    # PCA of centred points: the coordinates (target included) are centred too.
    xs = [p["x"] for p in points] + [explained["map"]["target"]["x"]]
    assert np.mean(xs) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("k", [0, 8])
def test_explain_refuses_k_outside_one_to_the_number_of_ratings(setup, k):
    recommender, user_id, movies = setup
    with pytest.raises(
        InvalidInput, match=f"k must be from 1 to your number of ratings \\(7\\), got {k}"
    ):
        explanations.explain(recommender, db.session, user_id, movies[20].id, k)


def test_explain_refuses_rated_and_unknown_movies(setup):
    recommender, user_id, movies = setup
    with pytest.raises(Conflict):
        explanations.explain(recommender, db.session, user_id, movies[0].id, 3)
    with pytest.raises(NotFound):
        explanations.explain(recommender, db.session, user_id, 10**6, 3)


def test_predictions_for_match_the_recommendations(setup):
    recommender, user_id, movies = setup
    wanted = [m.id for m in movies]
    predicted = explanations.predictions_for(recommender, db.session, user_id, wanted)
    assert set(predicted) == {m.id for m in movies[7:]}  # rated movies get none
    listed = recommender.recommend(db.session, user_id, 100)["items"]
    assert predicted == {item["movie"]["id"]: item["predicted_rating"] for item in listed}


def test_predictions_for_are_empty_during_cold_start(app: Flask):
    movie = make_movie("Alone", 2000)
    user = accounts.create_user(db.session, "bob", "password123", hash_method="pbkdf2:sha256:1")
    recommender = app.extensions["recommender"]
    assert explanations.predictions_for(recommender, db.session, user.id, [movie.id]) == {}


@pytest.mark.usefixtures("setup")
def test_starter_movies_take_each_genres_best_known_then_top_up():
    picked = [m["title"] for m in onboarding.starter_movies(db.session, 5)]
    # Most-voted Drama (27), Comedy (28), Action (29) by votes, then the next most-voted.
    assert picked == ["Movie 29", "Movie 28", "Movie 27", "Movie 26", "Movie 25"]
    assert len(onboarding.starter_movies(db.session, 2)) == 2


def test_progress_counts_towards_k_plus_one():
    assert onboarding.progress(1, 3) == {
        "count": 1,
        "goal": 4,
        "needed": 3,
        "unlocked": False,
        "percent": 25,
    }
    assert onboarding.progress(5, 3)["unlocked"] and onboarding.progress(5, 3)["needed"] == 0
