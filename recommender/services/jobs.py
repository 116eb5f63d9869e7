"""Background jobs of the admin page: a dataset import or an evaluation, one ``jobs`` row each.

The page creates the row (and, for an import, stores the upload beside it) and returns at once;
a runner (``recommender/jobs.py``: a worker thread of the web process, or ``recommender
worker`` over RQ) calls :func:`run_job`, which does the work with the same importer or
evaluation the API and the command line use, and writes how far it has got and how it ended
on the row. The page polls :func:`job_view`.

One at a time: at most one active (queued or running) job of each kind, kept by a partial
unique index, and no import job while another import runs (the import lock of
``importers.runs``; a CLI or API import counts too): a refused start is
:class:`~recommender.importers.runs.ImportBusy` (409) naming the running one. A job whose
process is gone (kill -9, a restart) is failed the next time anyone looks (:func:`sweep`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.engine.scale import RatingScale
from recommender.importers.catalogue import import_catalogue
from recommender.importers.movielens.importer import import_movielens
from recommender.importers.runs import (
    ImportBusy,
    error_message,
    process_alive,
    running_import_refusal,
)
from recommender.models import (
    ACTIVE_JOB_STATUSES,
    ImportRun,
    Job,
    JobStatus,
    JobUpload,
    User,
    utcnow,
)
from recommender.services import evaluation
from recommender.services.errors import Conflict, DomainError, InvalidInput, NotFound

log = logging.getLogger(__name__)

IMPORT, EVALUATE = "import", "evaluate"
IMPORT_KINDS = ("movielens", "catalogue")
THREAD, RQ = "thread", "rq"
# An RQ job no worker has taken this long is failed (and RQ drops it: the enqueue's ttl).
QUEUED_TTL = dt.timedelta(hours=1)
# Progress is written at most this often (seconds): each write is a transaction.
PROGRESS_EVERY = 0.5
# On SQLite a progress write waits at most this long for the write lock (ms): a catalogue
# import holds it for its whole transaction, and the import must not wait on its own progress.
PROGRESS_BUSY_MS = 50
MAX_MESSAGE = 4000
DEFAULT_KS = (5, 10, 20, 40)


class EvaluationBusy(Conflict):
    """An evaluation is queued or running already; ``details["running"]`` names it."""

    code = "evaluation_running"


@dataclass(frozen=True)
class JobSettings:
    """The settings a job reads, passed in as plain values (services never read the app)."""

    scale: RatingScale
    max_catalogue_movies: int
    stale_after: dt.timedelta
    sqlite_busy_timeout_ms: int


def _aware(stamp: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    if stamp is None or stamp.tzinfo is not None:
        return stamp
    return stamp.replace(tzinfo=dt.UTC)


def _host() -> str:
    return socket.gethostname()[:255]


# --------------------------------------------------------------------------------------------
# Liveness
# --------------------------------------------------------------------------------------------


def _why_dead(
    job: Job, now: dt.datetime, stale_after: dt.timedelta, is_alive: Callable[[int], bool]
) -> str | None:
    if job.pid is not None and job.hostname == _host() and not is_alive(job.pid):
        return f"interrupted: process {job.pid} no longer running"
    created = _aware(job.created_at) or now
    if job.status == JobStatus.QUEUED and job.backend == RQ and now - created > QUEUED_TTL:
        return "no worker took it within an hour: is `recommender worker` running?"
    if now - (_aware(job.started_at) or created) > stale_after:
        hours = stale_after.total_seconds() / 3600
        return f"interrupted: still running after {hours:g} hours (IMPORT_STALE_HOURS)"
    return None


def sweep(
    session: Session, stale_after: dt.timedelta, is_alive: Callable[[int], bool] = process_alive
) -> list[int]:
    """Fail the active jobs whose process is gone or that are too old; return their ids.

    Like ``importers.runs.fail_interrupted_runs``: a process of this host that no longer runs,
    an RQ job no worker took within ``QUEUED_TTL``, or anything older than ``stale_after``.
    """
    now = utcnow()
    failed = []
    for job in session.scalars(sa.select(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES))):
        if (why := _why_dead(job, now, stale_after, is_alive)) is not None:
            job.status, job.message, job.finished_at = JobStatus.FAILED.value, why, now
            session.execute(sa.delete(JobUpload).where(JobUpload.job_id == job.id))
            failed.append(job.id)
            log.warning("job %s marked failed: %s", job.id, why)
    if failed:
        session.commit()
    return failed


# --------------------------------------------------------------------------------------------
# Starting a job
# --------------------------------------------------------------------------------------------


def _since(stamp: dt.datetime | None) -> str:
    return (_aware(stamp) or utcnow()).isoformat(timespec="seconds")


def _username(session: Session, user_id: int | None) -> str | None:
    return None if user_id is None else session.get(User, user_id).username  # type: ignore[union-attr]


def _import_busy(session: Session) -> ImportBusy | None:
    """The refusal naming the running import (a run, else an active import job), or None."""
    if (busy := running_import_refusal(session)) is not None:
        return busy
    job = session.scalars(
        sa.select(Job).where(Job.kind == IMPORT, Job.status.in_(ACTIVE_JOB_STATUSES))
    ).first()
    if job is None:
        return None
    admin = _username(session, job.admin_id)
    kind = job.params.get("import_kind", "")
    what = f"job {job.id} ({kind} {job.filename!r}, started by admin {admin!r} at "
    what += f"{_since(job.created_at)}, {job.status})"
    running = {"job_id": job.id, "kind": kind, "filename": job.filename, "admin": admin}
    message = (
        f"Another import is running: {what}; one import runs at a time, try again when it "
        "has finished"
    )
    return ImportBusy(message, {"running": running})


def _evaluation_busy(session: Session) -> EvaluationBusy | None:
    job = session.scalars(
        sa.select(Job).where(Job.kind == EVALUATE, Job.status.in_(ACTIVE_JOB_STATUSES))
    ).first()
    if job is None:
        return None
    admin = _username(session, job.admin_id)
    message = (
        f"An evaluation is running already: job {job.id}, started by admin {admin!r} at "
        f"{_since(job.created_at)}; its result appears here when it has finished"
    )
    return EvaluationBusy(message, {"running": {"job_id": job.id, "admin": admin}})


def _insert(session: Session, job: Job, upload: bytes | None, busy: Callable[[], DomainError]):
    """Insert ``job`` (and its upload) and commit; the partial unique index refuses a second
    active job of its kind even when two starts race past the checks."""
    if job.backend == THREAD:
        # The web process that will run it: if it dies first, the job is known dead.
        job.pid, job.hostname = os.getpid(), _host()
    session.add(job)
    try:
        session.flush()
        if upload is not None:
            session.add(JobUpload(job_id=job.id, data=upload))
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise busy() from None
    return job


def create_import_job(
    session: Session,
    *,
    import_kind: str,
    filename: str,
    data: bytes,
    admin_id: int,
    backend: str,
    stale_after: dt.timedelta,
) -> Job:
    """Queue an import of ``data`` (a MovieLens zip or a catalogue file); refuse it with
    :class:`ImportBusy` while another import is running or queued, writing nothing."""
    if import_kind not in IMPORT_KINDS:
        raise InvalidInput(
            f"Unknown kind {import_kind!r}: choose one of {', '.join(IMPORT_KINDS)}",
            {"kind": import_kind},
        )
    if not data:
        raise InvalidInput(f"{filename} is empty", {"file": filename})
    sweep(session, stale_after)
    if (busy := _import_busy(session)) is not None:
        raise busy
    job = Job(
        kind=IMPORT,
        status=JobStatus.QUEUED.value,
        params={"import_kind": import_kind},
        filename=filename[:500],
        admin_id=admin_id,
        backend=backend,
    )
    return _insert(session, job, data, lambda: _import_busy(session) or ImportBusy(BUSY_RACE))


BUSY_RACE = "Another import was started at the same moment; try again when it has finished"


def create_evaluation_job(
    session: Session,
    *,
    folds: int,
    ks: list[int],
    admin_id: int,
    backend: str,
    stale_after: dt.timedelta,
) -> Job:
    """Queue an evaluation of the database's ratings; one at a time (:class:`EvaluationBusy`)."""
    if not 1 <= folds <= 10:
        raise InvalidInput("folds must be a whole number from 1 to 10", {"folds": folds})
    if not ks or any(not 1 <= k <= 200 for k in ks) or len(ks) > 8:
        raise InvalidInput("k values must be 1 to 8 whole numbers from 1 to 200", {"ks": ks})
    sweep(session, stale_after)
    if (busy := _evaluation_busy(session)) is not None:
        raise busy
    job = Job(
        kind=EVALUATE,
        status=JobStatus.QUEUED.value,
        params={"folds": folds, "ks": sorted(set(ks))},
        admin_id=admin_id,
        backend=backend,
    )
    return _insert(
        session,
        job,
        None,
        lambda: _evaluation_busy(session) or EvaluationBusy("An evaluation is running already"),
    )


def set_backend(session: Session, job_id: int, backend: str) -> None:
    """Record that the job will run elsewhere than planned (RQ unreachable: a thread)."""
    job = session.get(Job, job_id)
    if job is not None:
        job.backend = backend
        job.pid, job.hostname = (os.getpid(), _host()) if backend == THREAD else (None, None)
        session.commit()


# --------------------------------------------------------------------------------------------
# Running a job
# --------------------------------------------------------------------------------------------


class _Progress:
    """``progress(done, total)`` for the importer or the evaluation: writes the job's row at
    most every ``PROGRESS_EVERY`` seconds, on a connection of its own (the task's session is
    inside its transaction), never waiting long for SQLite's write lock."""

    def __init__(self, session: Session, job_id: int, busy_timeout_ms: int) -> None:
        self.engine = session.get_bind()
        self.job_id, self.busy_timeout_ms = job_id, busy_timeout_ms
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and done < total:
            return
        self.last = now
        sqlite = self.engine.dialect.name == "sqlite"
        update = (
            sa.update(Job)
            .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING.value)
            .values(progress_done=done, progress_total=total)
        )
        with self.engine.connect() as connection:
            try:
                if sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {PROGRESS_BUSY_MS}")
                connection.execute(update)
                connection.commit()
            except sa.exc.OperationalError:
                # Locked: this one is skipped, the next one (or the end) says more.
                connection.rollback()
            finally:
                if sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")


def _claim(session: Session, job_id: int) -> Job | None:
    """Mark the job running in this process, unless it is no longer queued (failed by a
    sweep, or taken by another worker): then None."""
    claimed = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value, pid=os.getpid(), hostname=_host(), started_at=utcnow()
        )
    ).rowcount
    session.commit()
    return session.get(Job, job_id) if claimed else None


def _finish(session: Session, job_id: int, status: JobStatus, message: str, **values: Any) -> None:
    session.rollback()
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(status=status.value, message=message[:MAX_MESSAGE], finished_at=utcnow(), **values)
    )
    session.execute(sa.delete(JobUpload).where(JobUpload.job_id == job_id))
    session.commit()


def _own_run(session: Session, job: Job, kind: str, before: int) -> int | None:
    """The import run this job's import made: the importer names it only in its report."""
    return session.scalar(
        sa.select(ImportRun.id)
        .where(
            ImportRun.id > before,
            ImportRun.kind == kind,
            ImportRun.filename == job.filename,
            ImportRun.admin_id == job.admin_id,
            ImportRun.pid == os.getpid(),
            ImportRun.hostname == _host(),
        )
        .order_by(ImportRun.id.desc())
        .limit(1)
    )


def _run_import(session: Session, job: Job, settings: JobSettings, progress: _Progress) -> None:
    upload = session.get(JobUpload, job.id)
    if upload is None:
        raise InvalidInput("The uploaded file is gone (the job ended before it started)")
    data, kind, name = upload.data, job.params["import_kind"], job.filename or "upload"
    session.expunge(upload)  # Not kept in the import's session (and its memory) any longer.
    before = session.scalar(sa.select(sa.func.max(ImportRun.id))) or 0
    session.commit()
    try:
        if kind == "movielens":
            report: Any = import_movielens(
                session,
                io.BytesIO(data),
                scale=settings.scale,
                filename=name,
                admin_id=job.admin_id,
                progress=progress,
                max_movies=settings.max_catalogue_movies,
            )
        else:
            report = import_catalogue(
                session,
                io.BytesIO(data),
                filename=name,
                admin_id=job.admin_id,
                progress=progress,
                max_movies=settings.max_catalogue_movies,
            )
    except Exception as error:
        session.rollback()
        run_id = _own_run(session, job, kind, before)
        message = error.message if isinstance(error, DomainError) else error_message(error)
        _finish(session, job.id, JobStatus.FAILED, message, import_run_id=run_id)
        if not isinstance(error, DomainError):
            log.exception("import job %s failed", job.id)
        return
    _finish(
        session,
        job.id,
        JobStatus.SUCCEEDED,
        report.summary(),
        import_run_id=report.run_id,
        progress_done=progress_total_of(job, session),
    )


def progress_total_of(job: Job, session: Session) -> int | None:
    """At the end the job is done: progress_done = progress_total (when it was known)."""
    return session.scalar(sa.select(Job.progress_total).where(Job.id == job.id))


def _run_evaluation(session: Session, job: Job, settings: JobSettings, progress: _Progress) -> None:
    try:
        evaluation_id = evaluation.evaluate_database(
            session,
            settings.scale,
            ks=list(job.params.get("ks") or DEFAULT_KS),
            folds=int(job.params.get("folds", 5)),
            admin_id=job.admin_id,
            progress=progress,
        )
    except evaluation.NoRatings:
        message = "The database holds no ratings yet: import a dataset first."
        _finish(session, job.id, JobStatus.FAILED, message)
        return
    stored = evaluation.latest_evaluation(session)
    best = f"RMSE {stored['rmse']:.3f}, best k {stored['best_k']}" if stored else ""
    _finish(
        session,
        job.id,
        JobStatus.SUCCEEDED,
        f"Evaluated {stored['ratings'] if stored else 0:,} ratings: {best}",
        evaluation_id=evaluation_id,
        progress_done=progress_total_of(job, session),
    )


def run_job(session: Session, job_id: int, settings: JobSettings) -> str | None:
    """Run queued job ``job_id`` to its end and return its final status (None when it was not
    queued any more: a sweep failed it, or another worker has it). Never raises for the
    task's own failures: they are written on the job (and the import's run)."""
    job = _claim(session, job_id)
    if job is None:
        return None
    progress = _Progress(session, job_id, settings.sqlite_busy_timeout_ms)
    try:
        if job.kind == IMPORT:
            _run_import(session, job, settings, progress)
        else:
            _run_evaluation(session, job, settings, progress)
    except Exception as error:
        log.exception("job %s failed", job_id)
        message = error.message if isinstance(error, DomainError) else error_message(error)
        _finish(session, job_id, JobStatus.FAILED, message)
    return session.scalar(sa.select(Job.status).where(Job.id == job_id))


# --------------------------------------------------------------------------------------------
# What the page shows
# --------------------------------------------------------------------------------------------


def _seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    started, finished = _aware(started), _aware(finished)
    if started is None:
        return None
    return ((finished or utcnow()) - started).total_seconds()


def job_view(session: Session, job_id: int, stale_after: dt.timedelta) -> dict[str, Any]:
    """One job as the page shows it: status, progress, outcome, its import run or evaluation."""
    sweep(session, stale_after)
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist", {"job_id": job_id})
    session.refresh(job)
    run = session.get(ImportRun, job.import_run_id) if job.import_run_id else None
    done, total = job.progress_done, job.progress_total
    percent = None
    if total:
        percent = min(100, round(100 * (done or 0) / total))
    return {
        "id": job.id,
        "kind": job.kind,
        "import_kind": job.params.get("import_kind"),
        "params": job.params,
        "status": job.status,
        "active": job.status in ACTIVE_JOB_STATUSES,
        "filename": job.filename,
        "admin": _username(session, job.admin_id),
        "backend": job.backend,
        "created_at": _aware(job.created_at),
        "started_at": _aware(job.started_at),
        "finished_at": _aware(job.finished_at),
        "seconds": _seconds(job.started_at, job.finished_at),
        "progress_done": done,
        "progress_total": total,
        "percent": percent,
        "message": job.message,
        "evaluation_id": job.evaluation_id,
        "run": None
        if run is None
        else {
            "id": run.id,
            "status": run.status.value,
            "counts": run.counts or {},
            "errors": run.errors or [],
            "notes": run.notes or [],
        },
    }


def active_job(session: Session, kind: str, stale_after: dt.timedelta) -> dict[str, Any] | None:
    """The queued or running job of ``kind``, as :func:`job_view` shows it, or None."""
    sweep(session, stale_after)
    job_id = session.scalar(
        sa.select(Job.id).where(Job.kind == kind, Job.status.in_(ACTIVE_JOB_STATUSES))
    )
    return None if job_id is None else job_view(session, job_id, stale_after)


def last_job(session: Session, kind: str, stale_after: dt.timedelta) -> dict[str, Any] | None:
    """The newest job of ``kind`` (any status), or None."""
    job_id = session.scalar(
        sa.select(Job.id).where(Job.kind == kind).order_by(Job.id.desc()).limit(1)
    )
    return None if job_id is None else job_view(session, job_id, stale_after)
