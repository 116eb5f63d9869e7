"""`recommender export PATH [--layout latest]`, read back by `recommender import movielens`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Movie, Rating, User
from tests.conftest import empty_all_tables
from tests.factories import make_movie


def test_export_then_import_gives_the_ratings_back(runner, tmp_path):
    movie = make_movie("Amélie", 2001, ("Comedy", "Romance")).id
    user = User(username="fan", source="local")
    db.session.add(user)
    db.session.flush()
    stamp = dt.datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
    db.session.add(Rating(user_id=user.id, movie_id=movie, rating=4.5, rated_at=stamp))
    db.session.commit()
    user_id = user.id

    result = runner.invoke(args=["export", str(tmp_path / "ml-mine")])
    assert result.exit_code == 0, result.output
    assert "Exported 1 movies and 1 ratings by 1 users" in result.output

    empty_all_tables()
    result = runner.invoke(args=["import", "movielens", str(tmp_path / "ml-mine")])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    (title, year, username, rating, rated_at) = db.session.execute(
        sa.select(Movie.title, Movie.year, User.username, Rating.rating, Rating.rated_at)
        .join(Rating, Rating.movie_id == Movie.id)
        .join(User, User.id == Rating.user_id)
    ).one()
    assert (title, year, username, rating) == ("Amélie", 2001, f"ml-mine-{user_id}", 4.5)
    assert rated_at.replace(tzinfo=rated_at.tzinfo or dt.UTC) == stamp


def test_an_unknown_layout_is_a_click_error(runner, tmp_path):
    result = runner.invoke(args=["export", str(tmp_path / "out"), "--layout", "100k"])
    assert result.exit_code == 2
    assert "Invalid value for '--layout': '100k' is not 'latest'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_folder_holding_a_dataset_is_refused_without_overwrite(runner, tmp_path):
    make_movie("Se7en", 1995)
    assert runner.invoke(args=["export", str(tmp_path)]).exit_code == 0
    result = runner.invoke(args=["export", str(tmp_path)])
    assert result.exit_code == 1
    assert "already holds movies.csv, ratings.csv" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(args=["export", str(tmp_path), "--overwrite"]).exit_code == 0
