"""Command line: ``recommender ...`` (also ``flask --app recommender ...``).

Every command is a thin wrapper over a service; its docstring is its ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from apiflask import APIFlask
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, NoAppException

from recommender.config import ConfigError
from recommender.extensions import db
from recommender.services import accounts, catalogue, imports
from recommender.services.errors import DomainError

import_group = AppGroup("import", help="Import catalogues and rating datasets.")
users_group = AppGroup("users", help="Manage user accounts.")


@contextmanager
def domain_errors_as_click() -> Iterator[None]:
    """Turn a service's refusal into a one-line ``Error: ...`` and exit status 1."""
    try:
        yield
    except DomainError as error:
        lines = [error.message]
        if isinstance(error.details, list):
            lines += [f"  {d['location']}: {d['message']}" for d in error.details[:20]]
            if len(error.details) > 20:
                lines.append(f"  ... and {len(error.details) - 20} more")
        raise click.ClickException("\n".join(lines)) from None


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback drawing one click progress bar."""
    bar = None
    shown = 0

    def update(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - shown)
        shown = done

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def echo_report(report: imports.ImportReport) -> None:
    click.echo(report.summary())
    for item in report.skipped[:50]:
        click.echo(f"  skipped {item['location']}: {item['reason']}")
    for item in report.corrected[:50]:
        click.echo(f"  corrected {item['location']}: {item['message']}")


@import_group.command("catalogue")
@click.argument(
    "path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--sample", is_flag=True, help="Import the sample catalogue shipped with the package."
)
@click.option("--if-empty", is_flag=True, help="Do nothing when the catalogue already has movies.")
def import_catalogue(path: Path | None, sample: bool, if_empty: bool) -> None:
    """Import a movie catalogue from PATH (JSON or CSV), or the sample catalogue with --sample."""
    if sample == (path is not None):
        raise click.UsageError("Give either PATH or --sample, not both and not neither.")
    if if_empty and (count := catalogue.count_movies(db.session)):
        click.echo(f"The catalogue already holds movies ({count:,}); nothing imported.")
        return
    with domain_errors_as_click(), progress_bar("Importing movies") as progress:
        if sample:
            report = imports.import_sample_catalogue(db.session, progress=progress)
        else:
            report = imports.import_catalogue(db.session, path, progress=progress)
    echo_report(report)


@users_group.command("create-admin")
@click.argument("username")
@click.password_option("--password", help="The password (prompted for when absent).")
def create_admin(username: str, password: str) -> None:
    """Create an administrator account called USERNAME."""
    with domain_errors_as_click():
        accounts.create_user(
            db.session,
            username,
            password,
            is_admin=True,
            hash_method=current_app.config["PASSWORD_HASH_METHOD"],
        )
    click.echo(f"Created admin {username!r}.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn on HOST:PORT."""
    from recommender.server import run_gunicorn

    run_gunicorn(current_app._get_current_object(), host=host, port=port, workers=workers)


@click.command("retrain")
def retrain() -> None:
    """Rebuild the feature version: catalogue features and item baselines from every rating."""
    store = current_app.extensions["recommender"].feature_store
    with domain_errors_as_click():
        features = store.rebuild(db.session)
    rows, columns = features.matrix.shape
    click.echo(f"Feature version {features.version}: {rows:,} movies x {columns} features.")


def init_app(app: APIFlask) -> None:
    for command in (import_group, users_group, retrain, serve):
        app.cli.add_command(command)


def _create_app_for_cli() -> APIFlask:
    from recommender import create_app

    try:
        return create_app()
    except ConfigError as error:
        # Flask's CLI prints a NoAppException as a clean "Error: ..." line.
        raise NoAppException(f"Configuration error: {error}") from None


main = FlaskGroup(
    create_app=_create_app_for_cli,
    add_version_option=False,
    help="recommender: a movie rating recommender web service.",
)
