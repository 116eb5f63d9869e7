"""The ``ImportRun`` bookkeeping every importer shares, and the lock that allows one import
at a time.

A run is committed as running (with the pid and host of its process) before the import's own
transaction, so even a crash leaves a trace; ``finish_run`` marks it succeeded in that
transaction, ``tracked_run`` marks it failed in a new one, with a short message (never the SQL
of a database error). ``fail_interrupted_runs`` is what every start runs: runs whose process
on this host is gone (kill -9), or that have run for too long, are failed, and what a failed
run committed in steps is undone (``pending``).

One import at a time (two at once raced on the same rows: the second failed on a unique key
after minutes of work): ``tracked_run`` claims the import lock, which the database holds, so it
works across processes and machines. PostgreSQL: a session-level advisory lock on a connection
of its own, held for the whole import and released by the server when that connection ends
(even a kill -9), so a "running" run whose lock is free is known dead. SQLite (one file, one
machine): the claim is the new running row itself, inserted and checked against the other
running rows under the file's write lock; a run whose process on this host is gone, or older
than ``stale_after``, does not count. A refused claim is :class:`ImportBusy` (409) naming the
running import, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy.orm import Session

from recommender.importers.pending import undo_pending, undo_stopped_runs
from recommender.models import ImportRun, ImportStatus, User, utcnow
from recommender.services.errors import Conflict, ImportRefused
from recommender.settings import current_settings

log = logging.getLogger(__name__)

# progress(done, total): how far an import has got, in the importer's own unit.
Progress = Callable[[int, int], None]

# The advisory lock key of "an import runs" on PostgreSQL (any fixed 64-bit number; this one
# spells "IMPORT" in ASCII), shared by every process and machine on the database.
IMPORT_LOCK_KEY = 0x494D504F5254
# A run "running" for longer than this does not hold the SQLite lock: the IMPORT_STALE_HOURS
# setting's default, used as it is only outside an app (a script calling an importer).
DEFAULT_STALE_AFTER = dt.timedelta(hours=24)
# The longest error message a failed run stores: enough for a reason, never a statement.
MAX_ERROR_MESSAGE = 300


class ImportBusy(Conflict):
    """Another import is running; ``details["running"]`` says which, by whom, since when."""

    code = "import_running"


def error_message(error: BaseException) -> str:
    """Return a short, SQL-free description of ``error`` for a failed run.

    A database error's text carries its statement and parameters (150,000 characters for a
    batch of ratings): only the driver's own first line is kept.
    """
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        cause = error.orig
        first_line = (str(cause).strip().splitlines() or [""])[0]
        text = f"database error {type(cause).__name__}: {first_line}"
    else:
        text = f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_MESSAGE:
        text = text[: MAX_ERROR_MESSAGE - 3] + "..."
    return text


def _undo_safely(session: Session, run_id: int) -> None:
    """Undo what run ``run_id`` committed in steps (``pending``); an undo that fails is left
    for the next start to finish, never masking the import's own error."""
    try:
        undo_pending(session, run_id)
    except Exception:
        session.rollback()
        log.exception("could not undo import run %s; the next start tries again", run_id)


def _mark_failed(session: Session, run_id: int, error: Exception) -> None:
    """Record ``error`` on the run in its own transaction, never masking ``error``."""
    if isinstance(error, ImportRefused) and isinstance(error.details, list):
        errors = error.details
    else:
        errors = [{"location": "import", "message": error_message(error)}]
    try:
        run = session.get(ImportRun, run_id)
        if run is not None:
            run.status, run.errors, run.finished_at = ImportStatus.FAILED, errors, utcnow()
        session.commit()
    except Exception:
        session.rollback()
        log.exception("could not mark import run %s as failed", run_id)


@contextmanager
def tracked_run(
    session: Session,
    kind: str,
    filename: str,
    admin_id: int | None,
    *,
    stale_after: dt.timedelta | None = None,
) -> Iterator[ImportRun]:
    """Claim the import lock, commit a new running ``ImportRun`` and yield it; on error roll
    back and mark it failed.

    Raises :class:`ImportBusy` at once, writing nothing, while another import runs. The run
    is committed first so even a crash leaves a trace; the body writes its data and calls
    ``finish_run`` in one transaction. Any error rolls that transaction back, records a short
    message on the run in its own transaction and is re-raised. ``stale_after`` (None: the
    app's ``IMPORT_STALE_HOURS``) is how long a running run on SQLite holds the lock.
    """
    if stale_after is None:
        stale_after = configured_stale_after()
    with ExitStack() as lock:
        if session.get_bind().dialect.name == "postgresql":
            lock.enter_context(_postgresql_lock(session))
        else:
            _refuse_if_running(session, None, stale_after)  # Quick, and without the write lock.
        run = ImportRun(
            kind=kind,
            filename=filename[:500],
            admin_id=admin_id,
            counts={},
            errors=[],
            pid=os.getpid(),
            hostname=socket.gethostname()[:255],
        )
        session.add(run)
        if session.get_bind().dialect.name != "postgresql":
            # The insert takes SQLite's write lock: of two claims at once, the second sees the
            # first's row here and is refused.
            session.flush()
            try:
                interrupted = _refuse_if_running(session, run.id, stale_after)
            except ImportBusy:
                session.rollback()
                raise
            for run_id, why in interrupted:
                _fail_running(session, why, run_id)
        # Committed on its own, before the import's transaction: a kill -9 rolls that
        # transaction back but leaves this "running" row, which the next start marks failed.
        session.commit()
        run_id = run.id
        if session.get_bind().dialect.name != "postgresql":
            undo_stopped_runs(session)  # What interrupted runs left, before anything is read.
        try:
            yield run
        except Exception as error:
            session.rollback()
            # Still "running" while undone: no other import starts on the rows meanwhile.
            _undo_safely(session, run_id)
            _mark_failed(session, run_id, error)
            raise


def configured_stale_after() -> dt.timedelta:
    """Return the app's IMPORT_STALE_HOURS, or DEFAULT_STALE_AFTER outside an app."""
    if not has_app_context():
        return DEFAULT_STALE_AFTER
    return dt.timedelta(hours=current_settings().import_stale_hours)


@contextmanager
def _postgresql_lock(session: Session) -> Iterator[None]:
    """Hold PostgreSQL's import advisory lock on a connection of its own, or raise ImportBusy.

    Whoever holds it is the one live import: any other run still "running" lost its process
    (the server frees the lock when a connection ends) and is marked failed.
    """
    engine = session.get_bind()
    with engine.connect() as connection:
        taken = connection.scalar(sa.select(sa.func.pg_try_advisory_lock(IMPORT_LOCK_KEY)))
        connection.commit()
        if not taken:
            raise _busy(session, None) from None
        try:
            _fail_running(session, "interrupted: its process no longer holds the import lock")
            session.commit()
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(IMPORT_LOCK_KEY)))
            connection.commit()


def _fail_running(session: Session, message: str, run_id: int | None = None) -> None:
    """Mark run ``run_id`` (None: every run) failed with ``message`` if still running."""
    outcome = session.execute(
        sa.update(ImportRun)
        .where(ImportRun.status == ImportStatus.RUNNING)
        .where(sa.true() if run_id is None else ImportRun.id == run_id)
        .values(
            status=ImportStatus.FAILED,
            finished_at=utcnow(),
            errors=[{"location": "import", "message": message}],
        )
    )
    if outcome.rowcount:
        log.warning(
            "import run %s marked failed: %s",
            "(any running)" if run_id is None else run_id,
            message,
        )


def _refuse_if_running(
    session: Session, own_id: int | None, stale_after: dt.timedelta
) -> list[tuple[int, str]]:
    """Raise :class:`ImportBusy` if a live run other than ``own_id`` is running (SQLite);
    return the (id, why) of the running runs that are not live."""
    host, now = socket.gethostname()[:255], utcnow()
    running = sa.select(ImportRun.id, ImportRun.pid, ImportRun.hostname, ImportRun.started_at)
    running = running.where(ImportRun.status == ImportStatus.RUNNING)
    if own_id is not None:
        running = running.where(ImportRun.id != own_id)
    interrupted = []
    for run_id, pid, run_host, started_at in session.execute(running.order_by(ImportRun.id)):
        started = started_at if started_at.tzinfo else started_at.replace(tzinfo=dt.UTC)
        if pid is not None and run_host == host and not process_alive(pid):
            interrupted.append((run_id, f"interrupted: process {pid} no longer running"))
        elif now - started > stale_after:
            hours = stale_after.total_seconds() / 3600
            why = f"interrupted: still running after {hours:g} hours (IMPORT_STALE_HOURS)"
            interrupted.append((run_id, why))
        else:
            raise _busy(session, run_id)
    return interrupted


def _runs_with_admin() -> sa.Select[Any]:
    return sa.select(ImportRun, User.username).outerjoin(User, User.id == ImportRun.admin_id)


def running_import_refusal(session: Session) -> ImportBusy | None:
    """The refusal naming the newest running import, or None when none is running."""
    found = session.execute(
        _runs_with_admin()
        .where(ImportRun.status == ImportStatus.RUNNING)
        .order_by(ImportRun.id.desc())
        .limit(1)
    ).first()
    return None if found is None else _refusal(*found)


def _busy(session: Session, run_id: int | None) -> ImportBusy:
    """Return the refusal naming run ``run_id`` (None: the newest running one)."""
    if run_id is None:
        busy = running_import_refusal(session)
    else:
        found = session.execute(_runs_with_admin().where(ImportRun.id == run_id)).first()
        busy = None if found is None else _refusal(*found)
    # None: the holder is between taking the lock and committing its run.
    return busy or ImportBusy("Another import is starting; try again when it has finished")


def _refusal(run: ImportRun, admin: str | None) -> ImportBusy:
    started = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=dt.UTC)
    since = started.isoformat(timespec="seconds")
    who = f"admin {admin!r}" if admin else "the command line"
    running = {
        "id": run.id,
        "kind": run.kind,
        "filename": run.filename,
        "admin": admin,
        "started_at": since,
        "hostname": run.hostname,
        "pid": run.pid,
    }
    message = (
        f"Another import is running: run {run.id} ({run.kind} {run.filename!r}, started by "
        f"{who} at {since} on {run.hostname} pid {run.pid}); one import runs at a time, try "
        "again when it has finished"
    )
    return ImportBusy(message, {"running": running})


def process_alive(pid: int) -> bool:
    """Return whether process ``pid`` of this host still runs (a zombie does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # Signal 0: only asks whether the process exists.
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's process: alive.
    try:
        # A killed child its parent has not reaped yet keeps its pid but runs nothing.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def fail_interrupted_runs(
    session: Session,
    stale_after: dt.timedelta,
    *,
    hostname: str | None = None,
    is_alive: Callable[[int], bool] = process_alive,
) -> list[int]:
    """Mark failed every run still "running" whose process is gone; return their ids.

    A run is interrupted when it was started on this host by a process that no longer runs
    (kill -9, a crash, a power cut), or, wherever it was started, longer than
    ``stale_after`` ago. A live import, here or on another host, is left alone.
    Commits ``session``.
    """
    host = socket.gethostname()[:255] if hostname is None else hostname
    now = utcnow()
    failed = []
    running = sa.select(ImportRun.id, ImportRun.pid, ImportRun.hostname, ImportRun.started_at)
    for run_id, pid, run_host, started_at in session.execute(
        running.where(ImportRun.status == ImportStatus.RUNNING)
    ).all():
        started = started_at if started_at.tzinfo else started_at.replace(tzinfo=dt.UTC)
        if pid is not None and run_host == host and not is_alive(pid):
            message = f"interrupted: process {pid} no longer running"
        elif now - started > stale_after:
            hours = stale_after.total_seconds() / 3600
            message = f"interrupted: still running after {hours:g} hours (IMPORT_STALE_HOURS)"
        else:
            continue
        # Only if still running: the run may have finished since it was read.
        outcome = session.execute(
            sa.update(ImportRun)
            .where(ImportRun.id == run_id, ImportRun.status == ImportStatus.RUNNING)
            .values(
                status=ImportStatus.FAILED,
                finished_at=now,
                errors=[{"location": "import", "message": message}],
            )
        )
        if outcome.rowcount:
            failed.append(run_id)
            log.warning("import run %s marked failed: %s", run_id, message)
    session.commit()
    undo_stopped_runs(session)
    return failed


def finish_run(
    session: Session, run: ImportRun, counts: dict[str, int], notes: list[dict[str, Any]]
) -> None:
    """Mark ``run`` succeeded with its counts and notes and commit the import's transaction,
    then refresh the planner's statistics."""
    run.status, run.counts = ImportStatus.SUCCEEDED, counts
    run.notes, run.finished_at = notes, utcnow()
    session.commit()
    _refresh_statistics(session)


def _refresh_statistics(session: Session) -> None:
    """``ANALYZE`` on PostgreSQL after an import, so the next queries are planned for the data.

    Until autovacuum gets to it, a bulk-loaded table has no statistics and the planner guesses
    a user's ratings at 125,000 rows: after a 25M import, fetching 71 ratings ran as a parallel
    bitmap scan with JIT, 36-69 ms instead of well under one. SQLite's planner has the primary
    key for those lookups and no such guess, and its ANALYZE reads whole tables: skipped there.
    The import is committed already; a failure here only costs that speed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        session.execute(sa.text("ANALYZE"))
        session.commit()
    except sa.exc.DBAPIError:
        session.rollback()
        log.warning("ANALYZE after an import failed; autovacuum will refresh the statistics")
