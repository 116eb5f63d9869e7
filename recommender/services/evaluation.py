"""Glue for offline evaluation and batch prediction: load ratings (dataset files or the
database) and pairs into arrays, hand them to :mod:`recommender.engine.evaluate`, write results.

Dataset folders: RecBole atomic files (``NAME.inter``, tab-separated, typed header naming
``user_id``, ``item_id``, ``rating``), MovieLens 100K (``u.data``), 1M (``ratings.dat``) and
latest/25M (``ratings.csv``). Only the ratings are read; every refusal names the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from recommender.engine.evaluate import EvaluationReport, RatingsData
from recommender.engine.scale import RatingScale
from recommender.models import Rating
from recommender.services.errors import InvalidInput

MAX_PROBLEMS = 20

# (file name, separator, has a header line); user, item, rating are the first three fields
_PLAIN_LAYOUTS = (
    ("u.data", "\t", False),
    ("ratings.dat", "::", False),
    ("ratings.csv", ",", True),
)


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, location: str, message: str) -> None:
        self.items.append({"location": location, "message": message})

    def raise_if_any(self, what: str) -> None:
        if self.items:
            count = len(self.items)
            raise InvalidInput(
                f"{what}: {count} problem{'s' if count > 1 else ''}", self.items[:MAX_PROBLEMS]
            )


def _ratings_file(path: Path) -> tuple[Path, str]:
    """The ratings file of a dataset folder (or the file itself) and its layout name."""
    if not path.exists():
        raise InvalidInput(f"Dataset {path} does not exist")
    if path.is_file():
        if path.suffix == ".inter":
            return path, "recbole"
        for name, _, _ in _PLAIN_LAYOUTS:
            if path.name == name:
                return path, name
        raise InvalidInput(
            f"Dataset file {path} is not a ratings file: expected NAME.inter, u.data, "
            "ratings.dat or ratings.csv"
        )
    inter = sorted(path.glob("*.inter"))
    if len(inter) == 1:
        return inter[0], "recbole"
    if len(inter) > 1:
        names = ", ".join(p.name for p in inter)
        raise InvalidInput(f"Dataset folder {path} holds several .inter files: {names}")
    for name, _, _ in _PLAIN_LAYOUTS:
        if (path / name).is_file():
            return path / name, name
    found = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
    raise InvalidInput(
        f"No ratings file in {path}: looked for NAME.inter (RecBole), u.data (100K), "
        f"ratings.dat (1M), ratings.csv (latest); found {found}"
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    encoding = "utf-8" if path.suffix in (".inter", ".csv") else "latin-1"
    try:
        with path.open(encoding=encoding, newline="") as stream:
            for number, text in enumerate(stream, start=1):
                text = text.rstrip("\r\n")
                if text.strip():
                    yield number, text
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not {encoding.upper()} text ({error.reason})") from None


def _number(text: str, kind: type, location: str, what: str, problems: _Problems) -> Any:
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
    ratings_path, layout = _ratings_file(path)
    problems = _Problems()
    users: list[int] = []
    items: list[int] = []
    values: list[float] = []
    lines = _lines(ratings_path)
    name = ratings_path.name
    if layout == "recbole":
        first = next(lines, None)
        if first is None:
            raise InvalidInput(f"{name} line 1: the file is empty")
        header = [cell.split(":")[0] for cell in first[1].split("\t")]
        missing = [c for c in ("user_id", "item_id", "rating") if c not in header]
        if missing:
            raise InvalidInput(
                f"{name} line {first[0]}: the header lacks {', '.join(missing)} "
                f"(found {first[1][:100]!r})"
            )
        separator, width = "\t", len(header)
        columns = tuple(header.index(c) for c in ("user_id", "item_id", "rating"))
    else:
        separator = dict((n, s) for n, s, _ in _PLAIN_LAYOUTS)[layout]
        if dict((n, h) for n, _, h in _PLAIN_LAYOUTS)[layout]:
            next(lines, None)
        width, columns = 4, (0, 1, 2)
    for number, text in lines:
        location = f"{name} line {number}"
        fields = text.split(separator)
        if len(fields) != width:
            problems.add(location, f"expected {width} fields, found {len(fields)}")
        else:
            u = _number(fields[columns[0]], int, location, "user id", problems)
            i = _number(fields[columns[1]], int, location, "item id", problems)
            r = _number(fields[columns[2]], float, location, "rating", problems)
            if u is not None and i is not None and r is not None:
                users.append(u)
                items.append(i)
                values.append(r)
        if len(problems.items) >= MAX_PROBLEMS:
            break
    problems.raise_if_any(f"Cannot read the ratings of {ratings_path}")
    if not values:
        raise InvalidInput(f"{ratings_path} holds no ratings")
    return RatingsData.from_ids(np.array(users), np.array(items), np.array(values))


def load_database_ratings(session: Session, scale: RatingScale) -> RatingsData:
    """Every rating in the database (user and movie ids as stored), on the app's scale."""
    rows = session.execute(sa.select(Rating.user_id, Rating.movie_id, Rating.rating)).all()
    if not rows:
        raise InvalidInput("The database holds no ratings: import a dataset or use --dataset")
    array = np.array(rows, dtype=np.float64)
    return RatingsData.from_ids(
        array[:, 0].astype(np.int64),
        array[:, 1].astype(np.int64),
        array[:, 2],
        scale,
    )


def read_pairs(path: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """A CSV of ``user_id,movie_id`` (a header line first) -> two id arrays."""
    problems = _Problems()
    users: list[int] = []
    movies: list[int] = []
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise InvalidInput(f"{path} line 1: the file is empty")
            if [c.strip() for c in header[:2]] != ["user_id", "movie_id"]:
                raise InvalidInput(
                    f"{path} line 1: expected the header 'user_id,movie_id', found "
                    f"{','.join(header)[:100]!r}"
                )
            for row in reader:
                location = f"{path.name} line {reader.line_num}"
                if not row or not "".join(row).strip():
                    continue
                if len(row) < 2:
                    problems.add(location, f"expected 2 fields, found {len(row)}")
                    continue
                u = _number(row[0], int, location, "user_id", problems)
                m = _number(row[1], int, location, "movie_id", problems)
                if u is not None and m is not None:
                    users.append(u)
                    movies.append(m)
    except FileNotFoundError:
        raise InvalidInput(f"Pairs file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text ({error.reason})") from None
    problems.raise_if_any(f"Cannot read the pairs in {path}")
    return np.array(users, dtype=np.int64), np.array(movies, dtype=np.int64)


def write_predictions(
    path: Path,
    user_ids: NDArray[np.int64],
    movie_ids: NDArray[np.int64],
    predicted: NDArray[np.float64],
    cold: NDArray[np.bool_],
) -> None:
    """Write ``user_id,movie_id,predicted_rating,source`` rows (source: knn or cold_start)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["user_id", "movie_id", "predicted_rating", "source"])
        for u, m, p, c in zip(user_ids, movie_ids, predicted, cold, strict=True):
            writer.writerow([int(u), int(m), f"{p:.4f}", "cold_start" if c else "knn"])


def plot_curve(report: EvaluationReport, path: Path) -> None:
    """Draw the validation curve (metric by k, mean over folds) with the best k marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    curve = report.curve
    ks = list(curve)
    figure, axes = plt.subplots(figsize=(6, 4))
    try:
        axes.plot(ks, [curve[k] for k in ks], marker="o", label=f"KNN ({report.metric})")
        best = report.best_k
        axes.axvline(best, color="grey", linestyle="--", label=f"best k = {best}")
        names = report.folds[0].baselines
        for n, name in enumerate(names, start=1):
            value = float(np.mean([f.baselines[name][report.metric] for f in report.folds]))
            axes.axhline(value, linestyle=":", linewidth=1, label=name, color=f"C{n}")
        axes.set_xlabel("k (neighbours)")
        axes.set_ylabel(f"{report.metric} (mean over {len(report.folds)} folds)")
        axes.set_title(f"Validation curve ({report.task})")
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


def catalogue_labels(session: Session, threshold: float = 7.0) -> tuple[Any, NDArray[np.bool_]]:
    """Catalogue feature rows of the movies with an IMDb rating, and ``imdb >= threshold``."""
    from recommender.engine.features import DEFAULT_SPEC, FeatureSpec, build_feature_matrix
    from recommender.services.feature_store import _movie_attributes

    _, movies = _movie_attributes(session)
    rated = [m for m in movies if m["imdb_rating"] is not None]
    if len(rated) < 2:
        raise InvalidInput("The catalogue has fewer than 2 movies with an IMDb rating")
    # The label must not be a feature: drop the IMDb rating column from the spec.
    spec = FeatureSpec(tuple(c for c in DEFAULT_SPEC.columns if c.name != "imdb_rating"))
    features = build_feature_matrix(rated, spec)
    labels = np.array([m["imdb_rating"] >= threshold for m in rated])
    return features.values, labels
