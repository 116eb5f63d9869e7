"""Extensions created unbound here and bound to an app in ``create_app``."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic's SQLite batch mode drop and recreate them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# Browser sessions and their CSRF protection; the API blueprints are exempt (bearer tokens only).
login_manager = LoginManager()
csrf = CSRFProtect()


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS for ``database_url``: survive a database restart.

    ``pool_pre_ping`` tests a pooled connection before handing it out and replaces it when the
    server has gone away (restarted, failed over), so the app recovers without a restart
    instead of failing once per dead pooled connection. PostgreSQL also gets a connect timeout:
    an unreachable host then costs a request 5 s and a 503, not the kernel's minutes.
    """
    options: dict[str, Any] = {"pool_pre_ping": True}
    if make_url(database_url).get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": 5}
    return options


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Turn on WAL, a busy timeout and foreign keys for every SQLite connection of ``engine``."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while one writer commits; the timeout makes writers queue
        # instead of failing with "database is locked".
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
