"""Glue for offline evaluation and batch prediction: load ratings (dataset files or the
database) and pairs into arrays, hand them to :mod:`recommender.engine.evaluate`, write results.

Dataset folders and files are read through the importer's layouts
(:mod:`recommender.importers.movielens.layouts`): a RecBole ``NAME.inter``, MovieLens 100K
``u.data``, 1M ``ratings.dat`` or latest/25M ``ratings.csv``, with the importer's line checks.
Only the ratings are read (ids must be integers here); every refusal names the file and line.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from recommender.engine.evaluate import EvaluationReport, RatingsData, TopNLists, cross_validate
from recommender.engine.features import DEFAULT_SPEC, FeatureSpec, build_feature_matrix
from recommender.engine.scale import RatingScale
from recommender.importers.movielens.layouts import LAYOUTS, Layout
from recommender.importers.movielens.sources import DatasetFiles, folder_files, single_file
from recommender.importers.problems import Problems, TooManyProblems
from recommender.models import Evaluation, Rating
from recommender.services.errors import InvalidInput
from recommender.services.feature_store import _movie_attributes

MAX_PROBLEMS = 20


class NoRatings(InvalidInput):
    """There are no ratings to learn from (``evaluate --task classify`` then falls back to the
    catalogue's IMDb ratings)."""


def _raise_if_any(problems: Problems, what: str) -> None:
    if problems.items:
        count = len(problems.items)
        raise InvalidInput(
            f"{what}: {count} problem{'s' if count > 1 else ''}", problems.items[:MAX_PROBLEMS]
        )


def _ratings_layouts() -> list[type[Layout]]:
    """Return the layouts in the order a ratings file is looked for, preferred ones first."""
    return sorted(LAYOUTS.values(), key=lambda layout: not layout.preferred_for_ratings)


def _ratings_file(path: Path) -> tuple[DatasetFiles, Layout]:
    """The files of a dataset folder (or of the ratings file itself) and its layout."""
    if not path.exists():
        raise InvalidInput(f"Dataset {path} does not exist")
    files = single_file(path) if path.is_file() else folder_files(path)
    layouts = _ratings_layouts()
    for layout in layouts:
        found = layout.candidates(files.sizes, ratings_only=True)
        if len(found) > 1:
            names = ", ".join(each.ratings for each in found)
            raise InvalidInput(f"Dataset folder {path} holds several ratings files: {names}")
        if found:
            return files, found[0]
    names = [layout.ratings_file for layout in layouts]
    if path.is_file():
        raise InvalidInput(
            f"Dataset file {path} is not a ratings file: expected {', '.join(names[:-1])} "
            f"or {names[-1]}"
        )
    looked_for = ", ".join(f"{layout.ratings_file} ({layout.name})" for layout in layouts)
    found = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
    raise InvalidInput(f"No ratings file in {path}: looked for {looked_for}; found {found}")


def _number(text: str, kind: type, location: str, what: str, problems: Problems) -> Any:
    try:
        value = kind(text.strip())
    except ValueError:
        problems.add(
            location,
            f"{what} must be {'an integer' if kind is int else 'a number'}, "
            f"got {text.strip()[:40]!r}",
        )
        return None
    if kind is float and not np.isfinite(value):
        problems.add(location, f"{what} must be finite, got {text.strip()!r}")
        return None
    return value


def load_dataset_ratings(path: Path) -> RatingsData:
    """Read a dataset's ratings into arrays (ids as in the dataset; integers)."""
    files, layout = _ratings_file(path)
    ratings_path = files.folder / layout.ratings
    problems = Problems(MAX_PROBLEMS)
    users: list[int] = []
    items: list[int] = []
    values: list[float] = []
    try:
        for number, user, item, rating, _ in layout.read_ratings(files, problems, [0]):
            location = f"{layout.ratings} line {number}"
            u = _number(user, int, location, "user id", problems)
            i = _number(item, int, location, "item id", problems)
            r = _number(rating, float, location, "rating", problems)
            if u is not None and i is not None and r is not None:
                users.append(u)
                items.append(i)
                values.append(r)
    except TooManyProblems:
        pass
    _raise_if_any(problems, f"Cannot read the ratings of {ratings_path}")
    if not values:
        raise NoRatings(f"{ratings_path} holds no ratings")
    return RatingsData.from_ids(np.array(users), np.array(items), np.array(values))


def load_database_ratings(session: Session, scale: RatingScale) -> RatingsData:
    """Every rating in the database (user and movie ids as stored), on the app's scale."""
    rows = session.execute(sa.select(Rating.user_id, Rating.movie_id, Rating.rating)).all()
    if not rows:
        raise NoRatings("The database holds no ratings: import a dataset or use --dataset")
    array = np.array(rows, dtype=np.float64)
    return RatingsData.from_ids(
        array[:, 0].astype(np.int64),
        array[:, 1].astype(np.int64),
        array[:, 2],
        scale,
    )


def _read_id_columns(path: Path, columns: tuple[str, ...], what: str) -> list[NDArray[np.int64]]:
    """A CSV whose header starts with ``columns`` -> one id array per column (integers).

    ``what`` names the rows in errors ("pairs", "users"); every problem is counted, the first
    MAX_PROBLEMS shown, each with the file and line.
    """
    problems = Problems(limit=sys.maxsize)
    ids: list[list[int]] = [[] for _ in columns]
    expected = ",".join(columns)
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise InvalidInput(f"{path} line 1: the file is empty")
            if [c.strip() for c in header[: len(columns)]] != list(columns):
                raise InvalidInput(
                    f"{path} line 1: expected the header '{expected}', found "
                    f"{','.join(header)[:100]!r}"
                )
            for row in reader:
                location = f"{path.name} line {reader.line_num}"
                if not row or not "".join(row).strip():
                    continue
                if len(row) < len(columns):
                    problems.add(location, f"expected {len(columns)} fields, found {len(row)}")
                    continue
                values = [
                    _number(text, int, location, name, problems)
                    for text, name in zip(row, columns, strict=False)
                ]
                if None not in values:
                    for column, value in zip(ids, values, strict=True):
                        column.append(value)
    except FileNotFoundError:
        raise InvalidInput(f"{what.capitalize()} file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text ({error.reason})") from None
    _raise_if_any(problems, f"Cannot read the {what} in {path}")
    return [np.array(column, dtype=np.int64) for column in ids]


def read_pairs(path: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A CSV of ``user_id,movie_id`` (a header line first) -> two id arrays."""
    users, movies = _read_id_columns(path, ("user_id", "movie_id"), "pairs")
    return users, movies


def read_users(path: Path) -> NDArray[np.int64]:
    """A CSV whose first column is ``user_id`` (a header line first) -> the user ids."""
    (users,) = _read_id_columns(path, ("user_id",), "users")
    return users


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as error:
        raise InvalidInput(f"Cannot write {path}: {error.strerror}") from None


def _source(cold: bool) -> str:
    return "cold_start" if cold else "knn"


def write_predictions(
    path: Path,
    user_ids: NDArray[np.int64],
    movie_ids: NDArray[np.int64],
    predicted: NDArray[np.float64],
    cold: NDArray[np.bool_],
) -> None:
    """Write ``user_id,movie_id,predicted_rating,source`` rows (source: knn or cold_start)."""
    rows = (
        [int(u), int(m), f"{p:.4f}", _source(c)]
        for u, m, p, c in zip(user_ids, movie_ids, predicted, cold, strict=True)
    )
    _write_csv(path, ["user_id", "movie_id", "predicted_rating", "source"], rows)


def write_recommendations(path: Path, lists: TopNLists) -> None:
    """Write ``user_id,rank,movie_id,score,predicted_rating,source`` rows (rank 1 first)."""
    rows = (
        [int(u), int(r), int(m), f"{s:.6f}", f"{p:.4f}", _source(c)]
        for u, r, m, s, p, c in zip(
            lists.user_ids,
            lists.ranks,
            lists.movie_ids,
            lists.scores,
            lists.predicted,
            lists.cold,
            strict=True,
        )
    )
    header = ["user_id", "rank", "movie_id", "score", "predicted_rating", "source"]
    _write_csv(path, header, rows)


def plot_curve(report: EvaluationReport, path: Path) -> None:
    """Draw the validation curve (metric by k, mean over folds) with the best k marked, and
    beside it, when the report ranks lists, nDCG@N by k with the ranking baselines."""
    # Imported here: matplotlib is heavy and only a --plot needs it.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    ranked = bool(report.folds[0].ranking_baselines)
    figure, panels = plt.subplots(1, 2 if ranked else 1, figsize=(12 if ranked else 6, 4))
    panels = list(panels) if ranked else [panels]
    try:
        _plot_panel(panels[0], report, report.metric, report.baseline_means())
        panels[0].set_title(f"Validation curve ({report.task})")
        if ranked:
            n = report.config["top_n"]
            _plot_panel(panels[1], report, "ndcg", report.baseline_means(ranking=True))
            panels[1].set_ylabel(f"nDCG@{n} (mean over {len(report.folds)} folds)")
            panels[1].set_title(
                f"Top-{n} lists (relevant: rating >= {report.config['relevant_min']:g})"
            )
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


def _plot_panel(
    axes: Any, report: EvaluationReport, metric: str, baselines: dict[str, dict[str, float]]
) -> None:
    """One metric by k for the KNN, the best k marked, each baseline a horizontal line."""
    ks = list(report.ks)
    axes.plot(ks, [report.mean(k, metric) for k in ks], marker="o", label=f"KNN ({metric})")
    best = report.best_k
    axes.axvline(best, color="grey", linestyle="--", label=f"best k = {best} ({report.metric})")
    for n, (name, figures) in enumerate(baselines.items(), start=1):
        axes.axhline(figures[metric], linestyle=":", linewidth=1, label=name, color=f"C{n}")
    axes.set_xlabel("k (neighbours)")
    axes.set_ylabel(f"{metric} (mean over {len(report.folds)} folds)")
    axes.legend(fontsize="small")


def catalogue_labels(session: Session, threshold: float = 7.0) -> tuple[Any, NDArray[np.bool_]]:
    """Catalogue feature rows of the movies with an IMDb rating, and ``imdb >= threshold``."""
    _, movies = _movie_attributes(session)
    rated = [m for m in movies if m["imdb_rating"] is not None]
    if len(rated) < 2:
        raise InvalidInput("The catalogue has fewer than 2 movies with an IMDb rating")
    # The label must not be a feature: drop the IMDb rating column from the spec.
    spec = FeatureSpec(tuple(c for c in DEFAULT_SPEC.columns if c.name != "imdb_rating"))
    features = build_feature_matrix(rated, spec)
    labels = np.array([m["imdb_rating"] >= threshold for m in rated])
    return features.values, labels


# --------------------------------------------------------------------------------------------
# Stored evaluations: `evaluate --store` and the admin page's button
# --------------------------------------------------------------------------------------------

# The top-N figures the admin page shows, in its order (the report's names).
TOP_N_METRICS = ("precision", "recall", "ndcg", "map", "catalogue_coverage", "mean_popularity")
CURVE_METRICS = ("rmse", "mae", "ndcg", "precision", "recall", "map")


def store_evaluation(
    session: Session,
    report: EvaluationReport,
    *,
    dataset: str,
    ratings: int,
    seconds: float,
    source: str,
    admin_id: int | None = None,
) -> int:
    """Store a regression ``report`` (RMSE, MAE, the top-N metrics, best k, the curve over k)
    and commit; return its id. A classification report has none of these: refused."""
    if report.task != "regress":
        raise InvalidInput(f"Only a regress evaluation can be stored, not {report.task!r}")
    whole = report.to_dict()
    best = report.best_k
    curve = [
        {"k": k, **{name: report.mean(k, name) for name in CURVE_METRICS if name in row}}
        for k, row in ((k, report.folds[0].per_k[k]) for k in report.ks)
    ]
    stored = Evaluation(
        source=source,
        admin_id=admin_id,
        dataset=dataset[:500],
        ratings=ratings,
        folds=len(report.folds),
        best_k=best,
        rmse=report.mean(best, "rmse"),
        mae=report.mean(best, "mae"),
        top_n={name: whole[name] for name in TOP_N_METRICS if name in whole},
        curve=curve,
        report=whole,
        seconds=seconds,
    )
    session.add(stored)
    session.commit()
    return stored.id


def evaluation_to_dict(stored: Evaluation) -> dict[str, Any]:
    """A stored evaluation as plain data (what the admin page shows)."""
    config = stored.report.get("config", {})
    return {
        "id": stored.id,
        "created_at": stored.created_at,
        "source": stored.source,
        "admin_id": stored.admin_id,
        "dataset": stored.dataset,
        "ratings": stored.ratings,
        "folds": stored.folds,
        "best_k": stored.best_k,
        "rmse": stored.rmse,
        "mae": stored.mae,
        "top_n": stored.top_n,
        "top_n_length": config.get("top_n"),
        "relevant_min": config.get("relevant_min"),
        "curve": stored.curve,
        "ranking_baselines": stored.report.get("ranking_baselines", {}),
        "seconds": stored.seconds,
    }


def latest_evaluation(session: Session) -> dict[str, Any] | None:
    """The newest stored evaluation, or None when none was stored."""
    stored = session.scalars(
        sa.select(Evaluation).order_by(Evaluation.created_at.desc(), Evaluation.id.desc()).limit(1)
    ).first()
    return None if stored is None else evaluation_to_dict(stored)


def evaluate_database(
    session: Session,
    scale: RatingScale,
    *,
    ks: list[int],
    folds: int,
    seed: int = 0,
    top_n: int = 10,
    relevant_min: float = 4.0,
    admin_id: int | None = None,
    progress: Any = None,
) -> int:
    """Cross-validate the predictor on the database's ratings and store the result (the
    admin's button); return the stored evaluation's id. No ratings: :class:`NoRatings`."""
    started = time.perf_counter()
    data = load_database_ratings(session, scale)
    report = cross_validate(
        data, ks, folds, seed, progress=progress, top_n=top_n, relevant_min=relevant_min
    )
    return store_evaluation(
        session,
        report,
        dataset="database",
        ratings=len(data.ratings),
        seconds=time.perf_counter() - started,
        source="admin",
        admin_id=admin_id,
    )
