"""Command line: ``recommender ...`` (also ``flask --app recommender.app ...``).

Every command is a thin wrapper over a service; its docstring is its ``--help``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
from apiflask import APIFlask
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, NoAppException, ScriptInfo

import recommender.app
from recommender import jobs
from recommender.datasets import DatasetUnavailable, fetch_ml100k
from recommender.engine.evaluate import (
    RatingsData,
    cross_validate,
    cross_validate_classifier,
    cross_validate_items_classifier,
    fit_and_predict,
    fit_and_recommend,
    format_table,
)
from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.importers.movielens.importer import import_movielens as import_movielens_dataset
from recommender.importers.movielens.layouts import LAYOUTS
from recommender.server import run_gunicorn
from recommender.services import accounts, catalogue, duplicates, evaluation
from recommender.services.errors import DomainError
from recommender.services.export import EXPORT_LAYOUTS, export_dataset
from recommender.services.feature_store import FeatureKind
from recommender.services.merge import merge_movies
from recommender.settings import ConfigError, current_settings

import_group = AppGroup("import", help="Import catalogues and rating datasets.")
users_group = AppGroup("users", help="Manage user accounts.")
movies_group = AppGroup("movies", help="Manage the catalogue: find and merge duplicate films.")


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


def echo_report(report: catalogue_import.ImportReport) -> None:
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
    limit = current_settings().max_catalogue_movies
    with domain_errors_as_click(), progress_bar("Importing movies") as progress:
        if sample:
            report = catalogue_import.import_sample_catalogue(
                db.session, progress=progress, max_movies=limit
            )
        else:
            report = catalogue_import.import_catalogue(
                db.session, path, progress=progress, max_movies=limit
            )
    echo_report(report)


@import_group.command("movielens")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--layout",
    type=click.Choice(["auto", *LAYOUTS]),
    default="auto",
    show_default=True,
    help="The dataset's layout; auto recognises it by its file names.",
)
def import_movielens(path: Path, layout: str) -> None:
    """Import a MovieLens dataset (100K, 1M, latest/25M or RecBole files) from a folder or zip."""
    settings = current_settings()
    with domain_errors_as_click(), progress_bar("Importing ratings") as progress:
        report = import_movielens_dataset(
            db.session,
            path,
            scale=settings.rating_scale,
            layout=layout,
            progress=progress,
            max_movies=settings.max_catalogue_movies,
        )
    click.echo(report.summary())


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
            hash_method=current_settings().password_hash_method,
        )
    click.echo(f"Created admin {username!r}.")


@movies_group.command("duplicates")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1),
    help="List at most this many pairs, surest first.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def movies_duplicates(limit: int, fmt: str) -> None:
    """List pairs of movies that are likely one film (the import's title matcher), each with
    its rating count and the one to keep (more ratings): `recommender movies merge KEEP DROP`.

    Pairs the matcher would match come first ("same film"); then those it leaves to a person
    ("possible": two rows that fit equally, a series name a year off, a fuzzy title).
    """
    pairs = duplicates.likely_duplicates(db.session)
    shown = pairs[:limit]
    if fmt == "json":
        click.echo(json.dumps({"total": len(pairs), "pairs": [p.to_dict() for p in shown]}))
        return
    if not pairs:
        click.echo("No likely duplicates.")
        return
    certain = sum(p.certain for p in pairs)
    click.echo(
        f"{len(pairs):,} likely duplicate pairs ({certain:,} the same film, "
        f"{len(pairs) - certain:,} possible):"
    )
    for pair in shown:
        click.echo(f"  {duplicates.describe(pair)}")
    if len(pairs) > limit:
        click.echo(f"  ... and {len(pairs) - limit:,} more (--limit)")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn on HOST:PORT."""
    # Gunicorn's workers need the app itself, not the current_app proxy: the one the CLI built.
    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    run_gunicorn(app, host=host, port=port, workers=workers)


@click.command("retrain")
def retrain() -> None:
    """Rebuild the feature version: item baselines from every rating, and item factors learned
    from them once there are FACTOR_MIN_RATINGS (default 1,000) ratings by 20+ users
    (catalogue features otherwise)."""
    store = current_app.extensions["recommender"].feature_store
    with domain_errors_as_click():
        features = store.rebuild(db.session)
    rows, columns = features.matrix.shape
    learned = store.kind(db.session, features) is FeatureKind.FACTORS
    kind = " (learned item factors)" if learned else ""
    click.echo(f"Feature version {features.version}: {rows:,} movies x {columns} features{kind}.")


def _parse_ks(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        ks = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not ks or min(ks) < 1:
        raise click.BadParameter(f"expected values of k >= 1, got {value!r}")
    return ks


def _ratings_of(dataset: Path | None) -> RatingsData:
    """The ratings of the dataset at ``dataset``, or the database's when it is None."""
    if dataset is not None:
        return evaluation.load_dataset_ratings(dataset)
    return evaluation.load_database_ratings(db.session, current_settings().rating_scale)


DATASET_HELP = (
    "A ratings dataset folder or file (RecBole .inter, u.data, ratings.dat, ratings.csv); "
    "default: the ratings in the database."
)


@click.command("evaluate")
@click.option(
    "--dataset",
    type=click.Path(path_type=Path),
    help=DATASET_HELP,
)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--k", "ks", default="5,10,20,40", show_default=True, callback=_parse_ks)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Chart file (PNG).")
@click.option("--task", type=click.Choice(["regress", "classify"]), default="regress")
@click.option(
    "--top-n",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Length of the lists the ranking metrics judge (regress).",
)
@click.option(
    "--relevant-min",
    default=4.0,
    show_default=True,
    type=float,
    help="A held-out rating at least this is a hit for the ranking metrics (regress).",
)
@click.option(
    "--store",
    is_flag=True,
    help="Store the result in the database: the admin page's Evaluation box shows the last one.",
)
def evaluate(
    dataset: Path | None,
    folds: int,
    seed: int,
    ks: list[int],
    fmt: str,
    plot: Path | None,
    task: str,
    top_n: int,
    relevant_min: float,
    store: bool,
) -> None:
    """Cross-validate the predictor (k-fold; --folds 1: one 80/20 split) over values of k.

    regress: RMSE, MAE, coverage, cold-start share, times, validation curve and best k, with
    baselines; beside them the top-N lists (every movie a test user did not rate in training
    ranked; a held-out rating >= --relevant-min is a hit): precision, recall, nDCG, MAP,
    catalogue coverage and mean popularity @N for ours per k and for the most-rated and
    damped-mean lists. classify: "good movie" (rating >= 4) accuracy per k; without --dataset
    and without ratings, the catalogue's IMDb >= 7.0 from its features. --store (regress)
    keeps RMSE, MAE, the top-N metrics, best k and the curve in the database.
    """
    if store and task != "regress":
        raise click.UsageError("--store keeps regress evaluations only.")
    started = time.perf_counter()
    with domain_errors_as_click(), progress_bar("Evaluating folds") as progress:
        try:
            data = _ratings_of(dataset)
            if task == "regress":
                report = cross_validate(
                    data,
                    ks,
                    folds,
                    seed,
                    progress=progress,
                    top_n=top_n,
                    relevant_min=relevant_min,
                )
            else:
                report = cross_validate_classifier(data, ks, folds, seed, progress=progress)
        except evaluation.NoRatings:
            if task != "classify" or dataset is not None:
                raise
            matrix, labels = evaluation.catalogue_labels(db.session)
            report = cross_validate_items_classifier(matrix, labels, ks, folds, seed)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
    if store:
        stored_id = evaluation.store_evaluation(
            db.session,
            report,
            dataset="database" if dataset is None else dataset.name,
            ratings=len(data.ratings),
            seconds=time.perf_counter() - started,
            source="command line",
        )
    if plot is not None:
        evaluation.plot_curve(report, plot)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(format_table(report))
        if plot is not None:
            click.echo(f"\nChart written to {plot}")
    if store:
        click.echo(f"Stored as evaluation {stored_id}: the admin page shows it.", err=fmt == "json")


@click.command("predict")
@click.option("--dataset", required=True, type=click.Path(path_type=Path))
@click.option(
    "--pairs", required=True, type=click.Path(path_type=Path), help="CSV user_id,movie_id"
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--k", default=None, type=click.IntRange(1), help="Neighbours (default: app's k).")
def predict(dataset: Path, pairs: Path, out: Path, k: int | None) -> None:
    """Train on DATASET and write user_id,movie_id,predicted_rating,source for each pair.

    Ids are the dataset's; an unknown user or movie gets a cold-start prediction.
    """
    with domain_errors_as_click():
        user_ids, movie_ids = evaluation.read_pairs(pairs)
        data = evaluation.load_dataset_ratings(dataset)
        k = k or current_settings().k
        predicted, cold = fit_and_predict(data, user_ids, movie_ids, k)
        evaluation.write_predictions(out, user_ids, movie_ids, predicted, cold)
    click.echo(f"Wrote {len(predicted):,} predictions to {out} ({int(cold.sum()):,} cold start).")


@click.command("recommend")
@click.option("--dataset", type=click.Path(path_type=Path), help=DATASET_HELP)
@click.option("--users", required=True, type=click.Path(path_type=Path), help="CSV user_id")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1), help="Per user.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--k", default=None, type=click.IntRange(1), help="Neighbours (default: app's k).")
def recommend(dataset: Path | None, users: Path, limit: int, out: Path, k: int | None) -> None:
    """Train on DATASET (default: the database's ratings) and write each listed user's top
    --limit movies they have not rated as user_id,rank,movie_id,score,predicted_rating,source.

    Ordered by the service's ranking score, rank 1 first. Ids are the dataset's; an unknown
    user gets the cold-start list (source cold_start, as for users with k ratings or fewer).
    """
    with domain_errors_as_click():
        user_ids = evaluation.read_users(users)
        data = _ratings_of(dataset)
        lists = fit_and_recommend(data, user_ids, limit, k or current_settings().k)
        evaluation.write_recommendations(out, lists)
    listed = len(np.unique(lists.user_ids))
    cold = len(np.unique(lists.user_ids[lists.cold]))
    click.echo(
        f"Wrote {len(lists):,} recommendations for {listed:,} users to {out} ({cold:,} cold start)."
    )


@movies_group.command("merge")
@click.argument("keep_id", type=int)
@click.argument("drop_id", type=int)
def merge_movies_command(keep_id: int, drop_id: int) -> None:
    """Merge movie DROP_ID into KEEP_ID (one film, two rows), in one transaction.

    DROP's ratings move to KEEP (a user who rated both keeps the later rating), its dataset
    ids point to KEEP, KEEP gains its genres and fills its empty attributes from it, and DROP
    is deleted. The feature version changes: run `recommender retrain` afterwards to relearn
    the item factors.
    """
    with domain_errors_as_click():
        summary = merge_movies(db.session, keep_id, drop_id)
    current_app.extensions["recommender"].feature_store.expire()
    click.echo("\n".join(summary.lines()))


@click.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--layout",
    type=click.Choice(list(EXPORT_LAYOUTS)),
    default="latest",
    show_default=True,
    help="The dataset layout to write (latest: MovieLens movies.csv + ratings.csv).",
)
@click.option("--overwrite", is_flag=True, help="Replace a dataset already in PATH.")
def export(path: Path, layout: str, overwrite: bool) -> None:
    """Write the database's movies and ratings into the folder PATH as a dataset that
    `recommender import movielens PATH` reads back.

    userId is the database's user id: the import creates users named <dataset>-<userId>
    (dataset: the folder's name if it starts with ml-, else ml-latest). Only titles, years,
    genres and ratings are written; users without ratings are not.
    """
    with domain_errors_as_click(), progress_bar("Exporting ratings") as progress:
        report = export_dataset(
            db.session, path, layout=layout, overwrite=overwrite, progress=progress
        )
    click.echo(report.summary())


datasets_group = AppGroup("datasets", help="Fetch public rating datasets (never committed).")


@datasets_group.command("fetch")
@click.argument("name", type=click.Choice(["ml-100k"]))
@click.option(
    "--dir",
    "cache_dir",
    default=".cache/datasets",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep it (git-ignored by default).",
)
def fetch_dataset(name: str, cache_dir: Path) -> None:
    """Download NAME (MovieLens 100K, from the recbole wheel on PyPI) and print its folder."""
    try:
        folder = fetch_ml100k(cache_dir)
    except DatasetUnavailable as error:
        raise click.ClickException(f"{name} could not be fetched: {error}") from None
    click.echo(str(folder))


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run the admin page's background jobs (imports, evaluations) from the RQ queue at
    REDIS_URL, one at a time, each in a forked process, until stopped (Ctrl-C, SIGTERM)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    if not current_settings().redis_url:
        raise click.ClickException(
            "REDIS_URL is not set: without it the web process runs the jobs in a thread."
        )
    # Not the URL itself: it may carry Redis's password.
    click.echo(f"Serving the job queue {jobs.QUEUE!r} at REDIS_URL", err=True)
    jobs.run_worker(app, burst=burst)


def init_app(app: APIFlask) -> None:
    for command in (
        worker,
        import_group,
        users_group,
        movies_group,
        datasets_group,
        retrain,
        serve,
        evaluate,
        predict,
        recommend,
        export,
    ):
        app.cli.add_command(command)


def _create_app_for_cli() -> APIFlask:
    try:
        return recommender.app.create_app()
    except ConfigError as error:
        # Flask's CLI prints a NoAppException as a clean "Error: ..." line.
        raise NoAppException(f"Configuration error: {error}") from None


main = FlaskGroup(
    create_app=_create_app_for_cli,
    add_version_option=False,
    help="recommender: a movie rating recommender web service.",
)
