"""The feature store: one persisted feature version per catalogue state, shared by workers."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.models import FeatureSet, Movie, Rating, User
from recommender.services.feature_store import FeatureStore
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)


@pytest.fixture
def movies(app):
    return [
        make_movie("Loved", 2001, ("Drama",), imdb_rating=9.0, imdb_votes=500_000),
        make_movie("Hated", 2002, ("Comedy",), imdb_rating=2.0, imdb_votes=800),
        make_movie("Unknown", 2003, ("Horror",)),
    ]


def feature_set_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(FeatureSet))


def test_no_movies_means_no_features(app):
    assert FeatureStore(SCALE, check_seconds=0).current(db.session) is None


def test_features_follow_the_catalogue_and_baselines_start_at_the_imdb_prior(movies):
    features = FeatureStore(SCALE, check_seconds=0).current(db.session)
    assert list(features.movie_ids) == sorted(m.id for m in movies)
    assert features.matrix.shape[0] == 3 and np.isfinite(features.matrix).all()
    baseline = dict(zip(features.movie_ids.tolist(), features.item_baseline, strict=True))
    assert baseline[movies[0].id] == pytest.approx(4.5)  # IMDb 9.0 on a 0.5-5 scale
    assert baseline[movies[1].id] == pytest.approx(1.0)
    assert baseline[movies[2].id] == pytest.approx((4.5 + 1.0) / 2)  # no IMDb: the mean prior
    assert features.popularity[0] > features.popularity[1]


def test_two_workers_share_one_persisted_version(movies):
    first = FeatureStore(SCALE, check_seconds=0).current(db.session)
    second = FeatureStore(SCALE, check_seconds=0).current(db.session)
    assert first.version == second.version
    assert feature_set_count() == 1
    np.testing.assert_array_equal(first.matrix, second.matrix)


def test_a_catalogue_change_builds_a_new_version(movies):
    store = FeatureStore(SCALE, check_seconds=0)
    before = store.current(db.session)
    make_movie("Newcomer", 2010, ("Drama",), imdb_rating=6.0)
    after = store.current(db.session)
    assert after.version > before.version and len(after.movie_ids) == 4


def test_the_check_interval_keeps_the_version_between_checks(movies):
    store = FeatureStore(SCALE, check_seconds=3600)
    before = store.current(db.session)
    make_movie("Newcomer", 2010, ("Drama",), imdb_rating=6.0)
    assert store.current(db.session) is before


def test_ratings_alone_do_not_rebuild_but_retrain_does(movies):
    store = FeatureStore(SCALE, check_seconds=0)
    before = store.current(db.session)
    user = User(username="rater", password_hash=None)
    db.session.add(user)
    db.session.flush()
    db.session.add(Rating(user_id=user.id, movie_id=movies[0].id, rating=1.0))
    db.session.commit()
    assert store.current(db.session).version == before.version
    rebuilt = store.rebuild(db.session)
    assert rebuilt.version > before.version
    row = rebuilt.row_of_movie[movies[0].id]
    assert rebuilt.item_baseline[row] == pytest.approx((1.0 + 5 * 4.5) / 6)
    assert db.session.scalar(sa.select(sa.func.count(Movie.id))) == 3
