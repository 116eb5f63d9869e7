"""`recommender retrain` builds a new feature version from the catalogue and every rating."""

from __future__ import annotations

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import FeatureSet, Rating, User
from tests.factories import make_movie


def test_retrain_on_an_empty_catalogue_says_what_to_do(runner):
    result = runner.invoke(args=["retrain"])
    assert result.exit_code == 1
    assert "The catalogue is empty: import one before retraining" in result.output


def test_retrain_builds_a_new_version_when_ratings_changed(runner, app):
    movies = [make_movie(f"Film {i}", 2000 + i, ("Drama",), imdb_rating=5.0 + i) for i in range(5)]
    first = runner.invoke(args=["retrain"])
    assert first.exit_code == 0, first.output
    assert "5 movies x" in first.output

    user = User(username="rater", password_hash=None)
    db.session.add(user)
    db.session.flush()
    db.session.add(Rating(user_id=user.id, movie_id=movies[0].id, rating=0.5))
    db.session.commit()
    second = runner.invoke(args=["retrain"])
    assert second.exit_code == 0, second.output
    versions = list(db.session.scalars(sa.select(FeatureSet.version).order_by(FeatureSet.version)))
    assert len(versions) == 2
    assert f"Feature version {versions[1]}:" in second.output
    again = runner.invoke(args=["retrain"])  # nothing changed since: the same version
    assert f"Feature version {versions[1]}:" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeatureSet)) == 2
