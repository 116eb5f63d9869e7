"""The catalogue feature matrix and item baselines: built once per feature version, persisted in
the database so every worker and machine shares it, and held in memory per process.

A new version is built when the catalogue changes (an import) or on ``retrain``; ratings made
through the app do not rebuild it (the item baselines are a snapshot, refreshed by a retrain).

``retrain`` also learns item factors from every rating (DESIGN §5) once there are enough of
them (:class:`FactorPolicy`: by default at least 1,000 ratings by at least 20 users): the
version's matrix is then the learned item features (L2-normalised factors plus the item bias,
cosine geometry), the catalogue matrix is kept beside it, and the version asks the predictor
for the options those features were validated with (``predictor_options`` in its meta). With
fewer ratings, and in versions built because the catalogue changed, the matrix is the
catalogue features.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from recommender.engine.factors import (
    fit_factors,
    item_feature_columns,
    place_unrated_items,
)
from recommender.engine.features import DEFAULT_SPEC, FeatureSpec, build_feature_matrix
from recommender.engine.model_config import ModelConfig
from recommender.engine.neighbour_lists import NeighbourLists, build_neighbour_lists
from recommender.engine.predictor import CatalogueFeatures, PredictorOptions, item_baselines
from recommender.engine.scale import RatingScale
from recommender.models import FeatureSet, Genre, Movie, Rating, movie_genres
from recommender.services.errors import InvalidInput


class FeatureKind(StrEnum):
    """What a feature version's matrix holds (``features`` in its meta)."""

    CATALOGUE = "catalogue"  # the movies' attributes, normalised
    FACTORS = "factors"  # item factors learned from the ratings, with the item bias


@dataclass(frozen=True)
class FactorPolicy:
    """When and how ``retrain`` learns item factors (too few ratings: catalogue features)."""

    min_ratings: int = 1_000
    min_users: int = 20
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"min_ratings": self.min_ratings, "min_users": self.min_users, **asdict(self.model)}


def _catalogue_key(session: Session, spec: FeatureSpec, scale: RatingScale) -> tuple[str, int]:
    """A digest of the catalogue's state and the build settings, and the number of movies."""
    count, max_id, last_update = session.execute(
        sa.select(sa.func.count(Movie.id), sa.func.max(Movie.id), sa.func.max(Movie.updated_at))
    ).one()
    state = [count, max_id, str(last_update), spec.to_dict(), scale.minimum, scale.maximum]
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest(), count


def _ratings_marker(session: Session) -> list[Any]:
    count, last = session.execute(
        sa.select(sa.func.count(), sa.func.max(Rating.rated_at)).select_from(Rating)
    ).one()
    return [count, str(last)]


def _movie_attributes(session: Session) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
    """Every movie's feature attributes, in ascending id order (two queries)."""
    columns = (
        Movie.id,
        Movie.year,
        Movie.runtime_min,
        Movie.budget,
        Movie.imdb_rating,
        Movie.imdb_votes,
        Movie.rt_rating,
        Movie.mpaa,
    )
    rows = session.execute(sa.select(*columns).order_by(Movie.id)).all()
    genres: dict[int, list[str]] = {}
    for movie_id, name in session.execute(
        sa.select(movie_genres.c.movie_id, Genre.name).join(
            Genre, Genre.id == movie_genres.c.genre_id
        )
    ):
        genres.setdefault(movie_id, []).append(name)
    movies = [{**row._asdict(), "genres": genres.get(row.id, [])} for row in rows]
    return np.array([row.id for row in rows], dtype=np.int64), movies


def _percentile_rank(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rank in [0, 1] (ties share the lower rank); zeros everywhere when nothing varies."""
    if len(values) < 2 or np.all(values == values[0]):
        return np.zeros(len(values))
    return np.searchsorted(np.sort(values), values, side="left") / (len(values) - 1)


# Rows fetched per round trip when reading every rating for a retrain.
RATINGS_CHUNK = 100_000


# Every rating as (user ids, movie ids, values).
_Ratings = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


def rating_arrays(session: Session, expected: int) -> _Ratings:
    """Every rating as three arrays (user ids, movie ids, values), read in chunks.

    Read through the driver's own cursor: SQLAlchemy's Row objects cost some twenty times the
    driver's tuples (docs/scaling.md has the figures). Only the arrays grow (20 bytes a
    rating) plus one chunk of tuples. ``expected`` is the count just read; more rows (ratings
    made meanwhile) grow the arrays.
    """
    user_ids = np.empty(expected, dtype=np.int64)
    movie_ids = np.empty(expected, dtype=np.int64)
    values = np.empty(expected, dtype=np.float64)
    connection = session.connection()
    query = str(
        sa.select(Rating.user_id, Rating.movie_id, Rating.rating).compile(
            dialect=connection.dialect
        )
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    # On PostgreSQL a named (server-side) cursor streams the rows; a plain one would hold the
    # whole result in the client before the first fetch.
    postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="retrain_ratings") if postgres else driver.cursor()
    filled = 0
    try:
        cursor.execute(query)
        while chunk := cursor.fetchmany(RATINGS_CHUNK):
            block = np.array(chunk, dtype=np.float64)
            end = filled + len(block)
            if end > len(values):
                grow = max(end, 2 * len(values))
                user_ids, movie_ids, values = (
                    np.resize(a, grow) for a in (user_ids, movie_ids, values)
                )
            user_ids[filled:end] = block[:, 0]
            movie_ids[filled:end] = block[:, 1]
            values[filled:end] = block[:, 2]
            filled = end
    finally:
        cursor.close()
    return user_ids[:filled], movie_ids[:filled], values[:filled]


@dataclass(frozen=True)
class _Learned:
    """What a retrain learns from the ratings: the arrays stored with the version (matrix,
    evidence), their column names, the model's summary, and each movie's rating as its learned
    bias tells it (``global mean + item bias``, placed from attributes for movies nobody
    rated)."""

    arrays: dict[str, NDArray[np.float64]]
    columns: tuple[str, ...]
    info: dict[str, Any]
    bias_rating: NDArray[np.float64]


def _learn_factors(
    ratings: _Ratings,
    movie_ids: NDArray[np.int64],
    policy: FactorPolicy,
    catalogue: NDArray[np.float64],
) -> _Learned | None:
    """Learned item feature rows for ``movie_ids`` from every rating (with the evidence of the
    ranking score when the model learns who-rated-what vectors), or None (too few ratings).
    Movies nobody rated are placed from their ``catalogue`` rows."""
    user_ids, rated_movie_ids, values = ratings
    _, users = np.unique(user_ids, return_inverse=True)
    n_users = int(users.max()) + 1 if len(users) else 0
    if len(values) < policy.min_ratings or n_users < policy.min_users:
        return None
    items = np.searchsorted(movie_ids, rated_movie_ids)
    # ALS is hundreds of thousands of small BLAS products (one 51 x 51 Gram matrix per user
    # and per movie): threads cost more than they give there, most of all on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        factors = fit_factors(users, items, values, n_users, len(movie_ids), policy.model.factors)
    fitted = factors.predict(users, items)
    factors = place_unrated_items(factors, catalogue, policy.model.placement_reg)
    matrix, columns = item_feature_columns(factors, policy.model.bias_weight)
    arrays = {"matrix": matrix}
    if (evidence := factors.evidence()) is not None:
        arrays["evidence"] = evidence
    info = {
        "ratings": len(values),
        "users": n_users,
        "train_rmse": float(np.sqrt(np.mean((fitted - values) ** 2))),
        "policy": policy.to_dict(),
    }
    return _Learned(arrays, columns, info, factors.global_mean + factors.item_bias)


def _rating_totals(
    session: Session, movie_ids: NDArray[np.int64], ratings: _Ratings | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each movie's number of ratings and their sum: from ``ratings`` when a retrain has read
    them all anyway, otherwise by one aggregate query."""
    if ratings is not None:
        _, rated_movie_ids, values = ratings
        rows = np.searchsorted(movie_ids, rated_movie_ids)
        counts = np.bincount(rows, minlength=len(movie_ids)).astype(np.float64)
        return counts, np.bincount(rows, weights=values, minlength=len(movie_ids))
    sums = np.zeros(len(movie_ids))
    counts = np.zeros(len(movie_ids))
    stats = session.execute(
        sa.select(Rating.movie_id, sa.func.count(), sa.func.sum(Rating.rating)).group_by(
            Rating.movie_id
        )
    ).all()
    if stats:
        rated_ids = np.array([row[0] for row in stats], dtype=np.int64)
        rows = np.searchsorted(movie_ids, rated_ids)
        counts[rows] = [row[1] for row in stats]
        sums[rows] = [row[2] for row in stats]
    return counts, sums


def build_features(
    session: Session,
    spec: FeatureSpec,
    scale: RatingScale,
    factors: FactorPolicy | None = None,
) -> tuple[dict[str, NDArray[Any]], tuple[str, ...], dict[str, Any]]:
    """Compute the arrays of a feature version from the catalogue and all ratings.

    With ``factors``, item factors are learned from the ratings when there are enough (see
    :class:`FactorPolicy`) and become the matrix; the catalogue matrix is stored beside it.
    """
    movie_ids, movies = _movie_attributes(session)
    features = build_feature_matrix(movies, spec)
    # The catalogue prior: the IMDb rating (0-10) rescaled to the rating scale.
    imdb = np.array([np.nan if m["imdb_rating"] is None else m["imdb_rating"] for m in movies])
    prior = np.clip(imdb / 10.0 * scale.maximum, scale.minimum, scale.maximum)
    # A retrain reads every rating once, for the totals and the factors alike: separate
    # aggregate queries would scan the whole ratings table again.
    ratings = None
    if factors is not None:
        ratings = rating_arrays(
            session, session.scalar(sa.select(sa.func.count()).select_from(Rating)) or 0
        )
    counts, sums = _rating_totals(session, movie_ids, ratings)
    learned = (
        None
        if factors is None or ratings is None
        else _learn_factors(ratings, movie_ids, factors, features.values)
    )
    if learned is not None:
        # A movie nobody rated and without an IMDb rating is anchored at its placed bias:
        # otherwise all such movies share the global mean as baseline (and, far from every
        # movie a user rated, one prediction).
        placed = scale.clip(learned.bias_rating)
        prior = np.where(np.isnan(prior) & (counts == 0), placed, prior)
    baseline, global_mean = item_baselines(prior, sums, counts)
    if np.isnan(global_mean):  # no ratings and no IMDb rating anywhere: the scale's middle
        global_mean = (scale.minimum + scale.maximum) / 2
        baseline = np.full(len(movie_ids), global_mean)
    votes = np.array([m["imdb_votes"] or 0 for m in movies], dtype=np.float64)
    popularity = (_percentile_rank(votes) + _percentile_rank(counts)) / 2
    arrays = {
        "movie_ids": movie_ids,
        "matrix": features.values,
        "item_baseline": baseline,
        "popularity": popularity,
        "global_mean": np.array(global_mean),
    }
    # A column missing everywhere has no median (NaN), which JSON cannot hold: store null.
    imputed = {name: None if np.isnan(v) else v for name, v in features.imputed.items()}
    meta: dict[str, Any] = {
        "imputed": imputed,
        "rated_movies": int((counts > 0).sum()),
        "features": FeatureKind.CATALOGUE,
    }
    columns = features.columns
    if learned is not None:
        arrays["catalogue_matrix"] = arrays["matrix"]
        arrays.update(learned.arrays)
        # Each movie's nearest movies, for the users who rated a large part of the catalogue
        # (recommender/engine/neighbour_lists.py): a catalogue-squared search, once per retrain.
        lists = build_neighbour_lists(arrays["matrix"])
        arrays["neighbour_rows"], arrays["neighbour_dist"] = lists.rows, lists.dist
        columns, meta["factors"] = learned.columns, learned.info
        meta["features"] = FeatureKind.FACTORS
        meta["catalogue_columns"] = list(features.columns)
        meta["predictor_options"] = factors.model.predictor_options().to_dict()
    elif factors is not None:
        meta["factors_skipped"] = (
            f"fewer than {factors.min_ratings:,} ratings or {factors.min_users:,} users"
        )
    return arrays, columns, meta


def _to_npz(arrays: Mapping[str, NDArray[Any]]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _from_row(row: FeatureSet) -> CatalogueFeatures:
    with np.load(io.BytesIO(row.arrays), allow_pickle=False) as data:
        movie_ids = data["movie_ids"]
        return CatalogueFeatures(
            version=row.version,
            movie_ids=movie_ids,
            matrix=data["matrix"],
            columns=tuple(row.columns),
            item_baseline=data["item_baseline"],
            popularity=data["popularity"],
            global_mean=float(data["global_mean"]),
            row_of_movie={int(m): i for i, m in enumerate(movie_ids)},
            evidence=data["evidence"] if "evidence" in data.files else None,
            neighbour_lists=(
                NeighbourLists(data["neighbour_rows"], data["neighbour_dist"])
                if "neighbour_rows" in data.files
                else None
            ),
            predictor_options=PredictorOptions.from_dict(
                (row.meta or {}).get("predictor_options", {})
            ),
        )


class FeatureStore:
    """Hands out the current feature version, building it when the catalogue has changed.

    The database check runs at most once every ``check_seconds`` per process, so a request
    normally costs no query here; after an import, workers switch within that interval.
    """

    def __init__(
        self,
        scale: RatingScale,
        spec: FeatureSpec = DEFAULT_SPEC,
        check_seconds: float = 2.0,
        factors: FactorPolicy | None = None,
    ) -> None:
        self.scale = scale
        self.spec = spec
        # Learned by ``rebuild`` (retrain) only: a catalogue change on the request path
        # builds the quick catalogue version (until the next retrain).
        self.factors = factors if factors is not None else FactorPolicy()
        self.check_seconds = check_seconds
        self._current: CatalogueFeatures | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self, session: Session) -> CatalogueFeatures | None:
        """Return the feature version for the catalogue as it is now (None: no movies yet)."""
        with self._lock:
            if self._current is None or time.monotonic() - self._checked_at > self.check_seconds:
                self._current = self._load_or_build(session)
                self._checked_at = time.monotonic()
            return self._current

    def expire(self) -> None:
        """Check the catalogue at the next ``current`` call instead of after ``check_seconds``:
        this process changed it (a merge deleted a movie) and must not serve the old version."""
        with self._lock:
            self._checked_at = float("-inf")

    def rebuild(self, session: Session) -> CatalogueFeatures:
        """Build a new version from the catalogue and every rating now (``retrain``), with
        learned item factors when there are enough ratings."""
        with self._lock:
            key, movie_count = _catalogue_key(session, self.spec, self.scale)
            if movie_count == 0:
                raise InvalidInput("The catalogue is empty: import one before retraining")
            self._current = self._build(session, key, self.factors)
            self._checked_at = time.monotonic()
            return self._current

    def kind(self, session: Session, features: CatalogueFeatures) -> FeatureKind:
        """What the matrix of the feature version ``features`` holds."""
        meta = session.scalar(
            sa.select(FeatureSet.meta).where(FeatureSet.version == features.version)
        )
        return FeatureKind((meta or {}).get("features", FeatureKind.CATALOGUE))

    def _load_or_build(self, session: Session) -> CatalogueFeatures | None:
        key, movie_count = _catalogue_key(session, self.spec, self.scale)
        if movie_count == 0:
            return None
        latest = session.execute(
            sa.select(FeatureSet.version, FeatureSet.catalogue_key)
            .order_by(FeatureSet.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.catalogue_key == key:
            if self._current is not None and self._current.version == latest.version:
                return self._current
            return _from_row(session.get_one(FeatureSet, latest.version))
        return self._build(session, key)

    def _build(
        self, session: Session, catalogue_key: str, factors: FactorPolicy | None = None
    ) -> CatalogueFeatures:
        state: list[Any] = [catalogue_key, _ratings_marker(session)]
        if factors is not None:  # a retrain's version differs from a catalogue-only one
            state.append(factors.to_dict())
        fingerprint = hashlib.sha256(json.dumps(state).encode()).hexdigest()
        existing = session.scalar(
            sa.select(FeatureSet).where(FeatureSet.fingerprint == fingerprint)
        )
        if existing is not None:
            return _from_row(existing)
        arrays, columns, meta = build_features(session, self.spec, self.scale, factors)
        row = FeatureSet(
            fingerprint=fingerprint,
            catalogue_key=catalogue_key,
            columns=list(columns),
            arrays=_to_npz(arrays),
            meta=meta,
        )
        session.add(row)
        try:
            session.commit()
        except sa.exc.IntegrityError:
            # Another worker built the same state first: use its row.
            session.rollback()
            row = session.scalars(
                sa.select(FeatureSet).where(FeatureSet.fingerprint == fingerprint)
            ).one()
        return _from_row(row)
