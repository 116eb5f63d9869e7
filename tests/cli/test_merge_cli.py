"""`recommender movies merge KEEP_ID DROP_ID`."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Movie, Rating, User
from tests.factories import make_movie


@pytest.fixture
def twins(app) -> tuple[int, int]:
    keep = make_movie("Se7en", 1995, ("Thriller",)).id
    drop = make_movie("Seven (Se7en)", 1995, ("Crime",), director="David Fincher").id
    user = User(username="viewer", source="test")
    db.session.add(user)
    db.session.flush()
    at = dt.datetime(2020, 5, 1, tzinfo=dt.UTC)
    db.session.add(Rating(user_id=user.id, movie_id=drop, rating=4.5, rated_at=at))
    db.session.commit()
    return keep, drop


def movies() -> list[tuple]:
    db.session.expire_all()
    return sorted(tuple(row) for row in db.session.execute(sa.select(Movie.__table__)))


def test_merge_moves_the_ratings_and_prints_the_summary(runner, twins):
    keep, drop = twins
    result = runner.invoke(args=["movies", "merge", str(keep), str(drop)])
    assert result.exit_code == 0, result.output
    assert f"Merged movie {drop} into {keep} ('Se7en')" in result.output
    assert "ratings: 1 moved, 0 kept" in result.output
    assert "genres added: Crime" in result.output
    assert "attributes filled: director" in result.output
    db.session.expire_all()
    assert db.session.scalars(sa.select(Rating.movie_id)).all() == [keep]
    assert db.session.get(Movie, drop) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["KEEP", "KEEP"], "Cannot merge movie {keep} into itself"),
        (["KEEP", "999999"], "Movie 999999 does not exist"),
        (["999999", "DROP"], "Movie 999999 does not exist"),
        (["KEEP", "seven"], "Invalid value for 'DROP_ID': 'seven' is not a valid integer"),
        (["1.5", "DROP"], "Invalid value for 'KEEP_ID': '1.5' is not a valid integer"),
        (["KEEP"], "Missing argument 'DROP_ID'"),
    ],
)
def test_bad_ids_are_a_clear_error_that_changes_nothing(runner, twins, args, message):
    keep, drop = twins
    ids = {"KEEP": str(keep), "DROP": str(drop)}
    before = movies()
    result = runner.invoke(args=["movies", "merge", *[ids.get(arg, arg) for arg in args]])
    assert result.exit_code != 0
    assert message.format(keep=keep) in result.output
    assert "Traceback" not in result.output
    assert movies() == before
