"""tracked_run's stale limit on SQLite is the IMPORT_STALE_HOURS setting: a "running" run older
than it (its process on another host, so not checkable) no longer blocks the next import."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.importers.runs import ImportBusy, tracked_run
from recommender.models import ImportRun, ImportStatus, utcnow
from tests.conftest import change_settings


def left_running(hours_ago: float) -> int:
    run = ImportRun(
        kind="movielens",
        filename="old.zip",
        counts={},
        errors=[],
        pid=1,
        hostname="another-host",
        started_at=utcnow() - dt.timedelta(hours=hours_ago),
    )
    db.session.add(run)
    db.session.commit()
    return run.id


@pytest.fixture
def sqlite_only(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's lock is an advisory lock: a left-over row never holds it")


def test_a_run_older_than_import_stale_hours_no_longer_holds_the_lock(app, sqlite_only):
    change_settings(app, import_stale_hours=1)
    old = left_running(hours_ago=2)
    with tracked_run(db.session, "catalogue", "new.csv", None) as run:
        pass
    assert run.id != old
    db.session.expire_all()
    stale = db.session.get(ImportRun, old)
    assert stale.status == ImportStatus.FAILED
    assert "after 1 hours (IMPORT_STALE_HOURS)" in stale.errors[0]["message"]


def test_a_younger_run_still_holds_it(app, sqlite_only):
    change_settings(app, import_stale_hours=3)
    left_running(hours_ago=2)
    with pytest.raises(ImportBusy), tracked_run(db.session, "catalogue", "new.csv", None):
        pass
    running = sa.select(sa.func.count()).where(ImportRun.status == ImportStatus.RUNNING)
    assert db.session.scalar(running) == 1
