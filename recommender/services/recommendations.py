"""Recommendations: the per-user KNN above k ratings, the cold-start fallback at or below,
explanations, and the prediction cache with incremental updates (DESIGN §3, §5, §5b, §6).

Lists are ordered by the ranking score (what to watch next; ties by predicted rating) and
each item shows its predicted rating too.

The KNN regresses the user's residuals over the item baselines of the feature version and adds
the baseline back. A user's own offset would cancel out of a weighted mean of residuals, so the
KNN path needs none; the cold-start path adds a damped user offset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session, selectinload

from recommender.engine.predictor import (
    CatalogueFeatures,
    Neighbour,
    PredictorSettings,
    UserPredictions,
    UserRatings,
    cold_start_predictions,
    cold_start_scores,
    compute_predictions,
    is_personal,
    personal_goal,
    settings_for,
    update_predictions,
    weight_shares,
)
from recommender.models import Genre, Movie, Rating, User
from recommender.services import lists
from recommender.services.cache import Cache, LRUCache, RedisCache
from recommender.services.catalogue import movie_to_dict
from recommender.services.errors import Conflict, NotFound
from recommender.services.feature_store import FactorPolicy, FeatureStore

if TYPE_CHECKING:
    # A type only: services take plain values and never load the app's settings module.
    from recommender.settings import Settings


# Bumped whenever UserPredictions gains or changes arrays (2: the ranking score's arrays).
ENTRY_LAYOUT = 2


def prediction_cache_key(user_id: int) -> str:
    """The cache key of a user's predictions entry. The entry's layout is in it: entries of an
    older layout (a shared Redis across a deploy) are never read back into this one."""
    return f"predictions:{ENTRY_LAYOUT}:{user_id}"


ORDERS = ("match", "rating")


class Versions(NamedTuple):
    """What a user's recommendations depend on besides the catalogue: their ratings and their
    hidden / watch-later lists, each with a version bumped on every change."""

    ratings: int
    lists: int


@dataclass(frozen=True)
class ListOptions:
    """Which unrated movies a recommendations list holds, in what order, and which page of it.

    ``order`` is ``match`` (the ranking score, ties by predicted rating) or ``rating`` (the
    predicted rating, ties by the score); ``exclude`` holds movie ids left out of the list.
    """

    order: str = "match"
    genre: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    exclude: tuple[int, ...] = field(default=())
    page: int = 1

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        # Sorted and unique, so equal option sets give one response cache key.
        object.__setattr__(self, "exclude", tuple(sorted(set(self.exclude))))

    @property
    def filters_movies(self) -> bool:
        return self.genre is not None or self.year_min is not None or self.year_max is not None

    def allowed_rows(self, session: Session, features: CatalogueFeatures) -> NDArray[np.bool_]:
        """A mask over the feature version's rows: True where the movie passes every filter."""
        allowed = np.ones(len(features.movie_ids), dtype=bool)
        if self.filters_movies:
            allowed[:] = False
            allowed[
                [
                    features.row_of_movie[m]
                    for m in self._matching_ids(session)
                    if m in features.row_of_movie
                ]
            ] = True
        excluded = [features.row_of_movie[m] for m in self.exclude if m in features.row_of_movie]
        allowed[excluded] = False
        return allowed

    def _matching_ids(self, session: Session) -> list[int]:
        query = sa.select(Movie.id)
        if self.genre is not None:
            query = query.where(Movie.genres.any(sa.func.lower(Genre.name) == self.genre.lower()))
        if self.year_min is not None:
            query = query.where(Movie.year >= self.year_min)
        if self.year_max is not None:
            query = query.where(Movie.year <= self.year_max)
        return list(session.scalars(query))


def _top(order_keys: Sequence[NDArray[Any]], limit: int) -> NDArray[np.intp]:
    """Indices of the ``limit`` best rows by the keys (first key most significant, descending)."""
    primary = order_keys[0]
    if len(primary) > limit:
        candidates = np.argpartition(-primary, limit - 1)[:limit]
        # Rows tied with the limit-th score may sit outside the partition: take them all.
        cutoff = primary[candidates].min()
        candidates = np.flatnonzero(primary >= cutoff)
    else:
        candidates = np.arange(len(primary))
    keys = [-key[candidates] for key in reversed(order_keys)]
    return candidates[np.lexsort(keys)][:limit]


def _order_keys(
    options: ListOptions, score: NDArray[Any], predicted: NDArray[Any]
) -> list[NDArray[Any]]:
    return [score, predicted] if options.order == "match" else [predicted, score]


def _page(order_keys: Sequence[NDArray[Any]], offset: int, limit: int) -> NDArray[np.intp]:
    """Indices of rows ``offset`` to ``offset + limit`` in the keys' order."""
    if offset >= len(order_keys[0]):
        return np.empty(0, dtype=np.intp)
    return _top(order_keys, offset + limit)[offset:]


# --------------------------------------------------------------------------------------------
# The service: database, cache and response shapes
# --------------------------------------------------------------------------------------------


class _Response:
    """A finished recommendations body and, once asked for, its JSON encoding."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self._json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = json.dumps(self.body, separators=(",", ":")).encode()
        return self._json


class Recommender:
    """Serves recommendations and predictions; one per app, shared by its requests."""

    def __init__(
        self,
        feature_store: FeatureStore,
        cache: Cache[UserPredictions],
        settings: PredictorSettings,
    ) -> None:
        self.feature_store = feature_store
        self.cache = cache
        self.settings = settings
        # Finished responses with their JSON, keyed by every version they depend on: a warm
        # request costs a dictionary lookup (serialising 20 items x k neighbours each time
        # cost several times the rest of the request).
        self.responses: LRUCache[_Response] = LRUCache(max_size=2048)

    def recommend(
        self,
        session: Session,
        user_id: int,
        limit: int,
        versions: Versions | None = None,
        options: ListOptions | None = None,
    ) -> dict[str, Any]:
        """One page of ``limit`` unrated movies with predictions and explanations, and the
        ``total`` that pass the options' filters. Hidden films and films on the watch list
        (services/lists.py) are never in it.

        ``versions`` are the user's (ratings, lists) versions as already read in this request
        (by the token check), which saves a query; they must be read before the ratings.
        """
        return self._response(session, user_id, limit, versions, options).body

    def recommend_json(
        self,
        session: Session,
        user_id: int,
        limit: int,
        versions: Versions | None,
        options: ListOptions,
    ) -> bytes:
        """:meth:`recommend` encoded as JSON, cached with it (the API's route: it has read the
        versions and parsed the options already)."""
        return self._response(session, user_id, limit, versions, options).json

    def _response(
        self,
        session: Session,
        user_id: int,
        limit: int,
        versions: Versions | None,
        options: ListOptions | None,
    ) -> _Response:
        options = options or ListOptions()
        if versions is None:
            versions = self.user_versions(session, user_id)
        version, lists_version = versions
        features = self.feature_store.current(session)
        # Every option is in the key (a frozen dataclass's repr lists them all), and the lists'
        # version: hiding a film or adding it to the watch list changes the list at once.
        key = (
            f"{user_id}:{version}:{lists_version}:{features and features.version}:{limit}:"
            f"{options!r}"
        )
        response = self.responses.get(key)
        if response is None:
            body = self._recommend(session, user_id, version, features, limit, options)
            response = _Response(body)
            self.responses.set(key, response)
        return response

    def _recommend(
        self,
        session: Session,
        user_id: int,
        version: int,
        features: CatalogueFeatures | None,
        limit: int,
        options: ListOptions,
    ) -> dict[str, Any]:
        ratings = self.user_ratings(session, user_id, features)
        header = self._header(len(ratings))
        header.update(page=options.page, per_page=limit)
        if features is None:
            return {**header, "total": 0, "items": []}
        allowed = options.allowed_rows(session, features)
        listed = [
            features.row_of_movie[m]
            for m in lists.excluded_ids(session, user_id)
            if m in features.row_of_movie
        ]
        allowed[listed] = False
        offset = (options.page - 1) * limit
        if header["source"] == "cold_start":
            predicted = cold_start_predictions(features, ratings, self.settings)
            score = cold_start_scores(features, ratings, self.settings)
            allowed[ratings.rows] = False
            rows = np.flatnonzero(allowed)
            best = rows[_page(_order_keys(options, score[rows], predicted[rows]), offset, limit)]
            items = [(row, score[row], predicted[row], None) for row in best]
        else:
            entry = self._predictions(features, user_id, ratings, version)
            rows = np.flatnonzero(allowed[entry.unrated_rows])
            keys = _order_keys(options, entry.score[rows], entry.predicted[rows])
            best = rows[_page(keys, offset, limit)]
            items = [
                (
                    entry.unrated_rows[i],
                    entry.score[i],
                    entry.predicted[i],
                    self._neighbours_of(features, entry, i),
                )
                for i in best
            ]
        return {**header, "total": len(rows), "items": self._render(session, features, items)}

    def predict(self, session: Session, user_id: int, movie_id: int) -> dict[str, Any]:
        """One movie's prediction for the user, with its neighbours."""
        version = self._ratings_version(session, user_id)
        features = self.feature_store.current(session)
        ratings = self.user_ratings(session, user_id, features)
        row = None if features is None else features.row_of_movie.get(movie_id)
        if features is None or row is None:
            raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
        if row in set(ratings.rows.tolist()):
            raise Conflict(
                f"You rated movie {movie_id} already; predictions are for unrated movies",
                {"movie_id": movie_id},
            )
        header = self._header(len(ratings))
        if header["source"] == "cold_start":
            value = cold_start_predictions(features, ratings, self.settings)[row]
            score = cold_start_scores(features, ratings, self.settings)[row]
            item = (row, score, value, None)
        else:
            entry = self._predictions(features, user_id, ratings, version)
            i = int(np.searchsorted(entry.unrated_rows, row))
            item = (
                row,
                entry.score[i],
                entry.predicted[i],
                self._neighbours_of(features, entry, i),
            )
        rendered = self._render(session, features, [item])
        if not rendered:  # merged away since this feature version was loaded
            raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
        return {**header, **rendered[0]}

    def user_ratings(
        self, session: Session, user_id: int, features: CatalogueFeatures | None
    ) -> UserRatings:
        """The user's ratings of movies in the feature version (one query)."""
        if features is None:
            return UserRatings.none()
        pairs = session.execute(
            sa.select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id)
        ).all()
        known = [(features.row_of_movie.get(m), r) for m, r in pairs]
        known = [(row, r) for row, r in known if row is not None]
        return UserRatings(
            np.array([row for row, _ in known], dtype=np.intp),
            np.array([r for _, r in known], dtype=np.float64),
        )

    def personal_predictions(
        self, session: Session, user_id: int
    ) -> tuple[CatalogueFeatures, UserPredictions] | None:
        """The user's cached predictions entry (every unrated movie) and its feature version,
        made when missing; None during cold start or without a catalogue."""
        version = self._ratings_version(session, user_id)
        features = self.feature_store.current(session)
        if features is None:
            return None
        ratings = self.user_ratings(session, user_id, features)
        if not is_personal(len(ratings), self.settings.k):
            return None
        return features, self._predictions(features, user_id, ratings, version)

    def order_by_prediction(
        self, session: Session, user_id: int, movie_ids: Sequence[int] | None = None
    ) -> NDArray[np.int64] | None:
        """Movie ids ordered for the catalogue's "predicted for you" sort: the unrated ones by
        predicted rating, highest first, then the rated ones by the user's rating, then any
        outside the feature version; ``movie_ids`` None means every movie of the feature
        version. From the cached predictions entry (a cache miss makes it, as any request
        does); None during cold start or without a catalogue. Vectorised: 62,000 movies order
        in a few milliseconds."""
        personal = self.personal_predictions(session, user_id)
        if personal is None:
            return None
        features, entry = personal
        all_ids = np.asarray(features.movie_ids, dtype=np.int64)
        value = np.full(len(all_ids), -np.inf)
        value[entry.unrated_rows] = entry.predicted
        value[entry.rated_rows] = entry.rated_values
        unrated = np.zeros(len(all_ids), dtype=bool)
        unrated[entry.unrated_rows] = True
        if movie_ids is None:
            ids, rows, known = all_ids, np.arange(len(all_ids)), np.ones(len(all_ids), bool)
        else:
            ids = np.asarray(movie_ids, dtype=np.int64)
            by_id = np.argsort(all_ids)
            at = np.searchsorted(all_ids, ids, sorter=by_id).clip(0, max(len(all_ids) - 1, 0))
            rows = by_id[at]
            known = all_ids[rows] == ids
        # np.lexsort sorts by the last key first: unrated before rated, then value, then id.
        keys = (ids, -np.where(known, value[rows], -np.inf), ~(known & unrated[rows]))
        return ids[np.lexsort(keys)]

    # -- internals ---------------------------------------------------------------------------

    def _header(self, ratings_count: int) -> dict[str, Any]:
        k = self.settings.k
        return {
            "source": "knn" if is_personal(ratings_count, k) else "cold_start",
            "k": k,
            "ratings_count": ratings_count,
            "needed": max(personal_goal(k) - ratings_count, 0),
        }

    def user_versions(self, session: Session, user_id: int) -> Versions:
        """The user's (ratings version, lists version), read in one query before the ratings
        (see ``_ratings_version``)."""
        row = session.execute(
            sa.select(User.ratings_version, User.lists_version).where(User.id == user_id)
        ).first()
        if row is None:
            raise NotFound(f"User {user_id} does not exist", {"user_id": user_id})
        return Versions(row[0], row[1])

    def _ratings_version(self, session: Session, user_id: int) -> int:
        # Read before the ratings: they are then at least that new, so an entry cached under
        # this version never holds older ratings than it claims.
        version = session.scalar(sa.select(User.ratings_version).where(User.id == user_id))
        if version is None:
            raise NotFound(f"User {user_id} does not exist", {"user_id": user_id})
        return version

    def _predictions(
        self,
        features: CatalogueFeatures,
        user_id: int,
        ratings: UserRatings,
        version: int,
    ) -> UserPredictions:
        """The cached entry for (user, ratings version, feature version), made when missing.

        One cache key per user holds the newest entry, tagged with both versions: a tag that
        does not match makes it a miss, so stale predictions are never served. An entry of the
        same feature version is updated incrementally instead of recomputed.
        """
        key = prediction_cache_key(user_id)
        cached = self.cache.get(key)
        if (
            cached is not None
            and cached.ratings_version == version
            and cached.feature_version == features.version
        ):
            return cached
        if cached is not None and cached.feature_version == features.version:
            entry = update_predictions(
                features, cached, ratings, self.settings, ratings_version=version
            )
        else:
            entry = compute_predictions(
                features, ratings, self.settings, user_id=user_id, ratings_version=version
            )
        self.cache.set(key, entry)
        return entry

    def _neighbours_of(
        self, features: CatalogueFeatures, entry: UserPredictions, i: int
    ) -> list[Neighbour]:
        # The entry holds max(k, ranking_k) neighbours; the prediction's are the first k.
        k = self.settings.k
        rows = entry.neighbour_rows[i, :k]
        dist = entry.neighbour_dist[i, :k]
        # The feature version may ask for other weights (learned factors: cosine2).
        shares = weight_shares(dist[None, :], settings_for(features, self.settings))[0]
        rating_at = np.searchsorted(entry.rated_rows, rows)
        return [
            (int(row), float(entry.rated_values[at]), float(d), float(share))
            for row, at, d, share in zip(rows, rating_at, dist, shares, strict=True)
        ]

    def _render(
        self,
        session: Session,
        features: CatalogueFeatures,
        items: list[tuple[int, float, float, list[Neighbour] | None]],
    ) -> list[dict[str, Any]]:
        """Attach movies and neighbour titles (two queries for the whole list). Each item is
        (row, ranking score, predicted rating, neighbours or None during cold start)."""
        movie_ids = [int(features.movie_ids[row]) for row, _, _, _ in items]
        neighbour_ids = {int(features.movie_ids[n[0]]) for _, _, _, ns in items if ns for n in ns}
        movies = {
            m.id: m
            for m in session.scalars(
                sa.select(Movie).where(Movie.id.in_(movie_ids)).options(selectinload(Movie.genres))
            )
        }
        titles = dict(
            session.execute(
                sa.select(Movie.id, Movie.title).where(Movie.id.in_(neighbour_ids))
            ).all()
        )
        rendered = []
        for movie_id, (_, score, value, neighbours) in zip(movie_ids, items, strict=True):
            if movie_id not in movies:
                # Merged away since this process loaded its feature version (services/merge.py):
                # left out until the feature store's next check builds the new version.
                continue
            rendered.append(
                {
                    "movie": movie_to_dict(movies[movie_id]),
                    "score": round(float(score), 6),
                    "predicted_rating": round(float(value), 3),
                    "source": "knn" if neighbours is not None else "cold_start",
                    "neighbours": [
                        {
                            "movie_id": (nid := int(features.movie_ids[row])),
                            "title": titles.get(nid, ""),
                            "rating": rating,
                            "distance": round(d, 6),
                            "weight": round(share, 6),
                        }
                        for row, rating, d, share in neighbours or []
                    ],
                }
            )
        return rendered


def build_recommender(settings: Settings) -> Recommender:
    """A recommender from the app's settings: in-process cache, or Redis when CACHE_URL is set."""
    scale = settings.rating_scale
    predictor = PredictorSettings(k=settings.k, scale=scale)
    store = FeatureStore(
        scale,
        check_seconds=settings.feature_check_seconds,
        factors=FactorPolicy(min_ratings=settings.factor_min_ratings),
    )
    cache: Cache[UserPredictions]
    if settings.cache_url:
        cache = RedisCache(
            settings.cache_url,
            settings.cache_ttl_seconds,
            dumps=UserPredictions.to_bytes,
            loads=UserPredictions.from_bytes,
        )
    else:
        cache = LRUCache(settings.cache_max_mb * 1024 * 1024, size_of=lambda e: e.nbytes)
    return Recommender(store, cache, predictor)
