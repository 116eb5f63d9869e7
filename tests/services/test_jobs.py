"""Background jobs (services/jobs.py, recommender/jobs.py): imports and evaluations run by a
worker thread, or by RQ over a real Redis (db 13, an in-process burst SimpleWorker)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from recommender import jobs as runners
from recommender.extensions import db
from recommender.importers.runs import ImportBusy
from recommender.models import (
    Evaluation,
    ImportRun,
    ImportStatus,
    Job,
    JobStatus,
    JobUpload,
    Movie,
    Rating,
    User,
)
from recommender.services import accounts, jobs
from recommender.services.ratings import rate_movie
from recommender.settings import app_settings
from tests.broken_corpus import zip_bytes
from tests.conftest import change_settings
from tests.factories import make_movie

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
REDIS_TEST_URL = "redis://127.0.0.1:6379/13"
STALE = dt.timedelta(hours=24)


def latest_zip(extra_ratings: bytes = b"") -> bytes:
    folder = FIXTURES / "latest"
    members = {f"ml-latest-small/{p.name}": p.read_bytes() for p in folder.iterdir()}
    members["ml-latest-small/ratings.csv"] += extra_ratings
    return zip_bytes(members)


@pytest.fixture
def admin_id(app) -> int:
    hash_method = app_settings(app).password_hash_method
    return accounts.create_user(
        db.session, "root", "correct horse battery", is_admin=True, hash_method=hash_method
    ).id


def import_job(admin_id: int, data: bytes, backend: str = jobs.THREAD, name="ml.zip") -> Job:
    return jobs.create_import_job(
        db.session,
        import_kind="movielens",
        filename=name,
        data=data,
        admin_id=admin_id,
        backend=backend,
        stale_after=STALE,
    )


def counts() -> tuple[int, int, int]:
    db.session.rollback()
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Movie, Rating)
    )


def test_a_thread_job_imports_the_zip_and_links_its_run(app, admin_id):
    job = import_job(admin_id, latest_zip())
    assert job.status == JobStatus.QUEUED and job.pid == os.getpid()
    runners.submit_thread(app, job.id).result(timeout=60)
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "succeeded" and not view["active"]
    assert view["run"]["status"] == "succeeded"
    assert view["run"]["counts"]["ratings_inserted"] == 7
    assert "Imported ml.zip (latest layout" in view["message"]
    assert view["percent"] == 100 and view["seconds"] >= 0
    # The upload is gone once the job has ended.
    assert db.session.get(JobUpload, job.id) is None
    run = db.session.get(ImportRun, view["run"]["id"])
    assert run.admin_id == admin_id and run.filename == "ml.zip"


def test_a_refused_import_keeps_its_numbered_report_and_changes_nothing(app, admin_id):
    before = counts()
    job = import_job(admin_id, latest_zip(b"4,1,six,1\n"))
    runners.submit_thread(app, job.id).result(timeout=60)
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "failed"
    assert view["message"] == "ml.zip was refused: 1 problem"
    assert view["run"]["status"] == "failed"
    assert view["run"]["errors"] == [
        {"location": "ratings.csv line 9", "message": "rating must be a number, got 'six'"}
    ]
    assert counts() == before


def test_a_second_import_is_refused_naming_the_first_and_writes_nothing(app, admin_id):
    first = import_job(admin_id, latest_zip(), name="first.zip")
    with pytest.raises(ImportBusy) as refused:
        import_job(admin_id, latest_zip(), name="second.zip")
    assert f"job {first.id} (movielens 'first.zip', started by admin 'root'" in str(refused.value)
    assert refused.value.details["running"]["job_id"] == first.id
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_a_running_import_run_refuses_a_job_too(app, admin_id):
    run = ImportRun(
        kind="catalogue",
        filename="cli.csv",
        status=ImportStatus.RUNNING,
        counts={},
        errors=[],
        pid=os.getpid(),
        hostname=socket.gethostname()[:255],
    )
    db.session.add(run)
    db.session.commit()
    with pytest.raises(ImportBusy, match=rf"run {run.id} \(catalogue 'cli.csv', started by the"):
        import_job(admin_id, latest_zip())


def test_the_index_keeps_one_active_job_of_a_kind_even_past_the_checks(app, admin_id):
    def active(kind: str) -> Job:
        return Job(kind=kind, status="running", params={}, backend="thread")

    db.session.add_all([active("import"), active("evaluate")])
    db.session.commit()
    db.session.add(active("import"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Ended jobs do not count.
    db.session.add(Job(kind="import", status="failed", params={}, backend="thread"))
    db.session.commit()


def test_a_job_whose_process_is_gone_is_failed_and_frees_the_lane(app, admin_id):
    job = import_job(admin_id, latest_zip())
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(pid=2**22 + 12345))
    db.session.commit()
    assert jobs.sweep(db.session, STALE, is_alive=lambda pid: False) == [job.id]
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "failed" and "no longer running" in view["message"]
    import_job(admin_id, latest_zip())  # The next one may start.


def test_a_job_that_is_no_longer_queued_is_not_run_again(app, admin_id):
    job = import_job(admin_id, latest_zip())
    runners.submit_thread(app, job.id).result(timeout=60)
    settings = runners.job_settings(app_settings(app))
    assert jobs.run_job(db.session, job.id, settings) is None


def test_bad_evaluation_parameters_are_refused(app, admin_id):
    for folds, ks in ((0, [5]), (11, [5]), (5, []), (5, [0]), (5, [1] * 9)):
        with pytest.raises(jobs.InvalidInput):
            jobs.create_evaluation_job(
                db.session,
                folds=folds,
                ks=ks,
                admin_id=admin_id,
                backend="thread",
                stale_after=STALE,
            )
    assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 0


def _ratings(app, users: int = 12, movies: int = 15) -> None:
    scale = app_settings(app).rating_scale
    hash_method = app_settings(app).password_hash_method
    films = [make_movie(f"Film {i}", 1980 + i, ("Drama",), imdb_rating=6.0) for i in range(movies)]
    for u in range(users):
        user = accounts.create_user(db.session, f"rater{u}", "pw-pw-pw-pw", hash_method=hash_method)
        for i, film in enumerate(films):
            if (u + i) % 3:
                rate_movie(db.session, user.id, film.id, 0.5 + ((u * 7 + i * 3) % 10) / 2, scale)


def test_an_evaluation_job_stores_its_result(app, admin_id):
    _ratings(app)
    job = jobs.create_evaluation_job(
        db.session, folds=2, ks=[3, 2], admin_id=admin_id, backend="thread", stale_after=STALE
    )
    assert job.params == {"folds": 2, "ks": [2, 3]}
    with pytest.raises(jobs.EvaluationBusy, match=f"job {job.id}, started by admin 'root'"):
        jobs.create_evaluation_job(
            db.session, folds=2, ks=[3], admin_id=admin_id, backend="thread", stale_after=STALE
        )
    runners.submit_thread(app, job.id).result(timeout=120)
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "succeeded", view["message"]
    stored = db.session.get(Evaluation, view["evaluation_id"])
    assert stored.source == "admin" and stored.admin_id == admin_id and stored.folds == 2
    assert [row["k"] for row in stored.curve] == [2, 3] and stored.best_k in (2, 3)
    assert 0 < stored.rmse < 5 and 0 < stored.mae <= stored.rmse
    assert set(stored.top_n) >= {"precision", "recall", "ndcg", "map"}
    assert view["message"].startswith(f"Evaluated {stored.ratings:,} ratings: RMSE")


def test_an_evaluation_without_ratings_fails_saying_so(app, admin_id):
    job = jobs.create_evaluation_job(
        db.session, folds=2, ks=[3], admin_id=admin_id, backend="thread", stale_after=STALE
    )
    runners.submit_thread(app, job.id).result(timeout=60)
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "failed" and "holds no ratings yet" in view["message"]


# --------------------------------------------------------------------------------------------
# RQ over a real Redis
# --------------------------------------------------------------------------------------------


@pytest.fixture
def queue_redis(app):
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        connection.ping()
    except redis.RedisError as error:
        from tests.conftest import unavailable  # noqa: PLC0415

        unavailable(f"Redis at {REDIS_TEST_URL} is unreachable: {error}")
    connection.flushdb()
    change_settings(app, redis_url=REDIS_TEST_URL)
    yield connection
    connection.flushdb()
    connection.close()


def test_without_redis_url_or_a_worker_jobs_run_in_threads(app, queue_redis):
    from rq import SimpleWorker  # noqa: PLC0415

    assert runners.backend_for(app) == jobs.THREAD  # REDIS_URL set, nobody listening
    worker = SimpleWorker([runners.rq_queue(queue_redis)], connection=queue_redis)
    worker.register_birth()
    try:
        assert runners.backend_for(app) == jobs.RQ
    finally:
        worker.register_death()
    change_settings(app, redis_url=None)
    assert runners.backend_for(app) == jobs.THREAD


def test_an_rq_worker_runs_the_import_job(app, admin_id, queue_redis):
    from rq import SimpleWorker  # noqa: PLC0415

    job = import_job(admin_id, latest_zip(), backend=jobs.RQ)
    job_id = job.id
    assert job.pid is None  # Not this process's: the worker's, once it starts it.
    runners.dispatch(app, job_id, jobs.RQ)
    assert jobs.job_view(db.session, job_id, STALE)["status"] == "queued"
    worker = SimpleWorker([runners.rq_queue(queue_redis)], connection=queue_redis)
    assert worker.work(burst=True)
    view = jobs.job_view(db.session, job_id, STALE)
    assert view["status"] == "succeeded", view["message"]
    assert view["backend"] == "rq" and view["run"]["counts"]["ratings_inserted"] == 7


def test_an_unreachable_redis_falls_back_to_a_thread(app, admin_id):
    change_settings(app, redis_url="redis://127.0.0.1:1/0")  # Nothing listens there.
    assert runners.backend_for(app) == jobs.THREAD
    job = import_job(admin_id, latest_zip(), backend=jobs.RQ)
    runners.dispatch(app, job.id, jobs.RQ)
    runners.wait_for_thread_jobs()
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["backend"] == "thread" and view["status"] == "succeeded", view["message"]


def test_an_rq_job_no_worker_takes_is_failed_after_the_queue_ttl(app, admin_id):
    job = import_job(admin_id, latest_zip(), backend=jobs.RQ)
    old = dt.datetime.now(dt.UTC) - jobs.QUEUED_TTL - dt.timedelta(minutes=1)
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(created_at=old))
    db.session.commit()
    view = jobs.job_view(db.session, job.id, STALE)
    assert view["status"] == "failed" and "recommender worker" in view["message"]
