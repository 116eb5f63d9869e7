"""services.export: the latest layout read back by the importer gives the same movies, users and
ratings; the export is streamed in bounded memory; bad targets are refused."""

from __future__ import annotations

import csv
import datetime as dt
import tracemalloc
from typing import Any

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, Rating, User
from recommender.services import export
from recommender.services.errors import InvalidInput
from recommender.services.export import export_dataset
from tests.conftest import empty_all_tables
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)
# (title, year, genres): commas, quotes, accents, a remake, no year, no genres, a two-word genre
# (outside the genre vocabulary, so an import keeps it as it is; "Science Fiction" would be read
# back as the vocabulary's "Sci-Fi", as every import does).
FILMS = [
    ("Crouching Tiger, Hidden Dragon", 2000, ("Action", "Romance")),
    ('Say "Cheese", Please', 1999, ("Comedy",)),
    ("Le Fabuleux destin d'Amélie Poulain", 2001, ("Comedy", "Magic Realism", "Romance")),
    ("Solaris", 1972, ("Sci-Fi",)),
    ("Solaris", 2002, ("Drama", "Sci-Fi")),
    ("The Shawshank Redemption", 1994, ("Drama",)),
    ("Untitled Short", None, ("Documentary",)),
    ("Se7en", 1995, ()),
    ("Nobody Rated This", 2010, ("Drama",)),
]


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def movies_state() -> list[tuple[str, int | None, tuple[str, ...]]]:
    db.session.expire_all()
    movies = db.session.scalars(sa.select(Movie)).all()
    return sorted((m.title, m.year, tuple(g.name for g in m.genres)) for m in movies)


def ratings_state(user_key: Any) -> dict[tuple[Any, str, int | None], tuple[float, dt.datetime]]:
    """(user key, title, year) -> (rating, rated_at); ``user_key`` maps a User to its key."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(User, Movie.title, Movie.year, Rating.rating, Rating.rated_at)
        .join(Rating, Rating.user_id == User.id)
        .join(Movie, Movie.id == Rating.movie_id)
    )
    return {
        (user_key(user), title, year): (rating, rated_at.replace(tzinfo=rated_at.tzinfo or dt.UTC))
        for user, title, year, rating, rated_at in rows
    }


@pytest.fixture
def catalogue(app) -> dict[str, int]:
    """The films above, three users who rated them (one with none), and local accounts."""
    ids = {f"{title} {year}": make_movie(title, year, genres).id for title, year, genres in FILMS}
    users = [User(username=name, source="local") for name in ("alice", "bob", "carol", "idle")]
    db.session.add_all(users)
    db.session.flush()
    stamps = [at(874_965_758), at(1_700_000_000.123456), at(1_234_567_890.5), at(999_999_999)]
    values = [4.5, 0.5, 5.0, 3.0, 2.5]
    for u, user in enumerate(users[:3]):
        for m, movie_id in enumerate(list(ids.values())[:-1]):
            if (u + m) % 4 == 3:
                continue
            user_stamp = stamps[(u + m) % len(stamps)]
            value = values[(u * 3 + m) % len(values)]
            db.session.add(
                Rating(user_id=user.id, movie_id=movie_id, rating=value, rated_at=user_stamp)
            )
    db.session.commit()
    return ids


def test_an_export_imported_into_an_empty_database_gives_the_same_catalogue(catalogue, tmp_path):
    movies = movies_state()
    ratings = ratings_state(lambda user: user.id)
    rated_users = {user_id for user_id, _, _ in ratings}
    folder = tmp_path / "ml-roundtrip"

    report = export_dataset(db.session, folder)

    assert (report.movies, report.ratings, report.users) == (len(FILMS), len(ratings), 3)
    empty_all_tables()
    imported = import_movielens(db.session, folder, scale=SCALE)
    assert imported.layout == "latest" and imported.dataset == "ml-roundtrip"
    assert movies_state() == movies
    # A user is the database's user id in the file; the import names it after the dataset.
    assert ratings_state(lambda user: int(user.external_id)) == ratings
    users = db.session.execute(sa.select(User.username, User.external_id, User.source)).all()
    assert sorted(users) == sorted(
        (f"ml-roundtrip-{user_id}", str(user_id), "ml-roundtrip") for user_id in rated_users
    )
    assert all(user.password_hash is None for user in db.session.scalars(sa.select(User)))


def test_movies_csv_holds_quoted_titles_years_and_genres(catalogue, tmp_path):
    export_dataset(db.session, tmp_path / "out")
    with (tmp_path / "out" / "movies.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["movieId", "title", "genres"]
    by_id = {int(row[0]): row[1:] for row in rows[1:]}
    assert by_id[catalogue["Crouching Tiger, Hidden Dragon 2000"]] == [
        "Crouching Tiger, Hidden Dragon (2000)",
        "Action|Romance",
    ]
    assert by_id[catalogue["Untitled Short None"]] == ["Untitled Short", "Documentary"]
    assert by_id[catalogue["Se7en 1995"]] == ["Se7en (1995)", "(no genres listed)"]
    ratings = (tmp_path / "out" / "ratings.csv").read_text().splitlines()
    assert ratings[0] == "userId,movieId,rating,timestamp"
    assert any(line.endswith(",1700000000.123456") for line in ratings)


def test_a_title_with_a_line_break_is_written_on_one_line(app, tmp_path):
    make_movie("Two\nLines", 2001, ("Drama",))
    report = export_dataset(db.session, tmp_path / "out")
    assert report.titles_flattened == 1
    lines = (tmp_path / "out" / "movies.csv").read_text().splitlines()
    assert lines[1].endswith(",Two Lines (2001),Drama")


def test_an_existing_dataset_is_refused_unless_overwritten(catalogue, tmp_path):
    export_dataset(db.session, tmp_path)
    before = (tmp_path / "ratings.csv").read_bytes()
    with pytest.raises(InvalidInput, match=r"already holds movies\.csv, ratings\.csv"):
        export_dataset(db.session, tmp_path)
    db.session.execute(sa.delete(Rating))
    db.session.commit()
    report = export_dataset(db.session, tmp_path, overwrite=True)
    assert report.ratings == 0
    assert (tmp_path / "ratings.csv").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movies.csv", "ratings.csv"]


def test_bad_targets_and_layouts_are_refused(app, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        export_dataset(db.session, tmp_path / "file.txt")
    with pytest.raises(InvalidInput, match="Unknown export layout '100k'"):
        export_dataset(db.session, tmp_path / "new", layout="100k")
    assert not (tmp_path / "new").exists()


def test_a_failure_midway_leaves_no_partial_dataset(catalogue, tmp_path, monkeypatch):
    def broken(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(export, "_write_ratings", broken)
    with pytest.raises(OSError, match="disk full"):
        export_dataset(db.session, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# --- bounded memory -----------------------------------------------------------------------------

USERS, MOVIES = 1_000, 1_000  # one rating per pair: a million ratings


def fill_a_million_ratings() -> None:
    """1,000 movies, 1,000 users and their 1,000,000 ratings, made by the database itself."""
    connection = db.session.connection()
    connection.execute(
        sa.insert(Movie.__table__), [{"title": f"Film {n}", "year": 2000} for n in range(MOVIES)]
    )
    connection.execute(
        sa.insert(User.__table__),
        [{"username": f"user-{n}", "source": "bench", "is_admin": False, "ratings_version": 0}
         for n in range(USERS)],
    )  # fmt: skip
    # Whole seconds and, for one movie in ten, microseconds; SQLite stores SQLAlchemy's text.
    stamp = (
        "to_timestamp(1000000000 + m.id + (m.id % 10 = 0)::int * 0.25)"
        if connection.dialect.name == "postgresql"
        else "datetime(1000000000 + m.id, 'unixepoch') "
        "|| CASE WHEN m.id % 10 = 0 THEN '.250000' ELSE '.000000' END"
    )
    connection.execute(
        sa.text(
            "INSERT INTO ratings (user_id, movie_id, rating, rated_at) "
            f"SELECT u.id, m.id, (m.id % 10 + 1) / 2.0, {stamp} FROM users u CROSS JOIN movies m"
        )
    )
    db.session.commit()


def test_a_million_ratings_are_exported_in_bounded_memory(app, tmp_path):
    fill_a_million_ratings()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    server_cursors: list[int] = []

    def progress(done: int, total: int) -> None:
        if postgres and not server_cursors:  # a named cursor streams the rows on PostgreSQL
            server_cursors.append(db.session.scalar(sa.text("SELECT count(*) FROM pg_cursors")))

    tracemalloc.start()
    try:
        report = export_dataset(db.session, tmp_path / "big", progress=progress)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    size = (tmp_path / "big" / "ratings.csv").stat().st_size
    assert report.ratings == USERS * MOVIES
    with (tmp_path / "big" / "ratings.csv").open() as lines:
        assert next(lines) == "userId,movieId,rating,timestamp\n"
        first = [next(lines) for _ in range(10)]
    ids = db.session.scalars(sa.select(Movie.id).order_by(Movie.id).limit(10)).all()
    assert [line.rsplit(",", 1)[1] for line in first] == [
        f"{1_000_000_000 + n}{'.25' if n % 10 == 0 else ''}\n" for n in ids
    ]
    assert size > 20_000_000
    # A million rows held at once would be hundreds of MB; a chunk of 10,000 is a few.
    assert peak < 16 * 1024**2, f"peak {peak:,} bytes for a {size:,}-byte file"
    if postgres:
        assert server_cursors and server_cursors[0] >= 1
