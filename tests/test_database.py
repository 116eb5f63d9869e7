"""Migrations and database settings, on every backend under test."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from recommender.extensions import db
from recommender.models import Rating
from recommender.server import _forget_inherited_connections
from recommender.services.title_search import include_in_migrations
from recommender.settings import app_settings


def table_names() -> set[str]:
    """The tables the models declare and the database has (not the search index's own)."""
    names = sa.inspect(db.engine).get_table_names()
    return {name for name in names if include_in_migrations(name, "table", {})} - {
        "alembic_version"
    }


def test_migrations_downgrade_to_empty_and_upgrade_again(app):
    expected = {table.name for table in db.metadata.sorted_tables}
    assert table_names() == expected
    db.session.remove()
    downgrade(revision="base")
    assert table_names() == set()
    upgrade()
    assert table_names() == expected


def test_models_match_the_migrations(app):
    with db.engine.connect() as connection:
        options = {"compare_type": True, "include_name": include_in_migrations}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_busy_timeout_and_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        assert db.engine.dialect.name == "postgresql"
        return
    with db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == app_settings(app).sqlite_busy_timeout_ms
        assert pragma("foreign_keys") == 1


def test_foreign_keys_are_enforced(app):
    db.session.add(Rating(user_id=12345, movie_id=67890, rating=4.0))
    try:
        db.session.commit()
        enforced = False
    except sa.exc.IntegrityError:
        enforced = True
    db.session.rollback()
    assert enforced


def test_a_gunicorn_worker_drops_the_connections_it_inherited(app):
    db.session.execute(sa.text("SELECT 1"))
    db.session.remove()  # The connection is back in the pool, as after the master's start.
    inherited = db.engine.pool
    assert inherited.checkedin() >= 1

    _forget_inherited_connections(app)

    assert db.engine.pool is not inherited
    assert db.engine.pool.checkedin() == 0
    assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
    inherited.dispose()  # In a real worker the master owns these; here the test closes them.
