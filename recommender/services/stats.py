"""Read-only reports for administrators: site counts, the rating histogram, import runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.engine.scale import RatingScale
from recommender.models import ImportRun, Movie, Rating, User
from recommender.services.errors import NotFound


def scale_steps(scale: RatingScale) -> list[float]:
    """Return every value on ``scale``, lowest first."""
    count = round((scale.maximum - scale.minimum) / scale.step) + 1
    # Rounded so 0.1-style steps give 0.3, not 0.30000000000000004.
    return [round(scale.minimum + i * scale.step, 9) for i in range(count)]


def site_stats(session: Session, scale: RatingScale) -> dict[str, Any]:
    """Count users, movies and ratings, and how many ratings fall on each step of ``scale``."""
    counts = {value: 0 for value in scale_steps(scale)}
    for value, count in session.execute(
        sa.select(Rating.rating, sa.func.count()).group_by(Rating.rating)
    ):
        # Ratings given under an older scale have no bin here but still count in the total.
        key = round(value, 9)
        if key in counts:
            counts[key] += count
    return {
        "users": session.scalar(sa.select(sa.func.count(User.id))) or 0,
        "movies": session.scalar(sa.select(sa.func.count(Movie.id))) or 0,
        "ratings": session.scalar(sa.select(sa.func.count()).select_from(Rating)) or 0,
        "rating_histogram": [{"rating": value, "count": n} for value, n in counts.items()],
    }


def get_import_run(session: Session, run_id: int) -> dict[str, Any]:
    """Return one import run's status and report, or raise :class:`NotFound`."""
    run = session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"Import run {run_id} does not exist", {"run_id": run_id})
    return {
        "id": run.id,
        "kind": run.kind,
        "filename": run.filename,
        "status": run.status,
        "counts": run.counts,
        "errors": run.errors,
        "notes": run.notes,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "admin_id": run.admin_id,
    }


# The counts a list of runs shows for each kind, in this order (the others are on the run).
RUN_COUNTS = {
    "movielens": (
        "ratings_inserted",
        "ratings_updated",
        "movies_inserted",
        "movies_matched_catalogue",
        "users_inserted",
    ),
    "catalogue": ("inserted", "updated", "unchanged", "skipped"),
}


def _aware(stamp: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    return stamp.replace(tzinfo=dt.UTC) if stamp is not None and stamp.tzinfo is None else stamp


def list_import_runs(session: Session, page: int, per_page: int) -> dict[str, Any]:
    """A page of import runs, newest first: status, kind, file, the main counts, who started
    them (None: the command line), when, and how long they took (None while running)."""
    total = session.scalar(sa.select(sa.func.count(ImportRun.id))) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.execute(
        sa.select(ImportRun, User.username)
        .outerjoin(User, User.id == ImportRun.admin_id)
        .order_by(ImportRun.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    items = []
    for run, admin in rows:
        started, finished = _aware(run.started_at), _aware(run.finished_at)
        counts = run.counts or {}
        shown = RUN_COUNTS.get(run.kind, tuple(counts)[:4])
        items.append(
            {
                "id": run.id,
                "status": run.status.value,
                "kind": run.kind,
                "filename": run.filename,
                "counts": {name: counts[name] for name in shown if name in counts},
                "problems": len(run.errors or []),
                "admin": admin,
                "started_at": started,
                "seconds": (finished - started).total_seconds() if started and finished else None,
            }
        )
    return {"items": items, "page": page, "pages": pages, "per_page": per_page, "total": total}
