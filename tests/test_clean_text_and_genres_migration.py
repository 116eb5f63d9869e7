"""Migration 0005: a database filled before it comes out as a fresh import would, on both
backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from recommender.extensions import db

OLD = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
# The tables as revision 0004 has them (the models follow the head: users gained a column).
GENRES = sa.table("genres", sa.column("id", sa.Integer), sa.column("name", sa.String))
MOVIES = sa.table(
    "movies",
    sa.column("id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("year", sa.Integer),
    sa.column("creative_type", sa.String),
    sa.column("director", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
LINKS = sa.table("movie_genres", sa.column("movie_id", sa.Integer), sa.column("genre_id"))
USERS = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("is_admin", sa.Boolean),
    sa.column("ratings_version", sa.Integer),
    sa.column("source", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
RATINGS = sa.table(
    "ratings",
    sa.column("user_id", sa.Integer),
    sa.column("movie_id", sa.Integer),
    sa.column("rating", sa.Float),
    sa.column("rated_at", sa.DateTime(timezone=True)),
)
# title, year, creative type, genre names as an old import left them
DIRTY_MOVIES = [
    ("LÈon", 1994, "Contemporary Fiction", ["Thriller/Suspense", "drama"]),
    ("Le Fabuleux destin d'AmÈlie Poulain", 2001, None, ["Romantic Comedy"]),
    ("The Godfather", 1972, "Historical Fiction", []),
    ("Star Wars", 1977, "Science Fiction", ["Adventure"]),
    ("Toy Story", 1995, None, ["Children's", "Comedy"]),
    ("Babe", 1995, None, ["Children", "Drama"]),
    ("Avatar", 2009, None, ["IMAX", "Action"]),
    ("Bio One", 2000, None, ["Biography"]),
    ("Bio Two", 2000, None, ["biography"]),
    ("Heat", 1995, None, ["Thriller"]),
    # Both spellings of one film: the repair would make two rows (title, year) alike.
    ("CachÈ", 2005, None, ["Thriller/Suspense"]),
    ("Caché", 2005, None, ["Thriller"]),
]
GENRES_BEFORE = [
    "Thriller/Suspense",
    "drama",
    "Romantic Comedy",
    "Adventure",
    "Children's",
    "Comedy",
    "Children",
    "Drama",
    "IMAX",
    "Action",
    "Biography",
    "biography",
    "Thriller",
]


def fill_dirty_database(connection: sa.Connection) -> dict[str, int]:
    """Insert the dirty rows at revision 0004; return title -> movie id."""
    genre_ids = {}
    for name in GENRES_BEFORE:
        genre_ids[name] = connection.execute(
            sa.insert(GENRES).values(name=name).returning(GENRES.c.id)
        ).scalar_one()
    movie_ids = {}
    for title, year, creative_type, names in DIRTY_MOVIES:
        movie_ids[title] = connection.execute(
            sa.insert(MOVIES)
            .values(
                title=title,
                year=year,
                creative_type=creative_type,
                director="Jean-Pierre Jeunet" if year == 2001 else None,
                created_at=OLD,
                updated_at=OLD,
            )
            .returning(MOVIES.c.id)
        ).scalar_one()
        for name in names:
            connection.execute(
                sa.insert(LINKS).values(movie_id=movie_ids[title], genre_id=genre_ids[name])
            )
    user = {"username": "fan", "is_admin": False, "ratings_version": 0, "source": "local"}
    user_id = connection.execute(
        sa.insert(USERS).values(**user, created_at=OLD).returning(USERS.c.id)
    ).scalar_one()
    connection.execute(
        sa.insert(RATINGS).values(
            user_id=user_id, movie_id=movie_ids["LÈon"], rating=4.5, rated_at=OLD
        )
    )
    return movie_ids


def movie_rows() -> dict[int, tuple[str, list[str], dt.datetime]]:
    """Movie id -> (title, genre names sorted, updated_at), read through the 0004 tables."""
    db.session.remove()
    with db.engine.connect() as connection:
        names: dict[int, list[str]] = {}
        for movie_id, name in connection.execute(
            sa.select(LINKS.c.movie_id, GENRES.c.name).join(GENRES, GENRES.c.id == LINKS.c.genre_id)
        ):
            names.setdefault(movie_id, []).append(name)
        rows = connection.execute(sa.select(MOVIES.c.id, MOVIES.c.title, MOVIES.c.updated_at))
        return {
            movie_id: (
                title,
                sorted(names.get(movie_id, [])),
                updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=dt.UTC),
            )
            for movie_id, title, updated_at in rows
        }


def add_genre(name: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(sa.insert(GENRES).values(name=name))


@pytest.fixture
def at_0004(app):
    """The app's database migrated down to 0004 for the test, and back to the head after."""
    db.session.remove()
    downgrade(revision="0004")
    yield
    db.session.remove()
    with db.engine.begin() as connection:
        for table in (RATINGS, LINKS, USERS, MOVIES, GENRES):
            connection.execute(table.delete())
    upgrade()


def test_upgrade_repairs_titles_merges_genres_and_adds_the_case_rule(app, at_0004, capsys):
    with db.engine.begin() as connection:
        ids = fill_dirty_database(connection)
    capsys.readouterr()

    upgrade(revision="0005")

    # env.py's logging.config.fileConfig replaces caplog's handler: its console handler writes
    # to the stderr capsys holds.
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("WARN")]

    rows = movie_rows()
    assert set(rows) == set(ids.values())  # no movie gained or lost, ids kept
    title = {movie_id: row[0] for movie_id, row in rows.items()}
    genres = {row[0]: row[1] for row in rows.values()}
    assert title[ids["LÈon"]] == "Léon"
    assert title[ids["Le Fabuleux destin d'AmÈlie Poulain"]] == (
        "Le Fabuleux destin d'Amélie Poulain"
    )
    assert genres["Léon"] == ["Drama", "Thriller"]
    assert genres["Le Fabuleux destin d'Amélie Poulain"] == ["Comedy", "Romance"]
    assert genres["The Godfather"] == ["Drama"]
    assert genres["Star Wars"] == ["Adventure", "Sci-Fi"]
    assert genres["Toy Story"] == ["Children", "Comedy"]
    assert genres["Babe"] == ["Children", "Drama"]
    assert genres["Avatar"] == ["Action"]
    assert genres["Bio One"] == genres["Bio Two"] == ["Biography"]
    assert genres["Heat"] == ["Thriller"]
    # The repaired title would have met the other row: left for `movies merge`, and said so.
    assert title[ids["CachÈ"]] == "CachÈ" and genres["CachÈ"] == ["Thriller"]
    assert title[ids["Caché"]] == "Caché"
    assert warnings == [
        f"WARNI [alembic.runtime.migration] movie {ids['CachÈ']}: title 'CachÈ' reads 'Caché', "
        f"the title of movie {ids['Caché']} of the same year: left as it is "
        f"(merge them with `recommender movies merge {ids['Caché']} {ids['CachÈ']}`)"
    ]
    names = sorted(db.session.scalars(sa.select(GENRES.c.name)))
    assert names == [
        "Action",
        "Adventure",
        "Biography",
        "Children",
        "Comedy",
        "Drama",
        "Romance",
        "Sci-Fi",
        "Thriller",
    ]
    # The rating of the repaired film is still there, on the same movie.
    assert db.session.scalar(sa.select(RATINGS.c.movie_id)) == ids["LÈon"]
    # Changed movies get a new updated_at (so the feature version changes); Heat did not change.
    changed = {movie_id for movie_id, row in rows.items() if row[2] > OLD}
    unchanged = {ids[name] for name in ("Heat", "Caché", "Babe", "Bio One")}
    assert changed == set(ids.values()) - unchanged

    # Names are unique regardless of case now.
    with pytest.raises(sa.exc.IntegrityError):
        add_genre("DRAMA")
    with pytest.raises(sa.exc.IntegrityError):
        add_genre("sci-fi")
    add_genre("Film-Noir")


def test_upgrade_is_a_no_op_on_a_clean_database_and_downgrade_drops_the_case_rule(app, at_0004):
    with db.engine.begin() as connection:
        connection.execute(sa.insert(GENRES).values(name="Drama"))
        movie_id = connection.execute(
            sa.insert(MOVIES)
            .values(title="Heat", year=1995, created_at=OLD, updated_at=OLD)
            .returning(MOVIES.c.id)
        ).scalar_one()
        genre_id = connection.execute(sa.select(GENRES.c.id)).scalar_one()
        connection.execute(sa.insert(LINKS).values(movie_id=movie_id, genre_id=genre_id))
    before = movie_rows()

    upgrade(revision="0005")

    assert movie_rows() == before
    with pytest.raises(sa.exc.IntegrityError):
        add_genre("drama")

    db.session.remove()
    downgrade(revision="0004")

    add_genre("drama")  # the case rule is gone with the index
    assert sorted(db.session.scalars(sa.select(GENRES.c.name))) == ["Drama", "drama"]
