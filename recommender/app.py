"""The application factory: settings, extensions, blueprints, error handlers and commands.

Kept out of ``recommender/__init__.py`` so that ``import recommender.engine`` loads no Flask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from recommender import __version__, api, cli, compression, errors, security, web
from recommender.bundled import MIGRATIONS_DIR
from recommender.engine import parallel
from recommender.extensions import (
    configure_sqlite,
    csrf,
    db,
    engine_options,
    login_manager,
    migrate,
)
from recommender.importers.runs import fail_interrupted_runs
from recommender.services.recommendations import build_recommender
from recommender.services.title_search import include_in_migrations
from recommender.settings import EXTENSION_KEY, Settings, load_settings, setting_names


def create_app(
    config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> APIFlask:
    """Build the app from settings read from ``environ`` (default ``os.environ``).

    ``config`` overrides individual keys after the environment has been read, which is how
    tests pin a database or a small ``RECOMMENDER_K``: a setting's name goes to the app's
    :class:`~recommender.settings.Settings`, any other key straight to ``app.config``.

    Besides binding the parts together it exempts the API from CSRF, trusts the configured
    proxies (ProxyFix) and fails the imports a killed process left running (a database write).
    """
    app = APIFlask(
        # The package's name, not this module's: an installed app's instance folder is named
        # after it: <prefix>/var/recommender-instance, not recommender.app-instance.
        "recommender",
        static_folder="web/static",
        template_folder="web/templates",
        title="recommender",
        version=__version__,
        spec_path="/api/v1/openapi.json",
        # Our own docs page (recommender/api/docs.py): APIFlask's has an inline script.
        docs_path=None,
    )
    overrides = dict(config or {})
    settings = load_settings(environ, instance_path=app.instance_path, overrides=overrides)
    app.extensions[EXTENSION_KEY] = settings
    app.config.update(settings.flask_config())
    names = setting_names()
    app.config.update({key: value for key, value in overrides.items() if key not in names})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    _init_database(app, settings)
    login_manager.init_app(app)
    csrf.init_app(app)
    app.extensions["recommender"] = build_recommender(settings)
    # The search's threads are the process's (recommender/engine/parallel.py); 0 keeps the
    # default, one per usable CPU.
    if settings.engine_threads:
        parallel.set_threads(settings.engine_threads)

    errors.init_app(app)
    api.init_app(app)
    # The API takes bearer tokens only, never the session cookie, so it needs no CSRF token.
    for blueprint in list(app.blueprints.values()):
        if (blueprint.url_prefix or "").startswith("/api/"):
            csrf.exempt(blueprint)
    web.init_app(app)
    compression.init_app(app)
    if proxies := settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # Last: the rate limits wrap view functions the blueprints registered.
    security.init_app(app)
    cli.init_app(app)
    _fail_interrupted_imports(app, settings)
    return app


def _init_database(app: APIFlask, settings: Settings) -> None:
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=MIGRATIONS_DIR,
        render_as_batch=True,
        compare_type=True,
        # The search index (migration 0006) is no model: autogenerate must not drop it.
        include_name=include_in_migrations,
    )
    with app.app_context():
        configure_sqlite(db.engine, settings.sqlite_busy_timeout_ms)


def _fail_interrupted_imports(app: APIFlask, settings: Settings) -> None:
    """Mark failed the imports a killed process left "running" (see ``fail_interrupted_runs``).

    Every start does it: the server, each worker and every command. A database not created or
    not migrated yet has nothing to recover, and is not created here.
    """
    with app.app_context():
        engine = db.engine
        database = engine.url.database
        if engine.dialect.name == "sqlite" and (
            database in (None, "", ":memory:") or not Path(database).exists()
        ):
            return
        stale_after = dt.timedelta(hours=settings.import_stale_hours)
        try:
            with Session(engine) as session:
                fail_interrupted_runs(session, stale_after)
        except sa.exc.DBAPIError:
            # No import_runs table or no pid column yet: `db upgrade` has not run.
            pass
