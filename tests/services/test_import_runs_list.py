"""services.stats.list_import_runs: the admin page's list of past import runs."""

from __future__ import annotations

import datetime as dt

from recommender.extensions import db
from recommender.models import ImportRun, ImportStatus
from recommender.services import accounts, stats
from recommender.settings import app_settings

START = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _run(i: int, **values) -> ImportRun:
    fields = {
        "kind": "movielens",
        "filename": f"f{i}.zip",
        "status": ImportStatus.SUCCEEDED,
        "counts": {"ratings_inserted": i, "rating_lines": 10 * i},
        "errors": [],
        "started_at": START + dt.timedelta(minutes=i),
        "finished_at": START + dt.timedelta(minutes=i, seconds=3),
    }
    run = ImportRun(**{**fields, **values})
    db.session.add(run)
    return run


def test_runs_come_newest_first_with_who_counts_and_duration(app):
    admin = accounts.create_user(
        db.session,
        "root",
        "pw-pw-pw-pw",
        is_admin=True,
        hash_method=app_settings(app).password_hash_method,
    )
    _run(1, admin_id=admin.id)
    _run(2, status=ImportStatus.RUNNING, finished_at=None)
    _run(3, kind="catalogue", counts={"inserted": 5, "updated": 1}, errors=[{"x": 1}])
    db.session.commit()
    listed = stats.list_import_runs(db.session, 1, 20)
    assert listed["total"] == 3 and listed["pages"] == 1
    first, running, oldest = listed["items"]
    assert first["filename"] == "f3.zip" and first["kind"] == "catalogue"
    assert first["counts"] == {"inserted": 5, "updated": 1} and first["problems"] == 1
    assert first["admin"] is None and first["seconds"] == 3.0
    assert running["status"] == "running" and running["seconds"] is None
    # A MovieLens run shows its main counts only, in their order.
    assert oldest["counts"] == {"ratings_inserted": 1} and oldest["admin"] == "root"
    assert oldest["started_at"] == START + dt.timedelta(minutes=1)


def test_runs_are_paged_and_a_page_past_the_end_is_the_last(app):
    for i in range(7):
        _run(i)
    db.session.commit()
    page = stats.list_import_runs(db.session, 2, 3)
    assert [r["filename"] for r in page["items"]] == ["f3.zip", "f2.zip", "f1.zip"]
    assert (page["page"], page["pages"], page["total"]) == (2, 3, 7)
    assert stats.list_import_runs(db.session, 99, 3)["page"] == 3
    assert stats.list_import_runs(db.session, 0, 3)["page"] == 1
