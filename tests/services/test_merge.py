"""services.merge: ratings move (the later one wins), dataset ids and genres follow, attributes
fill, versions change, and a failure anywhere leaves the database exactly as it was."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, MovieExternalId, Rating, User, movie_genres
from recommender.services import merge
from recommender.services.errors import Conflict, InvalidInput, NotFound
from recommender.services.feature_store import FeatureStore
from recommender.services.merge import merge_movies
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
EARLY = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2021, 6, 1, 12, 30, tzinfo=dt.UTC)


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Every row a merge can touch, ids, versions and timestamps included."""
    db.session.expire_all()
    tables = (User.__table__, Movie.__table__, Rating.__table__, MovieExternalId.__table__)
    rows = {t.name: sorted(tuple(r) for r in db.session.execute(sa.select(t))) for t in tables}
    rows["movie_genres"] = sorted(tuple(r) for r in db.session.execute(sa.select(movie_genres)))
    return rows


def ratings_of(movie_id: int) -> dict[str, tuple[float, dt.datetime]]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(User.username, Rating.rating, Rating.rated_at)
        .join(User, User.id == Rating.user_id)
        .where(Rating.movie_id == movie_id)
    )
    return {name: (value, at.replace(tzinfo=at.tzinfo or dt.UTC)) for name, value, at in rows}


def versions() -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(User.username, User.ratings_version)).all())


@dataclass
class Pair:
    keep: int
    drop: int
    other: int


def rate(user: User, movie_id: int, value: float, at: dt.datetime) -> None:
    db.session.add(Rating(user_id=user.id, movie_id=movie_id, rating=value, rated_at=at))


@pytest.fixture
def pair(app) -> Pair:
    """Star Wars twice: KEEP with its IMDb figures, DROP with a director and one more genre.

    later_on_keep and later_on_drop rated both (at different times), drop_only and keep_only
    one of them; DROP carries an ML-100K id, KEEP an ml-latest id.
    """
    keep = make_movie("Star Wars: Episode IV", 1977, ("Adventure",), imdb_rating=8.6, mpaa="PG")
    drop = make_movie(
        "Star Wars", 1977, ("Adventure", "Sci-Fi"), imdb_rating=7.0, director="George Lucas"
    )
    other = make_movie("Alien", 1979, ("Horror",))
    users = {
        name: User(username=name, source="test")
        for name in ("later_on_keep", "later_on_drop", "drop_only", "keep_only", "bystander")
    }
    db.session.add_all(users.values())
    db.session.flush()
    rate(users["later_on_keep"], keep.id, 5.0, LATE)
    rate(users["later_on_keep"], drop.id, 2.0, EARLY)
    rate(users["later_on_drop"], keep.id, 1.0, EARLY)
    rate(users["later_on_drop"], drop.id, 4.5, LATE)
    rate(users["drop_only"], drop.id, 3.5, EARLY)
    rate(users["keep_only"], keep.id, 4.0, EARLY)
    rate(users["bystander"], other.id, 3.0, EARLY)
    db.session.add_all(
        [
            MovieExternalId(source="ml-100k", external_id="50", movie_id=drop.id),
            MovieExternalId(source="ml-latest", external_id="260", movie_id=keep.id),
        ]
    )
    db.session.commit()
    return Pair(keep.id, drop.id, other.id)


def test_ratings_move_and_the_later_rating_wins_in_both_directions(pair):
    summary = merge_movies(db.session, pair.keep, pair.drop)

    assert ratings_of(pair.keep) == {
        "later_on_keep": (5.0, LATE),  # KEEP's was later: it stays
        "later_on_drop": (4.5, LATE),  # DROP's was later: it replaces KEEP's
        "drop_only": (3.5, EARLY),  # moved as it was
        "keep_only": (4.0, EARLY),
    }
    assert ratings_of(pair.drop) == {}
    assert (summary.ratings_moved, summary.ratings_kept, summary.ratings_replaced) == (1, 1, 1)
    assert ratings_of(pair.other) == {"bystander": (3.0, EARLY)}


def test_a_tie_keeps_the_rating_of_keep(app):
    keep, drop = make_movie("Se7en", 1995).id, make_movie("Seven", 1995).id
    user = User(username="twice", source="test")
    db.session.add(user)
    db.session.flush()
    rate(user, keep, 4.0, EARLY)
    rate(user, drop, 2.0, EARLY)
    db.session.commit()
    summary = merge_movies(db.session, keep, drop)
    assert ratings_of(keep) == {"twice": (4.0, EARLY)}
    assert (summary.ratings_kept, summary.ratings_replaced) == (1, 0)


def test_dataset_ids_point_to_keep_and_a_reimport_inserts_nothing(app):
    # The ml-latest fixture's Toy Story, imported first as a new row, is a duplicate of ours.
    ours = make_movie("Toy Story", 1995, ("Animation",), imdb_rating=8.2).id
    import_movielens(db.session, FIXTURES / "latest", scale=SCALE)
    duplicate = db.session.scalar(
        sa.select(MovieExternalId.movie_id).where(
            MovieExternalId.source == "ml-latest", MovieExternalId.external_id == "1"
        )
    )
    assert duplicate == ours  # the importer matched it by title and year...
    # ...so make the duplicate by hand: a second row holding the dataset's id and ratings.
    copy = make_movie("Toy Story (Pixar)", 1995, ("Children's",)).id
    db.session.execute(
        sa.update(MovieExternalId).where(MovieExternalId.movie_id == ours).values(movie_id=copy)
    )
    db.session.execute(sa.update(Rating).where(Rating.movie_id == ours).values(movie_id=copy))
    db.session.commit()
    rated = ratings_of(copy)

    summary = merge_movies(db.session, ours, copy)

    assert summary.external_ids_moved == 1
    links = db.session.scalars(
        sa.select(MovieExternalId.movie_id).where(MovieExternalId.source == "ml-latest")
    ).all()
    assert copy not in links and ours in links
    assert ratings_of(ours) == rated
    movies = db.session.scalar(sa.select(sa.func.count()).select_from(Movie))
    report = import_movielens(db.session, FIXTURES / "latest", scale=SCALE)
    assert report.counts["movies_inserted"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Movie)) == movies


def test_keep_gains_the_genres_it_lacks_and_fills_only_its_empty_attributes(pair):
    summary = merge_movies(db.session, pair.keep, pair.drop)
    db.session.expire_all()
    keep = db.session.get(Movie, pair.keep)
    assert [genre.name for genre in keep.genres] == ["Adventure", "Sci-Fi"]
    assert summary.genres_added == ["Sci-Fi"]
    assert keep.title == "Star Wars: Episode IV"
    assert keep.imdb_rating == 8.6  # KEEP's own value wins over DROP's 7.0
    assert keep.mpaa == "PG"
    assert keep.director == "George Lucas"  # empty on KEEP: filled from DROP
    assert summary.attributes_filled == ["director"]
    assert db.session.get(Movie, pair.drop) is None


def test_users_whose_ratings_moved_get_a_new_ratings_version(pair):
    before = versions()
    merge_movies(db.session, pair.keep, pair.drop)
    after = versions()
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"later_on_keep", "later_on_drop", "drop_only"}
    assert all(after[name] == before[name] + 1 for name in changed)


def test_the_feature_version_changes(pair):
    first = FeatureStore(SCALE, check_seconds=0).current(db.session)
    assert pair.drop in first.row_of_movie
    merge_movies(db.session, pair.keep, pair.drop)
    second = FeatureStore(SCALE, check_seconds=0).current(db.session)
    assert second.version != first.version
    assert pair.drop not in second.row_of_movie
    assert pair.keep in second.row_of_movie


def test_a_failure_after_the_ratings_moved_changes_nothing(pair, monkeypatch):
    before = dump()
    seen_inside: list[tuple[int, int]] = []

    def fail_midway() -> dt.datetime:
        # Called for KEEP's new updated_at: the ratings, ids and genres are written by now.
        on_drop, on_keep = (
            db.session.scalar(sa.select(sa.func.count()).where(Rating.movie_id == movie_id))
            for movie_id in (pair.drop, pair.keep)
        )
        seen_inside.append((on_drop, on_keep))
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge, "utcnow", fail_midway)
    with pytest.raises(RuntimeError, match="disk full"):
        merge_movies(db.session, pair.keep, pair.drop)
    assert seen_inside == [(0, 4)]  # inside the transaction, the ratings had really moved
    assert dump() == before


def test_a_failure_at_the_last_step_changes_nothing(pair, monkeypatch):
    before = dump()

    def fail(**_: Any) -> None:
        raise RuntimeError("connection lost")

    # The summary is made after every write, just before the commit.
    monkeypatch.setattr(merge, "MergeSummary", fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        merge_movies(db.session, pair.keep, pair.drop)
    assert dump() == before


def test_a_filled_year_that_repeats_another_movie_is_a_conflict_that_changes_nothing(app):
    keep = make_movie("Solaris", None).id
    drop = make_movie("Solaris (Tarkovsky)", 1972).id
    make_movie("Solaris", 1972)  # filling KEEP's year would make it this movie's twin
    before = dump()
    with pytest.raises(Conflict, match="nothing was changed"):
        merge_movies(db.session, keep, drop)
    assert dump() == before


@pytest.mark.parametrize(
    ("keep", "drop", "error", "message"),
    [
        ("keep", "keep", InvalidInput, "into itself"),
        ("keep", 999_999, NotFound, "Movie 999999 does not exist"),
        (999_998, "drop", NotFound, "Movie 999998 does not exist"),
        (999_998, 999_999, NotFound, "Movies 999998 and 999999 do not exist"),
        ("keep", "7", InvalidInput, "drop_id must be a whole number"),
        (2.0, "drop", InvalidInput, "keep_id must be a whole number"),
        ("keep", True, InvalidInput, "drop_id must be a whole number"),
        ("keep", None, InvalidInput, "drop_id must be a whole number"),
    ],
)
def test_bad_ids_are_refused_and_change_nothing(pair, keep, drop, error, message):
    ids = {"keep": pair.keep, "drop": pair.drop}
    keep, drop = ids.get(keep, keep), ids.get(drop, drop)
    before = dump()
    with pytest.raises(error, match=message):
        merge_movies(db.session, keep, drop)
    assert dump() == before
