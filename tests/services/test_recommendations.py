"""The Recommender's public reads: a user's ratings as the engine sees them, and the cached
predictions entry once they are personal (k = 3 in the test app)."""

from __future__ import annotations

import numpy as np
from flask import Flask

from recommender.extensions import db
from recommender.services import accounts, ratings
from recommender.settings import app_settings
from tests.factories import make_movie


def test_personal_predictions_start_above_k_ratings_and_are_the_cached_entry(app: Flask):
    movies = [make_movie(f"Film {i}", 1990 + i, ("Drama",), runtime_min=80 + i) for i in range(8)]
    user = accounts.create_user(db.session, "carol", "password123", hash_method="pbkdf2:sha256:1")
    recommender = app.extensions["recommender"]
    scale = app_settings(app).rating_scale
    for movie, value in zip(movies[:3], (4.0, 2.0, 5.0), strict=True):
        ratings.rate_movie(db.session, user.id, movie.id, value, scale)
    assert recommender.personal_predictions(db.session, user.id) is None  # 3 = k: cold start

    ratings.rate_movie(db.session, user.id, movies[3].id, 3.0, scale)
    personal = recommender.personal_predictions(db.session, user.id)
    assert personal is not None
    features, entry = personal
    mine = recommender.user_ratings(db.session, user.id, features)
    expected = sorted(features.row_of_movie[m.id] for m in movies[:4])
    np.testing.assert_array_equal(mine.rows, expected)
    np.testing.assert_array_equal(entry.rated_rows, mine.rows)
    _, again = recommender.personal_predictions(db.session, user.id)
    assert again.ratings_version == entry.ratings_version
    np.testing.assert_array_equal(again.predicted, entry.predicted)
