"""Who runs the admin page's background jobs (``services/jobs.py`` does the work).

- **RQ over Redis** when ``REDIS_URL`` is set and a ``recommender worker`` listens on the
  queue: the job id is enqueued and the worker (another process, maybe another machine; the
  upload travels in the database) calls :func:`perform`.
- **A worker thread of the web process** otherwise (the embedded default, and the fallback
  when Redis cannot be reached or no worker is registered): two threads per process, made
  after gunicorn forks.

Either way the request that started the job has returned already; the page polls the job's row.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

import redis
from flask import Flask, current_app, has_app_context

from recommender.extensions import db
from recommender.services import jobs
from recommender.settings import Settings, app_settings

log = logging.getLogger(__name__)

QUEUE = "recommender"
# Long enough for a large import or evaluation; a job past it is stopped by RQ and failed.
JOB_TIMEOUT_SECONDS = 24 * 3600
# How long the web side waits for Redis before running the job in a thread instead.
REDIS_TIMEOUT_SECONDS = 1.0

_lock = threading.Lock()
_executor: tuple[int, ThreadPoolExecutor] | None = None
_futures: set[Future[None]] = set()


def job_settings(settings: Settings) -> jobs.JobSettings:
    return jobs.JobSettings(
        scale=settings.rating_scale,
        max_catalogue_movies=settings.max_catalogue_movies,
        stale_after=dt.timedelta(hours=settings.import_stale_hours),
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )


# --------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------


def _thread_executor() -> ThreadPoolExecutor:
    """This process's executor, made on first use: a gunicorn worker forked from the master
    must not inherit the master's (its threads do not survive a fork)."""
    global _executor
    with _lock:
        if _executor is None or _executor[0] != os.getpid():
            pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="recommender-job")
            _executor = (os.getpid(), pool)
        return _executor[1]


def _run_in_app(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            jobs.run_job(db.session, job_id, job_settings(app_settings(app)))
        except Exception:
            log.exception("job %s could not be run", job_id)
        finally:
            db.session.remove()


def submit_thread(app: Flask, job_id: int) -> Future[None]:
    """Run job ``job_id`` in a worker thread of this process."""
    future = _thread_executor().submit(_run_in_app, app, job_id)
    with _lock:
        _futures.add(future)
    future.add_done_callback(lambda done: _futures.discard(done))
    return future


def wait_for_thread_jobs(timeout: float = 60.0) -> None:
    """Wait until this process's job threads are idle (tests; a clean shutdown)."""
    with _lock:
        pending = list(_futures)
    wait_futures(pending, timeout=timeout)


# --------------------------------------------------------------------------------------------
# RQ
# --------------------------------------------------------------------------------------------


def redis_connection(url: str, *, worker: bool = False) -> redis.Redis:
    """A client for ``url``: the web side's gives up quickly, a worker's blocks on the queue."""
    if worker:
        return redis.Redis.from_url(url)
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def rq_queue(connection: redis.Redis):  # -> rq.Queue
    # Imported here: only a configured REDIS_URL needs RQ loaded.
    from rq import Queue  # noqa: PLC0415

    return Queue(QUEUE, connection=connection)


def workers_listening(connection: redis.Redis) -> int:
    """How many RQ workers are registered on our queue (0 when Redis cannot be reached)."""
    from rq import Worker  # noqa: PLC0415

    try:
        return Worker.count(connection=connection, queue=rq_queue(connection))
    except redis.RedisError as error:
        log.warning("REDIS_URL is set but Redis cannot be reached (%s): jobs run in threads", error)
        return 0


def enqueue(connection: redis.Redis, job_id: int) -> None:
    """Put job ``job_id`` on the queue for ``recommender worker``."""
    rq_queue(connection).enqueue(
        "recommender.jobs.perform",
        job_id,
        job_timeout=JOB_TIMEOUT_SECONDS,
        ttl=int(jobs.QUEUED_TTL.total_seconds()),
        result_ttl=0,
        failure_ttl=7 * 86400,
        description=f"recommender job {job_id}",
    )


def perform(job_id: int) -> str | None:
    """What an RQ worker runs: job ``job_id`` with the worker's app (the one ``recommender
    worker`` built, or a new one from the environment)."""
    # Imported here: recommender.app imports this module (through the CLI).
    from recommender.app import create_app  # noqa: PLC0415

    if has_app_context():  # The worker's own app (a forked horse inherits its context).
        return _perform_here(job_id)
    with create_app().app_context():
        return _perform_here(job_id)


def _perform_here(job_id: int) -> str | None:
    try:
        return jobs.run_job(db.session, job_id, job_settings(app_settings(current_app)))
    finally:
        db.session.remove()


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    """Serve the queue until stopped (``burst``: until it is empty); what `recommender worker`
    runs. Each job runs in a forked work horse: the parent drops its database connections
    first, so that no horse shares one with it."""
    from rq import Worker  # noqa: PLC0415

    url = app_settings(app).redis_url
    if not url:
        raise RuntimeError("REDIS_URL is not set: there is no queue to serve")
    connection = redis_connection(url, worker=True)
    db.engine.dispose()
    worker = Worker([rq_queue(connection)], connection=connection)
    return worker.work(burst=burst, with_scheduler=False)


# --------------------------------------------------------------------------------------------
# Choosing
# --------------------------------------------------------------------------------------------


def backend_for(app: Flask) -> str:
    """RQ when REDIS_URL is set and a worker listens, else a thread of this process."""
    url = app_settings(app).redis_url
    if url and workers_listening(redis_connection(url)) > 0:
        return jobs.RQ
    if url:
        log.warning("REDIS_URL is set but no `recommender worker` listens: jobs run in threads")
    return jobs.THREAD


def dispatch(app: Flask, job_id: int, backend: str) -> None:
    """Hand the committed job to its runner; RQ failing at this point falls back to a thread."""
    if backend == jobs.RQ:
        try:
            enqueue(redis_connection(app_settings(app).redis_url or ""), job_id)
            return
        except redis.RedisError as error:
            log.warning("could not enqueue job %s (%s): running it in a thread", job_id, error)
            jobs.set_backend(db.session, job_id, jobs.THREAD)
    submit_thread(app, job_id)
