"""One import at a time: a second import while one runs is a 409 naming the running one (API)
or a ClickException (CLI), on both backends, and writes nothing; a failed run stores a short
message, never SQL."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from recommender.extensions import db
from recommender.importers import runs
from recommender.importers.catalogue import import_catalogue
from recommender.importers.movielens.importer import import_movielens
from recommender.importers.runs import tracked_run
from recommender.models import ImportRun, ImportStatus, Movie
from recommender.settings import current_settings
from tests.api.helpers import admin_headers, assert_error

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLE_100K = FIXTURES / "movielens" / "100k"
CATALOGUE_CSV = b"title,year\nA Film,1999\n"


class BlockedImport:
    """A MovieLens import in a thread of its own, held at its first progress report until
    ``release``; ``error`` is what it raised, if anything."""

    def __init__(self, app: Flask, catalogue: bytes | None = None) -> None:
        self.app = app
        self.catalogue = catalogue
        self.reached = threading.Event()
        self.go_on = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _progress(self, done: int, total: int) -> None:
        self.reached.set()
        assert self.go_on.wait(30), "the test never released the import"

    def _run(self) -> None:
        try:
            with self.app.app_context():
                if self.catalogue is not None:  # Blocked after its first batch is written.
                    source = io.BytesIO(self.catalogue)
                    import_catalogue(
                        db.session, source, filename="big.csv", progress=self._progress
                    )
                    return
                scale = current_settings().rating_scale
                import_movielens(db.session, SAMPLE_100K, scale=scale, progress=self._progress)
        except BaseException as error:
            self.error = error

    def __enter__(self) -> BlockedImport:
        self.thread.start()
        assert self.reached.wait(30), f"the first import did not start: {self.error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.go_on.set()
        self.thread.join(30)
        assert self.error is None, self.error


def running_run() -> ImportRun:
    db.session.rollback()
    return db.session.scalars(
        sa.select(ImportRun).where(ImportRun.status == ImportStatus.RUNNING)
    ).one()


def test_a_second_import_while_one_runs_is_a_409_naming_the_running_one(app, client):
    headers = admin_headers(client, "boss")
    with BlockedImport(app):
        first = running_run()
        started = time.perf_counter()
        response = client.post(
            "/api/v1/admin/imports",
            data={"kind": "catalogue", "file": (io.BytesIO(CATALOGUE_CSV), "more.csv")},
            headers=headers,
            content_type="multipart/form-data",
        )
        waited = time.perf_counter() - started
        error = assert_error(response, 409, "import_running")
        assert waited < 1.0, f"the refusal took {waited:.2f} s: it must not wait for a lock"
        running = error["details"]["running"]
        assert running["id"] == first.id and running["filename"] == "100k"
        assert running["kind"] == "movielens" and running["pid"] == first.pid
        assert running["started_at"] and "100k" in error["message"]
        # Refused before anything was written: no run of its own, no movie.
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 1
        assert db.session.scalar(sa.select(Movie.id).where(Movie.title == "A Film")) is None
    # Once the first has finished, the next import runs.
    assert running_run_count() == 0
    response = client.post(
        "/api/v1/admin/imports",
        data={"kind": "catalogue", "file": (io.BytesIO(CATALOGUE_CSV), "more.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()


def running_run_count() -> int:
    db.session.rollback()
    query = sa.select(sa.func.count()).where(ImportRun.status == ImportStatus.RUNNING)
    return db.session.scalar(query)


def test_the_cli_refuses_a_second_import_with_a_clear_message(app, runner, tmp_path):
    catalogue = tmp_path / "more.csv"
    catalogue.write_bytes(CATALOGUE_CSV)
    with BlockedImport(app):
        first = running_run()
        result = runner.invoke(args=["import", "catalogue", str(catalogue)])
        assert result.exit_code == 1, result.output
        assert f"Another import is running: run {first.id} (movielens '100k'" in result.output
        assert "by the command line" in result.output


def test_a_run_left_running_by_a_dead_process_does_not_hold_the_lock(app):
    dead = ImportRun(
        kind="movielens",
        filename="old.zip",
        counts={},
        errors=[],
        pid=2**22 + 12345,
        hostname=__import__("socket").gethostname(),
    )
    db.session.add(dead)
    db.session.commit()
    with tracked_run(db.session, "catalogue", "new.csv", None) as run:
        run.status = ImportStatus.SUCCEEDED
        db.session.commit()
    db.session.refresh(dead)
    assert dead.status == ImportStatus.FAILED


def test_a_failed_run_stores_a_short_message_without_sql(app):
    huge = "INSERT INTO ratings (user_id, movie_id) VALUES " + ", ".join(["(1, 2)"] * 20_000)
    error = sa.exc.IntegrityError(
        huge, [(1, 2)] * 1000, Exception("duplicate key value\nDETAIL: x")
    )
    assert len(str(error)) > 100_000
    with pytest.raises(sa.exc.IntegrityError), tracked_run(db.session, "movielens", "x", None):
        raise error
    db.session.rollback()
    run = db.session.scalars(sa.select(ImportRun)).one()
    message = run.errors[0]["message"]
    assert run.status == ImportStatus.FAILED and len(message) <= runs.MAX_ERROR_MESSAGE
    assert "INSERT" not in message and "duplicate key value" in message
    assert runs.error_message(ValueError("x" * 5000)).endswith("...")


def test_the_refusal_is_quick_while_the_running_import_holds_the_write_lock(app, client):
    # A catalogue import held after writing its first batch: on SQLite it holds the file's
    # write lock, and the second import must not wait for it (SQLITE_BUSY_TIMEOUT_MS, a 503).
    headers = admin_headers(client, "boss")
    big = ("title,year\n" + "".join(f"Film {n},2001\n" for n in range(1200))).encode()
    with BlockedImport(app, catalogue=big):
        started = time.perf_counter()
        response = client.post(
            "/api/v1/admin/imports",
            data={"kind": "catalogue", "file": (io.BytesIO(CATALOGUE_CSV), "more.csv")},
            headers=headers,
            content_type="multipart/form-data",
        )
        waited = time.perf_counter() - started
        error = assert_error(response, 409, "import_running")
        assert error["details"]["running"]["filename"] == "big.csv"
        assert waited < 1.0, f"the refusal took {waited:.2f} s"
