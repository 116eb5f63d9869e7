"""A large staged SQLite import writes in short steps and stays all or nothing (issue 15).

Past ``ONE_TRANSACTION_ROWS`` ratings the import commits its rows, then its ratings chunk by
chunk, each its own transaction, with the run recording what it wrote until the last
(``importers.pending``). These tests force the steps on a small dataset: the result equals
the one-transaction import's, and an import that fails or dies between steps is undone, except
what raters wrote meanwhile.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens import writer
from recommender.importers.movielens.importer import import_movielens
from recommender.importers.runs import fail_interrupted_runs
from recommender.models import (
    Genre,
    ImportRun,
    ImportStatus,
    Movie,
    MovieExternalId,
    Rating,
    User,
    movie_genres,
)
from recommender.services.errors import ImportRefused
from tests.conftest import empty_all_tables
from tests.factories import make_movie
from tests.services.test_staged_import_ids import by_names

SCALE = RatingScale(0.5, 5.0, 0.5)
USERS, MOVIES = 30, 6


@pytest.fixture(autouse=True)
def _sqlite_only(app: Any) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stages its writes (PostgreSQL streams them in one transaction)")


@pytest.fixture
def in_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every staged import writes in steps of a few ratings, without pauses."""
    monkeypatch.setattr(writer, "ONE_TRANSACTION_ROWS", 0)
    monkeypatch.setattr(writer, "STEP_FIRST_ROWS", 20)
    monkeypatch.setattr(writer, "STEP_MIN_ROWS", 20)
    monkeypatch.setattr(writer, "STEP_MAX_ROWS", 20)
    monkeypatch.setattr(writer, "STEP_PAUSE_SECONDS", 0.0)


def dataset(folder: Path) -> Path:
    """A 100K-layout dataset: USERS users rating each of MOVIES films (Drama)."""
    folder.mkdir()
    flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
    items = [f"{n}|Film {n} (1990)|01-Jan-1990||http://x/{n}|{flags}" for n in range(1, MOVIES + 1)]
    (folder / "u.item").write_text("\n".join(items) + "\n")
    lines = [
        f"{user}\t{movie}\t{(user + movie) % 5 + 1}\t{880000000 + user * 10 + movie}"
        for user in range(1, USERS + 1)
        for movie in range(1, MOVIES + 1)
    ]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


def catalogue() -> None:
    """A catalogue film the dataset matches (it gets a link and the dataset's genres)."""
    make_movie("Film 1", 1990)
    make_movie("Unrelated", 2001, genres=("Comedy",))


def snapshot() -> dict[str, Any]:
    return {
        **by_names(),
        "movies": sorted(db.session.scalars(sa.select(Movie.title))),
        "genres": sorted(db.session.scalars(sa.select(Genre.name))),
    }


def last_run() -> ImportRun:
    db.session.expire_all()
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()


def run(source: Path) -> Any:
    return import_movielens(db.session, source, scale=SCALE)


def test_an_import_in_steps_writes_what_one_transaction_writes(app, tmp_path, monkeypatch):
    catalogue()
    report = run(dataset(tmp_path / "one"))
    assert report.write_transactions == 1
    expected = snapshot()
    empty_all_tables()

    catalogue()
    monkeypatch.setattr(writer, "ONE_TRANSACTION_ROWS", 0)
    monkeypatch.setattr(writer, "STEP_FIRST_ROWS", 25)
    monkeypatch.setattr(writer, "STEP_PAUSE_SECONDS", 0.0)
    report = run(dataset(tmp_path / "steps"))

    assert snapshot() == expected
    assert len(expected["ratings"]) == USERS * MOVIES
    # The rows, then ratings in chunks (the first of 25, later ones sized by pace), the rest.
    assert report.write_transactions >= 3
    assert "transactions, the longest" in report.summary()
    assert last_run().status == ImportStatus.SUCCEEDED
    assert last_run().pending is None


def test_a_failure_between_steps_undoes_the_import_but_not_the_raters(app, tmp_path, in_steps):
    catalogue()
    rater = User(username="rater", username_key="rater")
    db.session.add(rater)
    db.session.commit()
    before = snapshot()
    calls = []
    insert, commit = writer.Writer._insert_sqlite, writer.Writer._commit  # noqa: SLF001

    def failing_third(self: writer.Writer, whole: list[Any], other: list[Any]) -> None:
        calls.append(len(whole))
        if len(calls) == 3:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        insert(self, whole, other)

    def rater_between_steps(self: writer.Writer) -> None:
        commit(self)
        if len(calls) == 2:  # After the second chunk a rater rates a film the import added.
            with db.engine.begin() as connection:
                film = connection.scalar(sa.select(Movie.id).where(Movie.title == "Film 2"))
                connection.execute(
                    sa.insert(Rating.__table__),
                    [{"user_id": rater.id, "movie_id": film, "rating": 4.0}],
                )

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(writer.Writer, "_insert_sqlite", failing_third)
    monkeypatch.setattr(writer.Writer, "_commit", rater_between_steps)
    with pytest.raises(sa.exc.OperationalError):
        run(dataset(tmp_path / "ml"))
    monkeypatch.undo()

    assert calls[:2] == [20, 20], "the first chunks were committed before the failure"
    failed = last_run()
    assert failed.status == ImportStatus.FAILED and failed.pending is None
    assert "disk I/O error" in failed.errors[0]["message"]
    after = snapshot()
    # The rater's rating and the film it is of stay, with the film's genre and link (a later
    # import knows it); nothing else of the import does.
    assert after["movies"] == sorted([*before["movies"], "Film 2"])
    assert after["ratings"] == [("rater", "Film 2", 4.0, after["ratings"][0][3])]
    assert after["users"] == before["users"]
    assert before["links"] == [] and after["links"] == [("2", "Film 2")]
    assert before["genres"] == ["Comedy"] and after["genres"] == ["Comedy", "Drama"]
    film_1 = db.session.scalar(sa.select(Movie.id).where(Movie.title == "Film 1"))
    genres_of = sa.select(sa.func.count()).where(movie_genres.c.movie_id == film_1)
    assert db.session.scalar(genres_of) == 0, "the genres the import gave Film 1 stay"
    # A second import then runs as if the first had never been.
    report = run(dataset(tmp_path / "again"))
    assert report.counts["ratings_inserted"] == USERS * MOVIES


def test_a_repeated_rating_met_in_a_later_step_is_refused_and_undone(app, tmp_path, in_steps):
    folder = dataset(tmp_path / "ml")
    with (folder / "u.data").open("a") as data:
        data.write("1\t1\t3\t890000000\n")  # user 1 rated film 1 on the first line already
    with pytest.raises(ImportRefused) as refused:
        import_movielens(db.session, folder, scale=SCALE, batch_size=50)
    assert "on two lines" in refused.value.details[0]["message"]
    assert snapshot()["ratings"] == [] and snapshot()["movies"] == []
    assert last_run().pending is None


def test_an_import_whose_process_died_between_steps_is_undone_at_the_next_start(
    app, tmp_path, in_steps
):
    catalogue()
    before = snapshot()
    calls = []
    insert = writer.Writer._insert_sqlite  # noqa: SLF001

    def dying_third(self: writer.Writer, whole: list[Any], other: list[Any]) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Not an Exception: nothing in the import catches it.
        insert(self, whole, other)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(writer.Writer, "_insert_sqlite", dying_third)
    with pytest.raises(KeyboardInterrupt):
        run(dataset(tmp_path / "ml"))
    monkeypatch.undo()
    db.session.rollback()

    stopped = last_run()
    assert stopped.status == ImportStatus.RUNNING and stopped.pending is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 40
    dead = subprocess.Popen(["true"])  # A pid that no longer runs, as after a kill -9.
    dead.wait()
    db.session.execute(sa.update(ImportRun).where(ImportRun.id == stopped.id).values(pid=dead.pid))
    db.session.commit()
    assert dead.pid != os.getpid()

    assert fail_interrupted_runs(db.session, dt.timedelta(hours=1)) == [stopped.id]
    undone = last_run()
    assert undone.status == ImportStatus.FAILED and undone.pending is None
    assert snapshot() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MovieExternalId)) == 0


def test_each_step_is_sized_from_the_last_ones_pace(app, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ONE_TRANSACTION_ROWS", 0)
    monkeypatch.setattr(writer, "STEP_FIRST_ROWS", 20)
    monkeypatch.setattr(writer, "STEP_MIN_ROWS", 10)
    monkeypatch.setattr(writer, "STEP_PAUSE_SECONDS", 0.0)
    # A step may hold the lock for ages: after the first, the rest fit in one step.
    monkeypatch.setattr(writer, "STEP_SECONDS", 1e6)
    sizes: list[int] = []
    insert = writer.Writer._insert_sqlite  # noqa: SLF001

    def counting(self: writer.Writer, whole: list[Any], other: list[Any]) -> None:
        sizes.append(len(whole) + len(other))
        insert(self, whole, other)

    monkeypatch.setattr(writer.Writer, "_insert_sqlite", counting)
    run(dataset(tmp_path / "ml"))
    assert sizes[:2] == [20, USERS * MOVIES - 20]  # then the known users' rows (none here)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == USERS * MOVIES


def test_a_sign_up_between_the_steps_gets_an_id_after_the_imports_users(app, tmp_path, in_steps):
    commit = writer.Writer._commit  # noqa: SLF001

    def sign_up_after_the_first_step(self: writer.Writer) -> None:
        commit(self)
        if len(self.holds) == 1:  # The record and each table's last new row are committed.
            with db.engine.begin() as connection:
                connection.execute(
                    sa.insert(User.__table__),
                    [{"username": "newcomer", "username_key": "newcomer"}],
                )

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(writer.Writer, "_commit", sign_up_after_the_first_step)
    report = run(dataset(tmp_path / "ml"))
    monkeypatch.undo()

    assert report.counts["ratings_inserted"] == USERS * MOVIES
    newcomer = db.session.scalar(sa.select(User.id).where(User.username == "newcomer"))
    imported = db.session.scalars(sa.select(User.id).where(User.username != "newcomer")).all()
    assert len(imported) == USERS and newcomer > max(imported)
    assert last_run().pending is None
