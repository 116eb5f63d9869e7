"""recommender: a movie rating recommender web service built on an exact KNN engine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apiflask import APIFlask

__version__ = "0.1.0"
MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(
    config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> APIFlask:
    """Build the app from settings read from ``environ`` (default ``os.environ``).

    ``config`` overrides individual Flask config keys after the environment has been read,
    which is how tests pin a database or a small ``RECOMMENDER_K``.
    """
    # Imported here, not at the top: `import recommender.engine` must not load Flask.
    from apiflask import APIFlask

    from recommender.config import load_config
    from recommender.extensions import (
        configure_sqlite,
        csrf,
        db,
        engine_options,
        login_manager,
        migrate,
    )

    app = APIFlask(
        __name__,
        instance_relative_config=True,
        static_folder="web/static",
        template_folder="web/templates",
        title="recommender",
        version=__version__,
        spec_path="/api/v1/openapi.json",
        # Our own docs page (recommender/api/docs.py): APIFlask's has an inline script.
        docs_path=None,
    )
    app.config.update(load_config(environ, instance_path=app.instance_path))
    app.config.update(config or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    with app.app_context():
        configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    login_manager.init_app(app)
    csrf.init_app(app)

    from recommender import api, cli, errors, security, web
    from recommender.services.recommendations import build_recommender

    app.extensions["recommender"] = build_recommender(app.config)

    errors.init_app(app)
    api.init_app(app)
    # The API takes bearer tokens only, never the session cookie, so it needs no CSRF token.
    for blueprint in list(app.blueprints.values()):
        if (blueprint.url_prefix or "").startswith("/api/"):
            csrf.exempt(blueprint)
    web.init_app(app)
    if proxies := app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # Last: the rate limits wrap view functions the blueprints registered.
    security.init_app(app)
    cli.init_app(app)
    _fail_interrupted_imports(app)
    return app


def _fail_interrupted_imports(app: APIFlask) -> None:
    """Mark failed the imports a killed process left "running" (see ``fail_interrupted_runs``).

    Every start does it: the server, each worker and every command. A database not created or
    not migrated yet has nothing to recover, and is not created here.
    """
    import datetime as dt

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from recommender.extensions import db
    from recommender.importers.runs import fail_interrupted_runs

    with app.app_context():
        engine = db.engine
        database = engine.url.database
        if engine.dialect.name == "sqlite" and (
            database in (None, "", ":memory:") or not Path(database).exists()
        ):
            return
        stale_after = dt.timedelta(hours=app.config["IMPORT_STALE_HOURS"])
        try:
            with Session(engine) as session:
                fail_interrupted_runs(session, stale_after)
        except sa.exc.DBAPIError:
            # No import_runs table or no pid column yet: `db upgrade` has not run.
            pass
