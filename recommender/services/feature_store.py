"""The catalogue feature matrix and item baselines: built once per feature version, persisted in
the database so every worker and machine shares it, and held in memory per process.

A new version is built when the catalogue changes (an import) or on ``retrain``; ratings made
through the app do not rebuild it (the item baselines are a snapshot, refreshed by a retrain).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from recommender.engine.features import DEFAULT_SPEC, FeatureSpec, build_feature_matrix
from recommender.engine.predictor import CatalogueFeatures, item_baselines
from recommender.models import FeatureSet, Genre, Movie, Rating, movie_genres
from recommender.services.errors import InvalidInput


@dataclass(frozen=True)
class BaselineSettings:
    """The rating scale the baselines live on."""

    rating_min: float
    rating_max: float


def _catalogue_key(session: Session, spec: FeatureSpec, scale: BaselineSettings) -> tuple[str, int]:
    """A digest of the catalogue's state and the build settings, and the number of movies."""
    count, max_id, last_update = session.execute(
        sa.select(sa.func.count(Movie.id), sa.func.max(Movie.id), sa.func.max(Movie.updated_at))
    ).one()
    state = [count, max_id, str(last_update), spec.to_dict(), scale.rating_min, scale.rating_max]
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


def build_features(
    session: Session, spec: FeatureSpec, scale: BaselineSettings
) -> tuple[dict[str, NDArray[Any]], tuple[str, ...], dict[str, Any]]:
    """Compute the arrays of a feature version from the catalogue and all ratings."""
    movie_ids, movies = _movie_attributes(session)
    features = build_feature_matrix(movies, spec)
    # The catalogue prior: the IMDb rating (0-10) rescaled to the rating scale.
    imdb = np.array([np.nan if m["imdb_rating"] is None else m["imdb_rating"] for m in movies])
    prior = np.clip(imdb / 10.0 * scale.rating_max, scale.rating_min, scale.rating_max)
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
    baseline, global_mean = item_baselines(prior, sums, counts)
    if np.isnan(global_mean):  # no ratings and no IMDb rating anywhere: the scale's middle
        global_mean = (scale.rating_min + scale.rating_max) / 2
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
    meta = {"imputed": imputed, "rated_movies": int((counts > 0).sum())}
    return arrays, features.columns, meta


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
        )


class FeatureStore:
    """Hands out the current feature version, building it when the catalogue has changed.

    The database check runs at most once every ``check_seconds`` per process, so a request
    normally costs no query here; after an import, workers switch within that interval.
    """

    def __init__(
        self,
        scale: BaselineSettings,
        spec: FeatureSpec = DEFAULT_SPEC,
        check_seconds: float = 2.0,
    ) -> None:
        self.scale = scale
        self.spec = spec
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

    def rebuild(self, session: Session) -> CatalogueFeatures:
        """Build a new version from the catalogue and every rating now (``retrain``)."""
        with self._lock:
            key, movie_count = _catalogue_key(session, self.spec, self.scale)
            if movie_count == 0:
                raise InvalidInput("The catalogue is empty: import one before retraining")
            self._current = self._build(session, key)
            self._checked_at = time.monotonic()
            return self._current

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

    def _build(self, session: Session, catalogue_key: str) -> CatalogueFeatures:
        fingerprint = hashlib.sha256(
            json.dumps([catalogue_key, _ratings_marker(session)]).encode()
        ).hexdigest()
        existing = session.scalar(
            sa.select(FeatureSet).where(FeatureSet.fingerprint == fingerprint)
        )
        if existing is not None:
            return _from_row(existing)
        arrays, columns, meta = build_features(session, self.spec, self.scale)
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
