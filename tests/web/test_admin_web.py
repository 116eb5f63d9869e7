"""The admin page: imports as background jobs with a polled status, the list of past import
runs, the stored evaluation and its button, and where an administrator lands."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.jobs import wait_for_thread_jobs
from recommender.models import Evaluation, ImportRun, ImportStatus, Job, Movie
from recommender.services import jobs
from tests.conftest import change_settings
from tests.services.test_jobs import _ratings, latest_zip
from tests.web.conftest import PASSWORD, csrf_token, post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogue"
NEW_ROUTES = (
    ("GET", "/admin/jobs/{job}"),
    ("GET", "/admin/jobs/{job}/status"),
    ("GET", "/admin/evaluation"),
    ("POST", "/admin/evaluations"),
)


def upload(client, data: bytes, name: str, kind: str = "movielens"):
    return post(
        client, "/admin/import", {"kind": kind, "file": (io.BytesIO(data), name)}, htmx=False
    )


def started_job(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.fullmatch(r"/admin/jobs/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def test_an_uploaded_zip_is_imported_in_the_background_and_reported(admin, app):
    job_id = started_job(upload(admin, latest_zip(), "ml-latest-small.zip"))
    page = admin.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Import of ml-latest-small.zip" in page and 'id="job-status"' in page
    wait_for_thread_jobs()
    status = admin.get(f"/admin/jobs/{job_id}/status", headers={"HX-Request": "true"})
    fragment = status.get_data(as_text=True)
    assert status.status_code == 200 and "<html" not in fragment
    assert "Imported ml-latest-small.zip" in fragment and "ratings inserted" in fragment
    assert "hx-trigger" not in fragment  # Ended: the polling stops.
    assert 'value="100"' in fragment


def test_a_running_job_is_polled_and_shows_its_progress(admin, app):
    job_id = started_job(upload(admin, latest_zip(), "ml.zip"))
    wait_for_thread_jobs()
    # As it looked while running: half the ratings read.
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(status="running", progress_done=50, progress_total=100, finished_at=None)
    )
    db.session.commit()
    fragment = admin.get(f"/admin/jobs/{job_id}/status").get_data(as_text=True)
    assert (
        f'hx-get="/admin/jobs/{job_id}/status"' in fragment and 'hx-trigger="every 1s"' in fragment
    )
    assert "Importing: 50% of the ratings read" in fragment and 'value="50"' in fragment


def test_a_refused_zip_shows_the_numbered_lines_and_changes_nothing(admin, app):
    movies = db.session.scalar(sa.select(sa.func.count(Movie.id)))
    job_id = started_job(upload(admin, latest_zip(b"4,1,six,1\n"), "broken.zip"))
    wait_for_thread_jobs()
    page = admin.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Nothing was imported" in page and "broken.zip was refused: 1 problem" in page
    assert "<strong>ratings.csv line 9</strong>: rating must be a number, got &#39;six&#39;" in page
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Movie.id))) == movies


def test_a_catalogue_file_is_a_job_too(admin, app):
    job_id = started_job(
        upload(admin, (FIXTURES / "good.csv").read_bytes(), "good.csv", "catalogue")
    )
    wait_for_thread_jobs()
    page = admin.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Imported good.csv" in page and "inserted" in page
    broken = upload(admin, (FIXTURES / "broken_values.csv").read_bytes(), "bad.csv", "catalogue")
    wait_for_thread_jobs()
    page = admin.get(f"/admin/jobs/{started_job(broken)}").get_data(as_text=True)
    assert "bad.csv was refused" in page and re.search(r"<strong>line 3</strong>", page)


def test_a_second_import_while_one_runs_is_a_409_naming_it(admin, app):
    run = ImportRun(
        kind="movielens", filename="big.zip", status=ImportStatus.RUNNING, counts={}, errors=[]
    )
    db.session.add(run)
    db.session.commit()
    response = upload(admin, latest_zip(), "ml.zip")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert f"Another import is running: run {run.id} (movielens &#39;big.zip&#39;" in page
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "nonsense", "file": (b"x", "x.zip")}, "Unknown kind"),
        ({"kind": "movielens"}, "Choose a file to upload."),
        ({"kind": "movielens", "file": (b"", "empty.zip")}, "empty.zip is empty"),
    ],
)
def test_bad_uploads_are_422_and_start_nothing(admin, app, data, message):
    # A fresh stream per run: the parameters are shared by both backends' runs.
    data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
    response = post(admin, "/admin/import", data, htmx=False)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_a_file_over_the_upload_limit_points_to_the_command_line(admin, app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = upload(admin, b"x" * 4096, "ml-25m.zip")
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert (
        "a browser may upload (MAX_UPLOAD_MB)" in page
        and "recommender import movielens PATH" in page
    )
    assert 'data-max-bytes="' in admin.get("/admin/import").get_data(as_text=True)


def test_the_runs_list_shows_status_counts_who_and_how_long_paged(admin, app):
    start = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    for i in range(23):
        db.session.add(
            ImportRun(
                kind="movielens" if i % 2 else "catalogue",
                filename=f"file-{i}.zip",
                status=ImportStatus.FAILED if i == 22 else ImportStatus.SUCCEEDED,
                counts={"ratings_inserted": 1000 * i} if i % 2 else {"inserted": i},
                errors=[{"location": "x", "message": "y"}] if i == 22 else [],
                started_at=start + dt.timedelta(minutes=i),
                finished_at=start + dt.timedelta(minutes=i, seconds=2.5),
                admin_id=None,
            )
        )
    db.session.commit()
    page = admin.get("/admin").get_data(as_text=True)
    assert "Import runs" in page and "Page 1 of 2 (23 runs)" in page
    newest = page.index("file-22.zip")
    assert newest < page.index("file-21.zip") and "file-2.zip" not in page
    assert "ratings inserted 21,000" in page and "1 problem" in page
    assert "command line" in page and "2.5 s" in page and "2026-11-30 12:21" in page
    older = admin.get("/admin?page=2").get_data(as_text=True)
    assert "file-2.zip" in older and "file-0.zip" in older and "file-22.zip" not in older
    assert admin.get("/admin?page=99").status_code == 200  # Past the end: the last page.


def test_the_runs_list_names_the_admin_who_started_a_job(admin, app):
    started_job(upload(admin, latest_zip(), "mine.zip"))
    wait_for_thread_jobs()
    row = admin.get("/admin").get_data(as_text=True).split("mine.zip", 1)[1].split("</tr>")[0]
    assert "root" in row and "succeeded" in page_of(admin)


def page_of(client) -> str:
    return client.get("/admin").get_data(as_text=True)


def test_the_evaluation_box_without_a_stored_result_offers_the_button(admin, app):
    page = page_of(admin)
    assert "No evaluation is stored yet" in page and "recommender evaluate --store" in page
    assert "Run an evaluation" in page


def test_the_button_evaluates_in_the_background_and_the_box_fills_in(admin, app):
    _ratings(app)
    response = post(admin, "/admin/evaluations", {"folds": "2", "ks": "2, 3"})
    box = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in box
    assert 'id="evaluation"' in box
    wait_for_thread_jobs()
    box = admin.get("/admin/evaluation").get_data(as_text=True)
    assert "hx-trigger" not in box and "RMSE" in box and "Best k" in box and "nDCG@10" in box
    stored = db.session.scalars(sa.select(Evaluation)).one()
    assert f"{stored.rmse:.3f}" in box and "from this page" in box
    assert box.count('<figure class="curve">') == 2 and "<polyline" in box
    assert page_of(admin).count('id="evaluation"') == 1


def test_a_running_evaluation_is_polled_and_a_second_one_refused(admin, app):
    db.session.add(
        Job(kind="evaluate", status="running", params={"folds": 5, "ks": [5, 10]}, backend="rq")
    )
    db.session.commit()
    box = admin.get("/admin/evaluation").get_data(as_text=True)
    assert 'hx-get="/admin/evaluation"' in box and "Evaluating the database" in box
    assert "Run an evaluation" not in box
    response = post(admin, "/admin/evaluations", {"folds": "2", "ks": "3"})
    assert response.status_code == 409 and "An evaluation is running already" in response.get_data(
        as_text=True
    )
    plain = post(admin, "/admin/evaluations", {"folds": "2", "ks": "3"}, htmx=False)
    assert plain.status_code == 409


@pytest.mark.parametrize(("folds", "ks"), [("0", "5"), ("x", "5"), ("5", "five"), ("5", "")])
def test_bad_evaluation_fields_are_422(admin, app, folds, ks):
    response = post(admin, "/admin/evaluations", {"folds": folds, "ks": ks})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_a_failed_evaluation_says_why_in_the_box(admin, app):
    post(admin, "/admin/evaluations", {"folds": "2", "ks": "3"})
    wait_for_thread_jobs()
    assert "holds no ratings yet" in admin.get("/admin/evaluation").get_data(as_text=True)


def test_an_rq_job_waiting_for_a_worker_says_so(admin, app):
    change_settings(app, redis_url="redis://127.0.0.1:1/0")
    job = Job(
        kind="import",
        status="queued",
        params={"import_kind": "movielens"},
        filename="q.zip",
        backend=jobs.RQ,
    )
    db.session.add(job)
    db.session.commit()
    fragment = admin.get(f"/admin/jobs/{job.id}/status").get_data(as_text=True)
    assert "queued for <code>recommender worker</code>" in fragment


def test_other_users_get_403_on_every_new_route(alice, admin, app):
    job_id = started_job(upload(admin, latest_zip(), "ml.zip"))
    wait_for_thread_jobs()
    for method, path in NEW_ROUTES:
        url = path.format(job=job_id)
        response = (
            alice.get(url) if method == "GET" else post(alice, url, {"folds": "2", "ks": "3"})
        )
        assert response.status_code == 403, url
    anonymous = app.test_client()
    for method, path in NEW_ROUTES:
        url = path.format(job=job_id)
        if method == "GET":
            response = anonymous.get(url)
            assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert admin.get("/admin/jobs/999999").status_code == 404


def test_an_admin_lands_on_the_admin_page_and_others_do_not(admin, app):
    client = app.test_client()
    data = {"username": "root", "password": PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/admin"
    # A next= still wins.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    response = client.post(
        "/login", data={**data, "csrf_token": csrf_token(client), "next": "/ratings"}
    )
    assert response.headers["Location"] == "/ratings"
