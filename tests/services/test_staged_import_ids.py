"""A staged SQLite import predicts its new rows' ids before it takes the write lock (issue 15):
a writer who takes ids in between (a sign-up, a film added) moves them up, and every rating
still lands on its own user and film."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens import writer
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, MovieExternalId, Rating, User, movie_genres
from tests.conftest import empty_all_tables

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
SCALE = RatingScale(0.5, 5.0, 0.5)


def by_names() -> dict[str, Any]:
    """Return what the import wrote, by names instead of ids."""
    db.session.expire_all()
    ratings = sa.select(User.username, Movie.title, Rating.rating, Rating.rated_at).join(
        User, User.id == Rating.user_id
    )
    links = sa.select(MovieExternalId.external_id, Movie.title).join(
        Movie, Movie.id == MovieExternalId.movie_id
    )
    genres = sa.select(movie_genres.c.movie_id, sa.func.count()).group_by(movie_genres.c.movie_id)
    return {
        "ratings": sorted(db.session.execute(ratings.join(Movie, Movie.id == Rating.movie_id))),
        "links": sorted(db.session.execute(links)),
        "genre_links": sum(n for _, n in db.session.execute(genres)),
        "users": sorted(db.session.scalars(sa.select(User.username))),
    }


def test_ids_taken_between_prediction_and_lock_move_the_new_rows_up(app, monkeypatch):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stages its writes")
    import_movielens(db.session, FIXTURES / "latest", scale=SCALE)
    expected = by_names()
    empty_all_tables()

    calls: list[tuple[int, int, int]] = []
    prepare = writer.Writer._prepare  # noqa: SLF001 (the step this test interleaves with)

    def interloper_first(self: writer.Writer, largest: tuple[int, int, int]) -> Any:
        prepared = prepare(self, largest)
        calls.append(largest)
        if len(calls) == 1:  # Between the prediction and BEGIN IMMEDIATE, someone writes.
            with db.engine.begin() as connection:
                connection.execute(
                    sa.insert(User.__table__),
                    [{"username": "newcomer", "username_key": "newcomer"}],
                )
                connection.execute(sa.insert(Movie.__table__), [{"title": "Local film"}])
        return prepared

    monkeypatch.setattr(writer.Writer, "_prepare", interloper_first)
    import_movielens(db.session, FIXTURES / "latest", scale=SCALE)

    assert len(calls) == 2, "the ids were not checked again under the lock"
    assert calls[1] == (calls[0][0], calls[0][1] + 1, calls[0][2] + 1)
    got = by_names()
    assert got["users"] == sorted([*expected["users"], "newcomer"])
    assert got["ratings"] == expected["ratings"]
    assert got["links"] == expected["links"]
    assert got["genre_links"] == expected["genre_links"]
    newcomer = db.session.scalar(sa.select(User.id).where(User.username == "newcomer"))
    local = db.session.scalar(sa.select(Movie.id).where(Movie.title == "Local film"))
    rated = sa.select(sa.func.count()).select_from(Rating)
    assert db.session.scalar(rated.where(Rating.user_id == newcomer)) == 0
    assert db.session.scalar(rated.where(Rating.movie_id == local)) == 0
    # The dataset's rows come after the interlopers'.
    dataset_users = sa.select(sa.func.min(User.id)).where(User.source != "local")
    assert db.session.scalar(dataset_users) > newcomer


def test_predicted_ids_follow_the_largest_ones(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stages its writes")
    db.session.execute(
        sa.insert(User.__table__), [{"id": 500, "username": "old", "username_key": "old"}]
    )
    db.session.commit()
    import_movielens(db.session, FIXTURES / "latest", scale=SCALE)
    ids = db.session.scalars(sa.select(User.id).where(User.source != "local").order_by(User.id))
    ids = list(ids)
    assert ids == list(range(501, 501 + len(ids)))
