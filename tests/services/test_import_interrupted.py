"""An import killed with SIGKILL leaves none of its rows, and the next start fails its run."""

from __future__ import annotations

import datetime as dt
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from recommender.app import create_app
from recommender.extensions import db
from recommender.importers.runs import fail_interrupted_runs, process_alive
from recommender.models import ImportRun, Movie, MovieExternalId, Rating, User, utcnow
from tests.conftest import make_environ

ROOT = Path(__file__).resolve().parent.parent.parent
STALE = dt.timedelta(hours=24)


def write_big_100k(folder: Path, lines: int) -> Path:
    """A 100K-layout dataset of 200 films and ``lines`` distinct ratings."""
    folder.mkdir()
    flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
    (folder / "u.item").write_text(
        "".join(f"{n}|Film {n} (1990)|01-Jan-1990||http://x/{n}|{flags}\n" for n in range(1, 201))
    )
    with (folder / "u.data").open("w") as out:
        out.writelines(
            f"{n // 200 + 1}\t{n % 200 + 1}\t{n % 5 + 1}\t{880000000 + n}\n" for n in range(lines)
        )
    return folder


def read_until(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    """Return the process's stderr up to ``marker``; fail if it ends or times out first."""
    seen = b""
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while marker not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {marker!r} within {timeout} s; stderr: {seen!r}"
            if selector.select(remaining):
                chunk = os.read(process.stderr.fileno(), 4096)
                assert chunk, f"the import ended before {marker!r}; stderr: {seen!r}"
                seen += chunk
    return seen


def current_run() -> ImportRun:
    db.session.rollback()  # A fresh snapshot: see what other processes committed.
    db.session.expire_all()
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).one()


def counts() -> dict[str, int]:
    db.session.rollback()
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Rating, Movie, User, MovieExternalId)
    }


def test_a_killed_import_leaves_no_rows_and_the_next_start_marks_it_failed(
    app: Flask, database_url: str, tmp_path: Path
):
    folder = write_big_100k(tmp_path / "ml-100k", 200_000)
    environment = {**os.environ, **make_environ(database_url)}
    environment.pop("CI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "import", "movielens", str(folder)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # The CLI draws its progress bar after the first batch of 5,000 ratings was written,
        # inside the import's still open transaction.
        read_until(process, b"Importing ratings", timeout=120)
        running = current_run()
        assert (running.status, running.pid) == ("running", process.pid)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()

    assert counts() == {"ratings": 0, "movies": 0, "users": 0, "movie_external_ids": 0}
    assert current_run().status == "running"  # Nothing has looked at it yet.

    restarted = create_app(environ=make_environ(database_url))
    with restarted.app_context():
        db.engine.dispose()
    run = current_run()
    assert run.status == "failed"
    assert run.errors == [
        {"location": "import", "message": f"interrupted: process {process.pid} no longer running"}
    ]
    assert run.finished_at is not None


def add_run(pid: int | None, hostname: str | None, started_hours_ago: float) -> int:
    run = ImportRun(
        kind="movielens",
        filename="ml.zip",
        counts={},
        errors=[],
        pid=pid,
        hostname=hostname,
        started_at=utcnow() - dt.timedelta(hours=started_hours_ago),
    )
    db.session.add(run)
    db.session.commit()
    return run.id


def test_only_runs_whose_process_is_gone_or_that_are_too_old_are_failed(app: Flask):
    dead, live = 4_000_001, 4_000_002

    def is_alive(pid: int) -> bool:
        return pid == live

    here_dead = add_run(dead, "here", 1)
    here_live = add_run(live, "here", 1)
    elsewhere_dead_pid = add_run(dead, "elsewhere", 1)  # Another host's pid says nothing here.
    elsewhere_old = add_run(live, "elsewhere", 30)
    unknown_recent = add_run(None, None, 1)  # Started before migration 0004: no pid.
    finished = add_run(dead, "here", 1)
    db.session.execute(
        sa.update(ImportRun).where(ImportRun.id == finished).values(status="succeeded")
    )
    db.session.commit()

    failed = fail_interrupted_runs(db.session, STALE, hostname="here", is_alive=is_alive)

    assert sorted(failed) == sorted([here_dead, elsewhere_old])
    db.session.expire_all()
    status = dict(db.session.execute(sa.select(ImportRun.id, ImportRun.status)).all())
    assert status == {
        here_dead: "failed",
        here_live: "running",
        elsewhere_dead_pid: "running",
        elsewhere_old: "failed",
        unknown_recent: "running",
        finished: "succeeded",
    }
    messages = {
        run.id: run.errors[0]["message"]
        for run in db.session.scalars(sa.select(ImportRun).where(ImportRun.status == "failed"))
    }
    assert messages == {
        here_dead: f"interrupted: process {dead} no longer running",
        elsewhere_old: "interrupted: still running after 24 hours (IMPORT_STALE_HOURS)",
    }
    assert fail_interrupted_runs(db.session, STALE, hostname="here", is_alive=is_alive) == []


def test_a_dead_or_zombie_process_is_not_alive_and_this_one_is():
    finished = subprocess.Popen(["true"])
    finished.wait()  # Reaped: the pid is free.
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(zombie.pid)
        zombie.kill()
        deadline = time.monotonic() + 10
        while process_alive(zombie.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # Killed but not reaped: a zombie until wait().
        assert not process_alive(zombie.pid)
    finally:
        zombie.kill()
        zombie.wait()
    assert not process_alive(finished.pid)
    assert process_alive(os.getpid())


def test_starting_on_a_database_not_migrated_yet_changes_nothing(tmp_path: Path):
    path = tmp_path / "new.sqlite3"
    create_app(environ=make_environ(f"sqlite:///{path}"))
    assert not path.exists()  # Not created just to look for interrupted imports.
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE import_runs (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    app = create_app(environ=make_environ(f"sqlite:///{path}"))  # No pid column: no error.
    with app.app_context():
        db.engine.dispose()
