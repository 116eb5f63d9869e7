"""SQLAlchemy 2.0 typed models: the tables of DESIGN §9."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy import text as sa_text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from recommender.extensions import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


movie_genres = Table(
    "movie_genres",
    db.metadata,
    Column("movie_id", ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def username_key(username: str) -> str:
    """The form two usernames are compared in: NFKC, case folded, NFKC again (Unicode's
    caseless identifier match), so "Alice", "alice" and a fullwidth "Alice" are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def _username_key_default(context: DefaultExecutionContext) -> str:
    # Any insert through SQLAlchemy (ORM or Core executemany) fills the key from the username
    # it writes; the NOT NULL column refuses a path that writes neither.
    return username_key(context.get_current_parameters()["username"])


class User(db.Model):
    __tablename__ = "users"
    # A dataset's own user id, so a re-import finds the user it created before.
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Displayed as the user typed it; unique regardless of case and Unicode form by its key.
    username: Mapped[str] = mapped_column(String(80), unique=True)
    username_key: Mapped[str] = mapped_column(
        String(255), unique=True, default=_username_key_default
    )
    # NULL for users imported from rating datasets: they cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Bumped on every rating change; part of the prediction cache key.
    ratings_version: Mapped[int] = mapped_column(default=0)
    # Part of every browser session's user id (recommender/web/auth.py): bumping it on sign-out
    # or a password change makes every session and remember-me cookie issued before void.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # Bumped on every change to the user's "Not interested" or "Watch later" list; part of the
    # recommendations response cache key (the predictions entry does not depend on the lists).
    lists_version: Mapped[int] = mapped_column(default=0, server_default="0")
    source: Mapped[str] = mapped_column(String(40), default="local")
    # The user's id in ``source`` (a rating dataset); NULL for local accounts.
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ratings: Mapped[list[Rating]] = relationship(back_populates="user", passive_deletes=True)


class Genre(db.Model):
    """A genre; names are unique regardless of case ("Drama" and "drama" are one genre).

    The importers store the canonical names of ``recommender.importers.genres``; the index on
    lower(name) keeps any other name unique by case too, on SQLite and PostgreSQL alike, and
    serves the case-insensitive genre filter.
    """

    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


Index("uq_genres_lower_name", func.lower(Genre.name), unique=True)


class Movie(db.Model):
    __tablename__ = "movies"
    # Remakes share a title; the year tells them apart.
    __table_args__ = (
        UniqueConstraint("title", "year"),
        CheckConstraint("imdb_rating IS NULL OR (imdb_rating >= 0 AND imdb_rating <= 10)", "imdb"),
        CheckConstraint("rt_rating IS NULL OR (rt_rating >= 0 AND rt_rating <= 100)", "rt"),
        CheckConstraint("runtime_min IS NULL OR runtime_min > 0", "runtime"),
        CheckConstraint(
            "(budget IS NULL OR budget >= 0) AND (us_gross IS NULL OR us_gross >= 0)"
            " AND (worldwide_gross IS NULL OR worldwide_gross >= 0)"
            " AND (us_dvd_sales IS NULL OR us_dvd_sales >= 0)"
            " AND (imdb_votes IS NULL OR imdb_votes >= 0)",
            "non_negative",
        ),
        Index("ix_movies_year", "year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300), index=True)
    year: Mapped[int | None]
    release_date: Mapped[dt.date | None] = mapped_column(Date)
    runtime_min: Mapped[int | None]
    budget: Mapped[int | None] = mapped_column(BigInteger)
    us_gross: Mapped[int | None] = mapped_column(BigInteger)
    worldwide_gross: Mapped[int | None] = mapped_column(BigInteger)
    us_dvd_sales: Mapped[int | None] = mapped_column(BigInteger)
    mpaa: Mapped[str | None] = mapped_column(String(20))
    director: Mapped[str | None] = mapped_column(String(200))
    distributor: Mapped[str | None] = mapped_column(String(200))
    creative_type: Mapped[str | None] = mapped_column(String(60))
    source_material: Mapped[str | None] = mapped_column(String(60))
    imdb_rating: Mapped[float | None] = mapped_column(Float)
    imdb_votes: Mapped[int | None]
    rt_rating: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    genres: Mapped[list[Genre]] = relationship(secondary=movie_genres, order_by=Genre.name)


class MovieExternalId(db.Model):
    """A movie's id in a rating dataset, so a re-import finds the movie it matched before."""

    __tablename__ = "movie_external_ids"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)


class Rating(db.Model):
    __tablename__ = "ratings"
    # The configured scale is enforced by the ratings service; this is the last-resort guard
    # that holds for any scale the settings allow.
    __table_args__ = (
        CheckConstraint("rating > 0 AND rating <= 10", "rating_range"),
        Index("ix_ratings_movie_id", "movie_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[float] = mapped_column(Float)
    rated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="ratings")
    movie: Mapped[Movie] = relationship()


class HiddenMovie(db.Model):
    """A film the user marked "Not interested": left out of their recommendations and their
    onboarding set until they show it again."""

    __tablename__ = "hidden_movies"
    __table_args__ = (Index("ix_hidden_movies_movie_id", "movie_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    movie: Mapped[Movie] = relationship()


class WatchlistEntry(db.Model):
    """A film on the user's "Watch later" list (shown in the order added); left out of their
    recommendations, which already led them to it."""

    __tablename__ = "watchlist"
    __table_args__ = (Index("ix_watchlist_movie_id", "movie_id"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        ForeignKey("movies.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    movie: Mapped[Movie] = relationship()


class ImportStatus(enum.StrEnum):
    """Where an import run is: running -> succeeded | failed (the stored text is the value)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ImportRun(db.Model):
    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(500))
    # Stored as the plain text of migration 0001 (VARCHAR(20), no CHECK): no migration needed.
    status: Mapped[ImportStatus] = mapped_column(
        Enum(
            ImportStatus,
            native_enum=False,
            create_constraint=False,
            length=20,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=ImportStatus.RUNNING,
    )
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What a successful run skipped or corrected, with locations, for the admin to review.
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The process running the import: a run left "running" by a process that is gone (kill -9,
    # a crash) is marked failed at the next start (``importers.runs.fail_interrupted_runs``).
    pid: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(255))
    # What a SQLite import written in many short transactions has committed and not yet
    # finished (id ranges, links): a failed or interrupted run is undone from it
    # (``importers.pending``); None once the run succeeded or was undone.
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class FeatureSet(db.Model):
    """One version of the catalogue feature matrix and item baselines, shared by every worker.

    ``arrays`` holds ``.npz`` bytes (movie ids, matrix, item baselines, popularity).
    ``fingerprint`` names the catalogue and ratings state it was built from, so two workers
    building at once agree on one row; ``catalogue_key`` names the catalogue state alone.
    """

    __tablename__ = "feature_sets"

    version: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    catalogue_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    columns: Mapped[list[str]] = mapped_column(JSON)
    arrays: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Evaluation(db.Model):
    """A stored ``evaluate`` result (``recommender evaluate --store`` or the admin's button):
    the headline figures as columns, the curve over k and the whole report as JSON."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    # "command line" or "admin" (the button); admin_id says who pressed it.
    source: Mapped[str] = mapped_column(String(20))
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # "database" or the dataset's folder or file name.
    dataset: Mapped[str] = mapped_column(String(500))
    ratings: Mapped[int] = mapped_column(Integer)
    folds: Mapped[int] = mapped_column(Integer)
    best_k: Mapped[int] = mapped_column(Integer)
    rmse: Mapped[float] = mapped_column(Float)
    mae: Mapped[float] = mapped_column(Float)
    # The top-N metrics at the best k (precision, recall, ndcg, map, catalogue_coverage, ...).
    top_n: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One row per k: {k, rmse, mae, ndcg, ...} (the report's per_k table).
    curve: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seconds: Mapped[float] = mapped_column(Float)


class JobStatus(enum.StrEnum):
    """Where a background job is: queued -> running -> succeeded | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_ACTIVE_JOB = "status IN ('queued', 'running')"


class Job(db.Model):
    """A background job started from the admin page (services/jobs.py): an import or an
    evaluation, run by a worker thread of the web process or by ``recommender worker`` (RQ).

    At most one active (queued or running) job of each kind: a partial unique index, so two
    starts at once cannot both get in.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_one_active_kind",
            "kind",
            unique=True,
            sqlite_where=sa_text(_ACTIVE_JOB),
            postgresql_where=sa_text(_ACTIVE_JOB),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # import | evaluate
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    # What to do: {import_kind, ...} or {folds, ks, ...}.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filename: Mapped[str | None] = mapped_column(String(500))
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    import_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_runs.id", ondelete="SET NULL")
    )
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluations.id", ondelete="SET NULL")
    )
    # How far it has got, in the task's own unit (bytes of ratings read, movies, folds x k).
    progress_done: Mapped[int | None] = mapped_column(BigInteger)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    # The outcome in words: the import's summary, or why it failed when no run says so.
    message: Mapped[str | None] = mapped_column(String(4000))
    backend: Mapped[str] = mapped_column(String(10))  # thread | rq
    # The process that runs (thread: also queued) it, so a killed one is told from a live one.
    pid: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class JobUpload(db.Model):
    """The file an import job reads, kept in the database so that a worker on another machine
    can read it too; deleted when the job ends."""

    __tablename__ = "job_uploads"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
