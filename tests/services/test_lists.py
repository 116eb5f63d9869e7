"""services.lists with the rest: a merge moves list rows, onboarding leaves hidden films out,
deleting a movie or a user takes its entries with it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import HiddenMovie, Movie, User, WatchlistEntry
from recommender.services import lists, onboarding
from recommender.services.merge import merge_movies
from tests.factories import make_movie

EARLY = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2021, 6, 1, tzinfo=dt.UTC)


def entries(model, stamp: str) -> dict[tuple[str, int], dt.datetime]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(User.username, model.movie_id, getattr(model, stamp)).join(
            User, User.id == model.user_id
        )
    )
    return {(name, m): at.replace(tzinfo=at.tzinfo or dt.UTC) for name, m, at in rows}


def lists_versions() -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(User.username, User.lists_version)).all())


def test_a_merge_moves_list_entries_and_the_earlier_entry_wins(app):
    keep = make_movie("Star Wars: Episode IV", 1977, ("Adventure",))
    drop = make_movie("Star Wars", 1977, ("Sci-Fi",))
    users = {name: User(username=name, source="test") for name in ("both", "drop_only", "other")}
    db.session.add_all(users.values())
    db.session.flush()
    u = {name: user.id for name, user in users.items()}
    db.session.add_all(
        [
            # "both" put KEEP on the watch list late and DROP early: DROP's place wins.
            WatchlistEntry(user_id=u["both"], movie_id=keep.id, added_at=LATE),
            WatchlistEntry(user_id=u["both"], movie_id=drop.id, added_at=EARLY),
            HiddenMovie(user_id=u["both"], movie_id=keep.id, created_at=EARLY),
            HiddenMovie(user_id=u["both"], movie_id=drop.id, created_at=LATE),
            HiddenMovie(user_id=u["drop_only"], movie_id=drop.id, created_at=LATE),
            WatchlistEntry(user_id=u["other"], movie_id=keep.id, added_at=LATE),
        ]
    )
    db.session.commit()
    keep_id, drop_id = keep.id, drop.id

    merge_movies(db.session, keep_id, drop_id)

    assert entries(WatchlistEntry, "added_at") == {
        ("both", keep_id): EARLY,
        ("other", keep_id): LATE,
    }
    assert entries(HiddenMovie, "created_at") == {
        ("both", keep_id): EARLY,
        ("drop_only", keep_id): LATE,
    }
    # The users whose lists moved get a new lists version (their cached lists are stale).
    assert lists_versions() == {"both": 1, "drop_only": 1, "other": 0}


def test_hidden_films_leave_the_onboarding_set_which_is_topped_up(app):
    movies = [
        make_movie(f"Known {n}", 1990 + n, (genre,), imdb_votes=1000 * (10 - n))
        for n, genre in enumerate(["Action", "Comedy", "Drama", "Horror", "Western", "Crime"])
    ]
    before = [m["id"] for m in onboarding.starter_movies(db.session, 4)]
    assert before == [m.id for m in movies[:4]]
    hidden = {movies[0].id, movies[2].id}
    after = [m["id"] for m in onboarding.starter_movies(db.session, 4, hidden=hidden)]
    assert after == [movies[1].id, movies[3].id, movies[4].id, movies[5].id]


def test_the_cached_starter_set_is_everyones_and_hiding_changes_only_yours(app):
    movies = [make_movie(f"Known {n}", 1990 + n, ("Drama",), imdb_votes=100 - n) for n in range(8)]
    cache = onboarding.StarterCache()
    mine = onboarding.starter_movies(db.session, 3, cache=cache, version=1, hidden={movies[0].id})
    theirs = onboarding.starter_movies(db.session, 3, cache=cache, version=1)
    assert movies[0].id not in [m["id"] for m in mine] and len(mine) == 3
    assert theirs[0]["id"] == movies[0].id


def test_deleting_a_movie_or_a_user_takes_their_entries(app):
    movie, other = make_movie("Gone", 2000, ("Drama",)), make_movie("Stays", 2001, ("Drama",))
    user = User(username="leaver", source="test")
    db.session.add(user)
    db.session.commit()
    for film_list in (lists.HIDDEN, lists.WATCHLIST):
        lists.add(db.session, film_list, user.id, movie.id)
        lists.add(db.session, film_list, user.id, other.id)
    db.session.execute(sa.delete(Movie).where(Movie.id == movie.id))
    db.session.commit()
    assert lists.excluded_ids(db.session, user.id) == {other.id}
    db.session.execute(sa.delete(User).where(User.id == user.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WatchlistEntry)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HiddenMovie)) == 0
