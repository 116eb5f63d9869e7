"""The "why" of a prediction for any k, the cheap per-page predictions, and onboarding picks."""

from __future__ import annotations

import pytest
from flask import Flask

from recommender.engine.scale import RatingScale
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
        # The same neighbours, each with its share of their say besides.
        assert [
            {key: value for key, value in n.items() if key not in ("share", "pull")}
            for n in explained["neighbours"]
        ] == predicted["neighbours"]


def test_explain_for_every_k_uses_k_neighbours_with_weights_summing_to_one(setup):
    recommender, user_id, movies = setup
    for k in range(1, 8):
        explained = explanations.explain(recommender, db.session, user_id, movies[20].id, k)
        assert explained["k"] == k and len(explained["neighbours"]) == k
        assert sum(n["weight"] for n in explained["neighbours"]) == pytest.approx(1, abs=1e-5)
        distances = [n["distance"] for n in explained["neighbours"]]
        assert distances == sorted(distances)
        assert 0.5 <= explained["predicted_rating"] <= 5


def test_explain_shares_sum_to_one_and_the_headline_takes_the_largest(setup):
    recommender, user_id, movies = setup
    for k in range(1, 8):
        explained = explanations.explain(recommender, db.session, user_id, movies[12].id, k)
        shares = [n["share"] for n in explained["neighbours"]]
        assert sum(shares) == pytest.approx(1, abs=1e-5)
        # Without shrinkage (the default) the share is the weight itself.
        assert shares == pytest.approx([n["weight"] for n in explained["neighbours"]], abs=1e-6)
        because = explained["because"]
        assert min(k, 3) <= len(because) <= min(k, 5)
        assert [n["share"] for n in because] == sorted(shares, reverse=True)[: len(because)]
        assert {n["movie_id"] for n in because} <= {n["movie_id"] for n in explained["neighbours"]}
        # The ratings histogram counts the k films counted, at each half star of the scale.
        histogram = explained["rating_histogram"]
        assert [b["rating"] for b in histogram] == [0.5 * i for i in range(1, 11)]
        assert sum(b["count"] for b in histogram) == k
        for neighbour in explained["neighbours"]:
            (bin_,) = [b for b in histogram if b["rating"] == neighbour["rating"]]
            assert bin_["count"] == sum(
                n["rating"] == neighbour["rating"] for n in explained["neighbours"]
            )
        assert explained["baseline_share"] == pytest.approx(0, abs=1e-5)
        assert "map" not in explained and "distance" in explained["neighbours"][0]


def test_each_neighbour_pulls_the_prediction_by_its_residual(setup):
    recommender, user_id, movies = setup
    features = recommender.feature_store.current(db.session)
    row = features.row_of_movie[movies[15].id]
    for k in (1, 3, 7):
        explained = explanations.explain(recommender, db.session, user_id, movies[15].id, k)
        neighbours = explained["neighbours"]
        for n in neighbours:
            baseline = features.item_baseline[features.row_of_movie[n["movie_id"]]]
            assert n["pull"] == pytest.approx(n["rating"] - baseline, abs=1e-5)
        # The prediction is the film's baseline moved by the weighted pulls (no clipping here).
        moved = features.item_baseline[row] + sum(n["weight"] * n["pull"] for n in neighbours)
        assert explained["predicted_rating"] == pytest.approx(min(max(moved, 0.5), 5), abs=2e-3)


SCALE = RatingScale(0.5, 5.0, 0.5)


def neighbours_of(*pairs: tuple[float, float]) -> list[dict]:
    """Neighbours nearest first, one per (rating, weight)."""
    return [
        {"movie_id": i, "title": f"M{i}", "rating": r, "distance": 0.1 * (i + 1), "weight": w}
        for i, (r, w) in enumerate(pairs)
    ]


def test_summarise_names_three_then_up_to_five_until_two_thirds_of_the_say():
    # One film carries almost everything: three are still named (the headline's least).
    dominant = explanations.summarise(neighbours_of((5, 0.91), *[(1, 0.01)] * 9), SCALE)
    assert [n["movie_id"] for n in dominant["because"]] == [0, 1, 2]
    # Even weights: three carry 30%, so up to five are named.
    even = explanations.summarise(neighbours_of(*[(4, 0.1)] * 10), SCALE)
    assert [n["movie_id"] for n in even["because"]] == [0, 1, 2, 3, 4]
    # Three carry 70%: three suffice; ties go to the nearest first.
    some = explanations.summarise(
        neighbours_of((3, 0.1), (5, 0.3), (4, 0.2), (2, 0.2), (1, 0.1), (5, 0.1)), SCALE
    )
    assert [n["movie_id"] for n in some["because"]] == [1, 2, 3]
    assert [n["share"] for n in some["because"]] == pytest.approx([0.3, 0.2, 0.2])
    assert sum(some["shares"]) == pytest.approx(1)
    counts = {b["rating"]: b["count"] for b in some["rating_histogram"]}
    assert counts == {**dict.fromkeys(counts, 0), 1.0: 1, 2.0: 1, 3.0: 1, 4.0: 1, 5.0: 2}


def test_summarise_with_shrinkage_normalises_the_shares_and_tells_the_baseline_part():
    # Weights w / (sum(w) + s) sum to less than 1: the shares are of the neighbours' say.
    summary = explanations.summarise(neighbours_of((5, 0.3), (4, 0.2), (3, 0.1)), SCALE)
    assert summary["shares"] == pytest.approx([0.5, 1 / 3, 1 / 6], abs=1e-6)
    assert summary["baseline_share"] == pytest.approx(0.4)


def test_summarise_without_weight_or_neighbours_names_nobody():
    nothing = explanations.summarise(neighbours_of((5, 0.0), (4, 0.0)), SCALE)
    assert nothing["because"] == [] and nothing["shares"] == [0.0, 0.0]
    assert nothing["baseline_share"] == 1.0
    cold = explanations.summarise([], SCALE)
    assert cold["because"] == [] and cold["baseline_share"] == 1.0
    assert sum(b["count"] for b in cold["rating_histogram"]) == 0


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
