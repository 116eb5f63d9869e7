"""`retrain` learns item factors from every rating when there are enough, stores them in the
feature version, and the recommendation service then predicts over them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recommender.engine.factors import FactorSettings
from recommender.engine.model_config import ModelConfig
from recommender.engine.predictor import SIMILARITY_WEIGHTS, PredictorOptions
from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.models import Rating, User
from recommender.services import feature_store
from recommender.services.feature_store import FactorPolicy, FeatureKind, FeatureStore
from recommender.services.recommendations import build_recommender
from recommender.settings import app_settings
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)
POLICY = FactorPolicy(
    min_ratings=100,
    min_users=10,
    model=ModelConfig(factors=FactorSettings(n_factors=4, reg=0.05, n_iterations=10)),
)
N_MOVIES, N_USERS = 30, 60


@pytest.fixture
def two_tastes(app):
    """Movies 0-14 and 15-29 are two tastes; half the users love the first and dislike the
    second, the other half the reverse. Returns (movie ids, user ids)."""
    rng = np.random.default_rng(0)
    movies = [make_movie(f"Film {i}", 1990 + i % 20, ("Drama",)) for i in range(N_MOVIES)]
    users = [User(username=f"u{j}", password_hash=None) for j in range(N_USERS)]
    db.session.add_all(users)
    db.session.flush()
    for j, user in enumerate(users):
        for i, movie in enumerate(movies):
            if rng.random() < 0.7:
                likes = (i < 15) == (j % 2 == 0)
                value = float(np.clip((5 if likes else 1) + rng.integers(-1, 1), 1, 5))
                db.session.add(Rating(user_id=user.id, movie_id=movie.id, rating=value))
    db.session.commit()
    return [m.id for m in movies], [u.id for u in users]


def test_retrain_learns_item_factors_when_there_are_enough_ratings(two_tastes):
    features = FeatureStore(SCALE, check_seconds=0, factors=POLICY).rebuild(db.session)
    assert features.columns == ("factor_0", "factor_1", "factor_2", "factor_3", "item_bias")
    np.testing.assert_allclose(np.linalg.norm(features.matrix, axis=1), 1.0)
    assert features.predictor_options == POLICY.model.predictor_options()
    # Another worker loads the same stored version, options included.
    loaded = FeatureStore(SCALE, check_seconds=0, factors=POLICY).current(db.session)
    assert loaded.version == features.version
    np.testing.assert_array_equal(loaded.matrix, features.matrix)
    assert loaded.predictor_options.weights == "cosine2"


def test_learned_features_put_movies_rated_alike_together(two_tastes):
    features = FeatureStore(SCALE, check_seconds=0, factors=POLICY).rebuild(db.session)
    similarity = features.matrix @ features.matrix.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    same_taste = (nearest < 15) == (np.arange(N_MOVIES) < 15)
    assert same_taste.all()


def test_too_few_ratings_stay_on_catalogue_features(two_tastes):
    policy = FactorPolicy(min_ratings=1_000_000)
    features = FeatureStore(SCALE, check_seconds=0, factors=policy).rebuild(db.session)
    assert not any(c.startswith("factor_") for c in features.columns)
    assert features.predictor_options == PredictorOptions()


def test_too_few_users_stay_on_catalogue_features(two_tastes):
    policy = FactorPolicy(min_ratings=10, min_users=N_USERS + 1)
    features = FeatureStore(SCALE, check_seconds=0, factors=policy).rebuild(db.session)
    assert features.columns[0] != "factor_0"


def test_the_store_tells_learned_factors_from_catalogue_features(two_tastes):
    store = FeatureStore(SCALE, check_seconds=0, factors=POLICY)
    assert store.kind(db.session, store.current(db.session)) is FeatureKind.CATALOGUE
    assert store.kind(db.session, store.rebuild(db.session)) is FeatureKind.FACTORS


def test_a_catalogue_change_on_the_request_path_does_not_learn(two_tastes):
    features = FeatureStore(SCALE, check_seconds=0, factors=POLICY).current(db.session)
    assert features.columns[0] != "factor_0"  # only retrain learns (it may take a while)


def newcomer_who_loves_the_first_taste(movie_ids: list[int]) -> User:
    """A new user with 8 ratings (above k = 3): loves movies 0-3, dislikes 15-18."""
    newcomer = User(username="newcomer", password_hash=None)
    db.session.add(newcomer)
    db.session.flush()
    for movie_id in movie_ids[:4]:
        db.session.add(Rating(user_id=newcomer.id, movie_id=movie_id, rating=5.0))
    for movie_id in movie_ids[15:19]:
        db.session.add(Rating(user_id=newcomer.id, movie_id=movie_id, rating=1.0))
    db.session.commit()
    return newcomer


def test_recommendations_predict_over_the_learned_features(app, two_tastes):
    movie_ids, _ = two_tastes
    recommender = build_recommender(replace(app_settings(app), factor_min_ratings=100))
    recommender.feature_store.factors = POLICY
    recommender.feature_store.rebuild(db.session)
    newcomer = newcomer_who_loves_the_first_taste(movie_ids)
    liked = recommender.predict(db.session, newcomer.id, movie_ids[10])
    disliked = recommender.predict(db.session, newcomer.id, movie_ids[25])
    assert liked["source"] == "knn"
    assert liked["predicted_rating"] > disliked["predicted_rating"] + 1.0
    # Explanations use the version's weights: cos^2 shares, shrunk (sum below 1).
    neighbours = liked["neighbours"]
    dist = np.array([[n["distance"] for n in neighbours]])
    w = SIMILARITY_WEIGHTS["cosine2"](dist)[0]
    expected = w / (w.sum() + POLICY.model.shrinkage)
    np.testing.assert_allclose([n["weight"] for n in neighbours], expected, atol=1e-5)


def test_retrain_command_reports_learned_factors(runner, app, two_tastes):
    app.extensions["recommender"].feature_store.factors = FactorPolicy(min_ratings=100)
    result = runner.invoke(args=["retrain"])
    assert result.exit_code == 0, result.output
    assert "learned item factors" in result.output


def test_retrain_reads_every_rating_in_chunks_whatever_the_count_said(two_tastes, monkeypatch):
    """Ratings are read as arrays chunk by chunk; rows beyond the count read first (ratings
    made meanwhile) grow the arrays instead of being lost."""
    monkeypatch.setattr(feature_store, "RATINGS_CHUNK", 7)
    users, movies, values = feature_store.rating_arrays(db.session, expected=5)
    rows = db.session.execute(db.select(Rating.user_id, Rating.movie_id, Rating.rating)).all()
    assert len(values) == len(rows) > 7
    assert sorted(zip(users.tolist(), movies.tolist(), values.tolist(), strict=True)) == sorted(
        tuple(row) for row in rows
    )


RANKING_POLICY = FactorPolicy(
    min_ratings=100,
    min_users=10,
    model=ModelConfig(
        factors=FactorSettings(
            n_factors=4, reg=0.05, n_iterations=10, implicit_factors=3, implicit_share=0.7
        )
    ),
)


def test_movies_nobody_rated_each_get_their_own_place_and_prediction(app, two_tastes):
    movie_ids, _ = two_tastes
    genres = ("Drama", "Comedy", "Horror", "Western", "Musical", "Drama")
    unrated = [
        make_movie(f"Unrated {i}", 1950 + 7 * i, (genre,), runtime_min=80 + 9 * i).id
        for i, genre in enumerate(genres)
    ]
    recommender = build_recommender(replace(app_settings(app), factor_min_ratings=100))
    recommender.feature_store.factors = RANKING_POLICY
    features = recommender.feature_store.rebuild(db.session)
    rows = features.rows_for(np.array(unrated))
    assert (np.linalg.norm(features.matrix[rows], axis=1) > 0.99).all()  # not a zero vector
    assert (features.evidence[rows] > 0).all()
    newcomer = newcomer_who_loves_the_first_taste(movie_ids)
    _, entry = recommender.personal_predictions(db.session, newcomer.id)
    predicted = entry.predicted[np.searchsorted(entry.unrated_rows, rows)]
    assert len(set(np.round(predicted, 9).tolist())) == len(unrated)


def test_movies_nobody_rated_are_anchored_at_their_placed_bias_without_an_imdb_rating(
    app, two_tastes
):
    # Two unrated movies that differ in their attributes and have no IMDb rating: each baseline
    # comes from its placed bias (not the global mean for both); one with an IMDb rating keeps
    # that as its anchor.
    plain = [make_movie(f"No prior {i}", 1950 + 30 * i, (g,)).id for i, g in enumerate("AB")]
    rated_prior = make_movie("IMDb 8", 1990, ("Drama",), imdb_rating=8.0).id
    store = FeatureStore(SCALE, check_seconds=0, factors=POLICY)
    features = store.rebuild(db.session)
    baselines = features.item_baseline[features.rows_for(np.array(plain))]
    assert baselines[0] != baselines[1]
    assert not np.isclose(baselines, features.global_mean).any()
    assert features.item_baseline[features.rows_for(np.array([rated_prior]))][0] == 4.0


def test_recommendations_are_ordered_by_the_ranking_score(app, two_tastes):
    movie_ids, _ = two_tastes
    recommender = build_recommender(replace(app_settings(app), factor_min_ratings=100))
    recommender.feature_store.factors = RANKING_POLICY
    features = recommender.feature_store.rebuild(db.session)
    loaded = FeatureStore(SCALE, check_seconds=0, factors=RANKING_POLICY).current(db.session)
    np.testing.assert_array_equal(loaded.evidence, features.evidence)  # stored with the version
    newcomer = newcomer_who_loves_the_first_taste(movie_ids)
    body = recommender.recommend(db.session, newcomer.id, limit=8)
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    # The loved taste (movies 0-14) fills the top of the list.
    assert {item["movie"]["id"] for item in body["items"]} <= set(movie_ids[:15])
    assert all("predicted_rating" in item for item in body["items"])
