"""The ``ImportRun`` bookkeeping every importer shares.

A run is committed as running (with the pid and host of its process) before the import's own
transaction, so even a crash leaves a trace; ``finish_run`` marks it succeeded in that
transaction, ``tracked_run`` marks it failed in a new one. ``fail_interrupted_runs`` is what
every start runs: runs whose process on this host is gone (kill -9), or that have run for too
long, are failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.models import ImportRun, ImportStatus, utcnow
from recommender.services.errors import ImportRefused

log = logging.getLogger(__name__)

# progress(done, total): how far an import has got, in the importer's own unit.
Progress = Callable[[int, int], None]


def _mark_failed(session: Session, run_id: int, error: Exception) -> None:
    """Record ``error`` on the run in its own transaction, never masking ``error``."""
    if isinstance(error, ImportRefused) and isinstance(error.details, list):
        errors = error.details
    else:
        errors = [{"location": "import", "message": f"{type(error).__name__}: {error}"[:1000]}]
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
    session: Session, kind: str, filename: str, admin_id: int | None
) -> Iterator[ImportRun]:
    """Commit a new running ``ImportRun`` and yield it; on error roll back and mark it failed.

    The run is committed first so even a crash leaves a trace; the body writes its data and
    calls ``finish_run`` in one transaction. Any error rolls that transaction back, records
    the error on the run in its own transaction and is re-raised.
    """
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
    # Committed on its own, before the import's transaction: a kill -9 rolls that transaction
    # back but leaves this "running" row, which the next start marks failed.
    session.commit()
    run_id = run.id
    try:
        yield run
    except Exception as error:
        session.rollback()
        _mark_failed(session, run_id, error)
        raise


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
