"""services.ratings: the scale, rating, changing, deleting and listing, and the version count."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.models import Rating, User
from recommender.services import ratings
from recommender.services.errors import InvalidInput, NotFound
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)


@pytest.fixture
def user(app) -> User:
    user = User(username="alice", password_hash=None)
    db.session.add(user)
    db.session.commit()
    return user


def version(user_id: int) -> int:
    db.session.expire_all()
    return db.session.get(User, user_id).ratings_version


def stored(user_id: int) -> dict[int, float]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id)
    )
    return dict(rows.all())


@pytest.mark.parametrize("value", [0.5, 1.0, 2.5, 5.0])
def test_scale_accepts_every_step(value):
    assert ratings.check_rating(SCALE, value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, "from 0.5 to 5, got 0"),
        (5.5, "from 0.5 to 5, got 5.5"),
        (0.25, "from 0.5 to 5, got 0.25"),
        (0.75, "multiple of 0.5 from 0.5, got 0.75"),
        (math.nan, "got nan"),
        (math.inf, "got inf"),
        (-math.inf, "got -inf"),
    ],
)
def test_scale_refuses_off_scale_off_step_and_non_finite_values(value, message):
    with pytest.raises(InvalidInput, match=message):
        ratings.check_rating(SCALE, value)


def test_scale_tolerates_float_noise_on_decimal_steps():
    scale = RatingScale(0.1, 1.0, 0.1)
    assert ratings.check_rating(scale, 0.1 + 0.2) == pytest.approx(0.3)
    with pytest.raises(InvalidInput):
        ratings.check_rating(scale, 0.35)


def test_rate_creates_then_changes_and_bumps_the_version_each_time(user):
    movie = make_movie("Alien", 1979)
    created, first = ratings.rate_movie(db.session, user.id, movie.id, 4.0, SCALE)
    assert created is True and first["rating"] == 4.0 and first["movie"]["title"] == "Alien"
    created, second = ratings.rate_movie(db.session, user.id, movie.id, 1.5, SCALE)
    assert created is False and second["rating"] == 1.5
    assert stored(user.id) == {movie.id: 1.5}
    assert version(user.id) == 2


def test_refused_rating_changes_nothing(user):
    movie = make_movie("Alien", 1979)
    ratings.rate_movie(db.session, user.id, movie.id, 4.0, SCALE)
    with pytest.raises(InvalidInput):
        ratings.rate_movie(db.session, user.id, movie.id, 4.25, SCALE)
    with pytest.raises(NotFound, match="Movie 999999 does not exist"):
        ratings.rate_movie(db.session, user.id, 999_999, 4.0, SCALE)
    assert stored(user.id) == {movie.id: 4.0}
    assert version(user.id) == 1


def test_delete_removes_only_that_rating_and_bumps_the_version(user):
    alien, heat = make_movie("Alien", 1979), make_movie("Heat", 1995)
    ratings.rate_movie(db.session, user.id, alien.id, 4.0, SCALE)
    ratings.rate_movie(db.session, user.id, heat.id, 3.0, SCALE)
    ratings.delete_rating(db.session, user.id, alien.id)
    assert stored(user.id) == {heat.id: 3.0}
    assert version(user.id) == 3


def test_deleting_a_rating_that_does_not_exist_is_not_found_and_not_counted(user):
    movie = make_movie("Alien", 1979)
    with pytest.raises(NotFound, match=f"You have not rated movie {movie.id}"):
        ratings.delete_rating(db.session, user.id, movie.id)
    assert version(user.id) == 0


def test_another_users_rating_is_out_of_reach(user):
    movie = make_movie("Alien", 1979)
    bob = User(username="bob", password_hash=None)
    db.session.add(bob)
    db.session.commit()
    ratings.rate_movie(db.session, bob.id, movie.id, 5.0, SCALE)
    with pytest.raises(NotFound):
        ratings.delete_rating(db.session, user.id, movie.id)
    assert ratings.list_ratings(db.session, user.id).total == 0
    assert stored(bob.id) == {movie.id: 5.0}


def test_list_pages_newest_first(user):
    movies = [make_movie(f"M{i}", 2000 + i) for i in range(3)]
    for movie in movies:
        ratings.rate_movie(db.session, user.id, movie.id, 3.0, SCALE)
    page = ratings.list_ratings(db.session, user.id, page=1, per_page=2)
    assert page.total == 3 and page.page == 1 and page.per_page == 2
    assert [item["movie"]["title"] for item in page.items] == ["M2", "M1"]
    rest = ratings.list_ratings(db.session, user.id, page=2, per_page=2)
    assert [item["movie"]["title"] for item in rest.items] == ["M0"]


def test_get_rating_reads_one_value(user):
    movie = make_movie("Alien", 1979)
    assert ratings.get_rating(db.session, user.id, movie.id) is None
    ratings.rate_movie(db.session, user.id, movie.id, 2.5, SCALE)
    assert ratings.get_rating(db.session, user.id, movie.id) == 2.5
