"""The per-user KNN predictor the service runs and the evaluation scores (DESIGN §5, §6).

Numpy only. Movies are rows of a feature matrix with an item baseline each; a user's ratings
are a :class:`UserRatings` (rows, values). Above k ratings (:func:`is_personal`) the KNN
regresses the user's residuals over the baselines and adds the baseline back; a user's own
offset would cancel out of the weighted mean of residuals, so it needs none. At or below k,
cold start is the baseline plus a damped offset.

One prediction rule (:func:`_predict_rows`) serves the full computation, the incremental
update, the evaluation's predictions and the explanation of one prediction.

The same neighbours give the second answer, the ranking score (:func:`_score_rows`, DESIGN
§5b): how strongly the user's own rated movies vote for a candidate. Each of the k nearest
rated movies votes with its similarity, more when the user liked it (rating above the user's
mean) and against when the user disliked it; every rated movie adds the same vote through its
plain cosine to the candidate, scaled down (the profile vote: the user's taste as a whole); and
the sum is scaled by the candidate's evidence (how much the learned space knows about it).
Recommendations are ordered by it; :func:`ranking_scores` gives it for every movie, for the
service and the evaluation alike.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.engine import _search
from recommender.engine.distances import check_metric, pairwise_distances
from recommender.engine.knn import KNNRegressor, QueryMatrix, WeightsCallable, neighbor_weights
from recommender.engine.neighbour_lists import NeighbourLists, nearest_rated, worth_using
from recommender.engine.scale import RatingScale

# Shrinks a movie's mean rating toward its prior: a movie with n ratings moves n/(n + 5) of the
# way from the prior to its own mean.
ITEM_DAMPING = 5.0


def item_baselines(
    prior: NDArray[np.float64],
    rating_sums: NDArray[np.float64],
    rating_counts: NDArray[np.float64],
    damping: float = ITEM_DAMPING,
) -> tuple[NDArray[np.float64], float]:
    """Damped item means shrunk toward ``prior`` (NaN where unknown: the global mean).

    ``baseline_i = (sum_i + damping * anchor_i) / (count_i + damping)``, where ``anchor_i`` is
    the prior when known and the global mean of all ratings otherwise. With no ratings at all
    the baseline is the prior itself. Returns ``(baselines, global_mean)``.
    """
    total = rating_counts.sum()
    known_prior = prior[~np.isnan(prior)]
    if total > 0:
        global_mean = float(rating_sums.sum() / total)
    elif known_prior.size:
        global_mean = float(known_prior.mean())
    else:
        global_mean = float("nan")
    anchor = np.where(np.isnan(prior), global_mean, prior)
    return (rating_sums + damping * anchor) / (rating_counts + damping), global_mean


def is_personal(ratings_count: int, k: int) -> bool:
    """Whether a user with ``ratings_count`` ratings gets KNN predictions (more than k) rather
    than cold start."""
    return ratings_count > k


def personal_goal(k: int) -> int:
    """The number of ratings from which predictions are personal (k + 1)."""
    return k + 1


@dataclass(frozen=True, eq=False)
class UserRatings:
    """One user's ratings: catalogue matrix rows and the ratings, in ascending row order.

    Row order is the engine's tie order (equal distances go to the lower row), so every
    computation over the ratings sees them the same way; construction sorts them.
    """

    rows: NDArray[np.intp]
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        rows = np.asarray(self.rows, dtype=np.intp)
        values = np.asarray(self.values, dtype=np.float64)
        if rows.ndim != 1 or rows.shape != values.shape:
            raise ValueError(
                f"Expected rows and values of the same length, got {rows.shape} and {values.shape}"
            )
        order = np.argsort(rows, kind="stable")
        object.__setattr__(self, "rows", rows[order])
        object.__setattr__(self, "values", values[order])

    @classmethod
    def none(cls) -> UserRatings:
        """A user without ratings."""
        return cls(np.empty(0, np.intp), np.empty(0))

    def __len__(self) -> int:
        return len(self.rows)


def _check_weights_name(weights: object) -> None:
    names = ("uniform", "distance", *SIMILARITY_WEIGHTS)
    if weights not in names:
        raise ValueError(f"Unknown weights {weights!r}; expected one of {', '.join(names)}")


def _check_shrinkage(shrinkage: float) -> None:
    if shrinkage < 0:
        raise ValueError(f"Expected shrinkage >= 0, got {shrinkage}")


@dataclass(frozen=True)
class PredictorSettings:
    """How predictions are made; built from the app's settings by the caller."""

    k: int
    # Predictions never leave the scale (they are clipped to its range).
    scale: RatingScale
    metric: str = "euclidean"
    # "uniform", "distance" (1/d) or a similarity weight of SIMILARITY_WEIGHTS ("cosine2":
    # cos^2 on L2-normalised rows, where euclidean d gives cos = 1 - d^2 / 2).
    weights: str = "distance"
    # The cold-start user offset moves n/(n + 10) of the way to the user's mean residual.
    user_damping: float = 10.0
    # Added to the sum of the weights: the KNN's correction shrinks toward the baseline when
    # the neighbours are few or dissimilar (0: plain weighted mean). Meant for similarity
    # weights, which lie in [0, 1]; 1/d weights have no fixed scale.
    shrinkage: float = 0.0
    # Add the user's damped offset (user_damping) to the KNN baseline too. Without shrinkage
    # it cancels out of the weighted mean of residuals; with shrinkage it is what the
    # prediction shrinks toward.
    user_offset: bool = False
    # Ranking score: a rated neighbour votes with similarity * (1 + like_weight * (r - mean)),
    # so one rated 1 / like_weight above the user's mean counts twice, one as far below not
    # at all, and one further below votes against.
    like_weight: float = 0.5
    # The ranking score counts this many nearest rated movies: one neighbour search finds
    # max(k, ranking_k) of them, the prediction uses the first k. Without the profile vote
    # below, validation (--select) preferred 80, which at 62,000 movies cost 2x the
    # rating-only path's search; with it 20 ranks as well as 40 or 80.
    ranking_k: int = 20
    # Every rated movie also votes, with its plain cosine to the candidate (negative: against)
    # times the same (1 + like_weight (r - mean)), scaled by this: the user's taste as a whole
    # beside the nearest neighbours' vote (the k = all, linear-kernel limit of the same vote).
    # On ML-100K it ranks like a search of 80 neighbours for one matrix-vector product
    # (bench/ranking_probe.py --select chose 0.4 inside the training split).
    profile_weight: float = 0.4
    # At or below k ratings the ranking score starts from popularity (in [0, 1]) x the item
    # baseline x this (chosen by bench/ranking_probe.py --select, as like_weight).
    popularity_weight: float = 0.3

    def __post_init__(self) -> None:
        _check_weights_name(self.weights)
        _check_shrinkage(self.shrinkage)
        if self.like_weight < 0:
            raise ValueError(f"Expected like_weight >= 0, got {self.like_weight}")
        if self.ranking_k < 1:
            raise ValueError(f"Expected ranking_k >= 1, got {self.ranking_k}")
        if self.profile_weight < 0:
            raise ValueError(f"Expected profile_weight >= 0, got {self.profile_weight}")

    def search_k(self, ratings_count: int) -> int:
        """Neighbours one search finds for both answers: max(k, ranking_k), at most the
        ratings there are."""
        return min(max(self.k, self.ranking_k), ratings_count)


# The type each predictor option must have (bool is refused where a number is expected).
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "metric": (str,),
    "weights": (str,),
    "shrinkage": (int, float),
    "user_offset": (bool,),
    "user_damping": (int, float),
}


@dataclass(frozen=True)
class PredictorOptions:
    """What a feature version asks of the predictor, over the service's :class:`PredictorSettings`.

    Each option left None keeps the service's setting. Stored with the feature version as
    :meth:`to_dict` (only the options set) and read back by :meth:`from_dict`, which refuses
    unknown keys and wrong types, so a bad stored option fails where it is read, not at
    request time.
    """

    metric: str | None = None
    weights: str | None = None
    shrinkage: float | None = None
    user_offset: bool | None = None
    user_damping: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            expected = _OPTION_TYPES[name]
            if not isinstance(value, expected) or (
                isinstance(value, bool) and bool not in expected
            ):
                raise ValueError(f"Predictor option {name!r} has the wrong type: {value!r}")
        if self.metric is not None:
            check_metric(self.metric)
        if self.weights is not None:
            _check_weights_name(self.weights)
        if self.shrinkage is not None:
            _check_shrinkage(self.shrinkage)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> PredictorOptions:
        """Options from their stored form; unknown keys are a ``ValueError`` naming them."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"Unknown predictor options {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(known)}"
            )
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """The options set (None ones left out), JSON-able."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def apply(self, settings: PredictorSettings) -> PredictorSettings:
        """``settings`` with these options in place of the service's."""
        chosen = self.to_dict()
        return replace(settings, **chosen) if chosen else settings


@dataclass(frozen=True)
class CatalogueFeatures:
    """One feature version, ready for the engine. Rows are movies in ascending id order."""

    version: int
    movie_ids: NDArray[np.int64]
    matrix: NDArray[np.float64]
    columns: tuple[str, ...]
    item_baseline: NDArray[np.float64]
    popularity: NDArray[np.float64]
    global_mean: float
    row_of_movie: Mapping[int, int] = field(repr=False)
    # Each movie's confidence for the ranking score (the norm of its who-rated-what vector;
    # None: all equal).
    evidence: NDArray[np.float64] | None = field(default=None, repr=False)
    # What this version asks of the predictor (learned item factors want cosine2 weights,
    # shrinkage and the user offset); applied by :func:`settings_for` over the service's.
    predictor_options: PredictorOptions = field(default_factory=PredictorOptions, repr=False)
    sq_norms: NDArray[np.float64] = field(init=False, repr=False)
    # Each movie's nearest movies, for users who rated a large part of the catalogue (built at
    # retrain; None: every search is a full one).
    neighbour_lists: NeighbourLists | None = field(default=None, repr=False)
    # The matrix validated once as the engine's queries (a request searches its rows).
    queries: QueryMatrix = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Squared row norms, for screening distances to a new rating without a full pass.
        object.__setattr__(self, "sq_norms", np.einsum("ij,ij->i", self.matrix, self.matrix))
        object.__setattr__(self, "queries", QueryMatrix(self.matrix))

    def rows_for(self, movie_ids: NDArray[np.int64]) -> NDArray[np.intp]:
        """Matrix rows of ``movie_ids`` (all must be in the catalogue)."""
        rows = np.searchsorted(self.movie_ids, movie_ids)
        return rows.astype(np.intp)


# Added to every similarity weight: it keeps a row's sum positive when no neighbour is similar.
SIMILARITY_FLOOR = 1e-12


def _clipped_cosine(dist: NDArray[np.float64]) -> NDArray[np.float64]:
    """``max(cos, 0)`` with ``cos = 1 - d^2 / 2``: the cosine of L2-normalised rows ``d`` apart."""
    return np.maximum(1.0 - dist**2 / 2.0, 0.0)


def _cosine_power(power: int) -> WeightsCallable:
    def weights(dist: NDArray[np.float64]) -> NDArray[np.float64]:
        return _clipped_cosine(dist) ** power + SIMILARITY_FLOOR

    return weights


# Similarity-style weights for L2-normalised feature rows (cosine geometry).
SIMILARITY_WEIGHTS: dict[str, WeightsCallable] = {
    "cosine": _cosine_power(1),
    "cosine2": _cosine_power(2),
}


def engine_weights(name: str) -> str | WeightsCallable:
    """What the engine takes for the weights ``name``: the name itself or a callable."""
    return SIMILARITY_WEIGHTS.get(name, name)


def settings_for(features: CatalogueFeatures, settings: PredictorSettings) -> PredictorSettings:
    """``settings`` with the options the feature version asks for."""
    return features.predictor_options.apply(settings)


# (matrix row, the user's rating, distance, share of the prediction)
Neighbour = tuple[int, float, float, float]


@dataclass(frozen=True)
class UserPredictions:
    """Every unrated movie's prediction for one user, with its neighbours: the cache entry.

    Rows are catalogue matrix rows. ``neighbour_rows[i]`` are the rated rows nearest to
    ``unrated_rows[i]``, nearest first, with their distances: ``settings.search_k`` of them,
    the first k the prediction's, the first ``ranking_k`` the ranking score's.
    """

    user_id: int
    ratings_version: int
    feature_version: int
    rated_rows: NDArray[np.intp]
    rated_values: NDArray[np.float64]
    unrated_rows: NDArray[np.intp]
    neighbour_rows: NDArray[np.int32]
    neighbour_dist: NDArray[np.float64]
    predicted: NDArray[np.float64]
    # Per row: the sum of the neighbours' similarities and of similarity x rating, from which
    # the ranking score follows for any user mean (see _score_rows); kept so that a rating
    # change re-sums only the rows whose neighbours changed.
    vote_sums: NDArray[np.float64]
    # The ranking score of each unrated row (higher: watch it sooner).
    score: NDArray[np.float64]

    _ARRAYS = (
        "rated_rows",
        "rated_values",
        "unrated_rows",
        "neighbour_rows",
        "neighbour_dist",
        "predicted",
        "vote_sums",
        "score",
    )

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self._ARRAYS)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        versions = np.array([self.user_id, self.ratings_version, self.feature_version])
        np.savez(buffer, versions=versions, **{n: getattr(self, n) for n in self._ARRAYS})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> UserPredictions:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            user_id, ratings_version, feature_version = (int(v) for v in arrays["versions"])
            return cls(
                user_id,
                ratings_version,
                feature_version,
                **{name: arrays[name] for name in cls._ARRAYS},
            )


# --------------------------------------------------------------------------------------------
# Computing predictions (numpy over the engine; no database)
# --------------------------------------------------------------------------------------------


def _residuals(features: CatalogueFeatures, ratings: UserRatings) -> NDArray[np.float64]:
    return ratings.values - features.item_baseline[ratings.rows]


def user_offset(
    features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
) -> float:
    """The user's damped offset: ``sum(r - baseline) / (n + user_damping)`` (0 without ratings)."""
    return float(_residuals(features, ratings).sum() / (len(ratings) + settings.user_damping))


def _fit(
    features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
) -> KNNRegressor:
    model = KNNRegressor(
        n_neighbors=settings.k, weights=engine_weights(settings.weights), metric=settings.metric
    )
    return model.fit(features.matrix[ratings.rows], _residuals(features, ratings))


def weight_shares(dist: NDArray[np.float64], settings: PredictorSettings) -> NDArray[np.float64]:
    """Each neighbour's share of its prediction's correction to the baseline.

    ``w_i / (sum(w) + shrinkage)``: rows sum to 1 without shrinkage, to less with it (the rest
    stays with the baseline).
    """
    weights = neighbor_weights(dist, engine_weights(settings.weights))
    if weights is None:
        weights = np.ones(dist.shape)
    return weights / (weights.sum(axis=1, keepdims=True) + settings.shrinkage)


# The weights of the ranking vote (not a setting): the clipped cosine itself.
VOTE_WEIGHTS = "vote"
# The weights the compiled kernel computes (engine/_select.c, weighted_sums): the power of
# the clipped cosine and the constant added to it, as SIMILARITY_WEIGHTS, the uniform weights
# and the vote give them. "distance" (1/d and its zero-distance rule) is left to numpy.
_COMPILED_WEIGHTS = {
    "uniform": (0, 0.0),
    "cosine": (1, SIMILARITY_FLOOR),
    "cosine2": (2, SIMILARITY_FLOOR),
    VOTE_WEIGHTS: (1, 0.0),
}
# Use the compiled sums where the kernel is built and in use (``_search.compiled_selection``);
# bench/predict.py turns this off to time the numpy path beside them.
compiled_sums = True


def _neighbour_sums(
    rows: NDArray[np.integer],
    dist: NDArray[np.float64],
    width: int | None,
    values: NDArray[np.float64],
    weights: str,
) -> NDArray[np.float64]:
    """``[sum_j w_j, sum_j w_j values[rows_j]]`` per row over its first ``width`` (None: all)
    neighbours, with the ``weights`` of a setting or :data:`VOTE_WEIGHTS`: from the compiled
    kernel in one pass where it can, else from numpy (the reference)."""
    width = rows.shape[1] if width is None else min(width, rows.shape[1])
    compiled = _COMPILED_WEIGHTS.get(weights)
    kernel = _search.compiled_kernel()
    sums = np.empty((len(rows), 2))
    if kernel is not None and compiled_sums and compiled is not None:
        kernel.weighted_sums(
            np.ascontiguousarray(dist, dtype=np.float64),
            np.ascontiguousarray(rows, dtype=np.int64),
            width,
            values,
            *compiled,
            sums,
        )
        return sums
    rows, dist = rows[:, :width], dist[:, :width]
    if weights == VOTE_WEIGHTS:
        w = _clipped_cosine(dist)
    else:
        w = neighbor_weights(dist, engine_weights(weights))
        if w is None:
            w = np.ones(dist.shape)
    sums[:, 0] = w.sum(axis=1)
    sums[:, 1] = np.einsum("ij,ij->i", w, values[rows])
    return sums


@dataclass(frozen=True, eq=False)
class _UserTerms:
    """What the prediction and vote rules read of one user, per catalogue row, computed once
    per request rather than once per block of rows."""

    offset: float
    # r_i - b_i - o at the user's rated rows, 0 elsewhere.
    residual_of: NDArray[np.float64]
    # r_i at the rated rows, 0 elsewhere.
    rating_of: NDArray[np.float64]

    @classmethod
    def of(
        cls, features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
    ) -> _UserTerms:
        offset = user_offset(features, ratings, settings) if settings.user_offset else 0.0
        residual_of = np.zeros(len(features.movie_ids))
        residual_of[ratings.rows] = _residuals(features, ratings) - offset
        return cls(offset, residual_of, cls.for_votes(features, ratings).rating_of)

    @classmethod
    def for_votes(cls, features: CatalogueFeatures, ratings: UserRatings) -> _UserTerms:
        """The terms the vote sums read (the ratings by row); no prediction is made from them."""
        rating_of = np.zeros(len(features.movie_ids))
        rating_of[ratings.rows] = ratings.values
        return cls(0.0, rating_of, rating_of)

    def predict(
        self,
        features: CatalogueFeatures,
        query_rows: NDArray[np.intp],
        neighbour_rows: NDArray[np.intp],
        neighbour_dist: NDArray[np.float64],
        settings: PredictorSettings,
        width: int | None = None,
    ) -> NDArray[np.float64]:
        """The prediction rule (see :func:`_predict_rows`) over the first ``width`` (default:
        all) neighbours of each row."""
        sums = _neighbour_sums(
            neighbour_rows, neighbour_dist, width, self.residual_of, settings.weights
        )
        correction = sums[:, 1] / (sums[:, 0] + settings.shrinkage)
        return settings.scale.clip(features.item_baseline[query_rows] + self.offset + correction)

    def vote_sums(
        self,
        neighbour_rows: NDArray[np.intp],
        neighbour_dist: NDArray[np.float64],
        width: int | None = None,
    ) -> NDArray[np.float64]:
        """The vote sums (see :func:`_vote_sums`) over the first ``width`` (default: all)
        neighbours of each row."""
        return _neighbour_sums(neighbour_rows, neighbour_dist, width, self.rating_of, VOTE_WEIGHTS)


def _predict_rows(
    features: CatalogueFeatures,
    query_rows: NDArray[np.intp],
    neighbour_rows: NDArray[np.intp],
    neighbour_dist: NDArray[np.float64],
    ratings: UserRatings,
    settings: PredictorSettings,
) -> NDArray[np.float64]:
    """The prediction rule: baseline plus the weighted mean of the neighbours' residuals,
    clipped to the scale.

    :math:`\\hat r_q = b_q + o + \\sum_i w_i (r_i - b_i - o) / (\\sum_i w_i + s)`, with the
    user offset ``o`` (0 unless ``settings.user_offset``) and the shrinkage ``s``.
    """
    terms = _UserTerms.of(features, ratings, settings)
    return terms.predict(features, query_rows, neighbour_rows, neighbour_dist, settings)


def _vote_sums(
    features: CatalogueFeatures,
    ratings: UserRatings,
    neighbours: tuple[NDArray[np.intp], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """Per row ``[sum_i sim_i, sum_i sim_i r_i]`` over its (neighbour rows, distances), with
    :math:`sim = \\max(\\cos, 0)` and :math:`\\cos = 1 - d^2 / 2` (rows are L2-normalised in
    the learned space)."""
    return _UserTerms.for_votes(features, ratings).vote_sums(*neighbours)


def _profile_votes(
    features: CatalogueFeatures, ratings: UserRatings, like_weight: float
) -> NDArray[np.float64]:
    """Every catalogue row's vote from all of the user's rated movies:
    :math:`\\sum_j \\cos_{qj} v_j` with :math:`v_j = 1 + \\lambda (r_j - \\bar r)`.

    The cosine is the one :func:`_vote_sums` uses, :math:`1 - d^2 / 2`, unclipped; with
    :math:`d^2 = \\|x_q\\|^2 + \\|x_j\\|^2 - 2 x_q \\cdot x_j` the sum is one matrix-vector
    product: :math:`x_q \\cdot \\sum_j v_j x_j + (1 - \\|x_q\\|^2 / 2) \\sum_j v_j
    - \\sum_j v_j \\|x_j\\|^2 / 2`.
    """
    votes = 1.0 + like_weight * (ratings.values - ratings.values.mean())
    profile = votes @ features.matrix[ratings.rows]
    constant = votes.sum() - votes @ features.sq_norms[ratings.rows] / 2.0
    return features.matrix @ profile + constant - votes.sum() * features.sq_norms / 2.0


def _score_rows(
    features: CatalogueFeatures,
    ratings: UserRatings,
    query_rows: NDArray[np.intp],
    vote_sums: NDArray[np.float64],
    settings: PredictorSettings,
) -> NDArray[np.float64]:
    """The ranking rule: the neighbours' votes and the whole profile's, scaled by the
    candidate's evidence.

    :math:`s_q = e_q (\\sum_{i \\in N(q)} sim_{qi} v_i + \\mu \\sum_j \\cos_{qj} v_j)`
    with :math:`v_i = 1 + \\lambda (r_i - \\bar r)`: the user's mean rating :math:`\\bar r`,
    ``like_weight`` :math:`\\lambda`, ``profile_weight`` :math:`\\mu`, the evidence :math:`e`.
    The neighbours' part follows from the sums of :func:`_vote_sums` for any mean:
    :math:`(1 - \\lambda \\bar r) \\sum_i sim_{qi} + \\lambda \\sum_i sim_{qi} r_i`.
    """
    like_weight = settings.like_weight
    mean = float(ratings.values.mean())
    votes = (1.0 - like_weight * mean) * vote_sums[:, 0] + like_weight * vote_sums[:, 1]
    if settings.profile_weight:
        profile = _profile_votes(features, ratings, like_weight)
        votes = votes + settings.profile_weight * profile[query_rows]
    if features.evidence is None:
        return votes
    return votes * features.evidence[query_rows]


def compute_predictions(
    features: CatalogueFeatures,
    ratings: UserRatings,
    settings: PredictorSettings,
    *,
    user_id: int = 0,
    ratings_version: int = 0,
) -> UserPredictions:
    """Predict every unrated movie from scratch (needs more than k ratings)."""
    settings = settings_for(features, settings)
    # A mask, not np.setdiff1d: its hashing of the whole catalogue cost 8 ms a request.
    unrated = np.ones(len(features.movie_ids), dtype=bool)
    unrated[ratings.rows] = False
    unrated_rows = np.flatnonzero(unrated)
    search = replace(settings, k=settings.search_k(len(ratings)))
    k, ranking_k = settings.k, settings.ranking_k
    terms = _UserTerms.of(features, ratings, settings)
    n_rows, width = len(unrated_rows), search.k
    # int32 halves the entry (row numbers stay far below 2**31).
    neighbour_rows = np.empty((n_rows, width), np.int32)
    neighbour_dist = np.empty((n_rows, width))
    predicted = np.empty(n_rows)
    vote_sums = np.empty((n_rows, 2))

    def fill(
        at: slice | NDArray[np.intp], rows: NDArray[np.intp], dist: NDArray[np.float64]
    ) -> None:
        # Runs on the engine's threads, each block while its neighbours are still in cache;
        # blocks write disjoint parts.
        neighbour_rows[at] = rows
        neighbour_dist[at] = dist
        predicted[at] = terms.predict(features, unrated_rows[at], rows, dist, settings, k)
        vote_sums[at] = terms.vote_sums(rows, dist, ranking_k)

    searched: NDArray[np.intp] | None = None  # None: every row
    lists = features.neighbour_lists
    if worth_using(lists, settings.metric, len(ratings), len(features.movie_ids), width):
        assert lists is not None
        rated = np.zeros(len(features.movie_ids), dtype=bool)
        rated[ratings.rows] = True
        settled, rows, dist = nearest_rated(lists, unrated_rows, rated, width)
        fill(np.flatnonzero(settled), rows, dist)
        searched = np.flatnonzero(~settled)
    if searched is None:
        _fit(features, ratings, search).map_neighbors(
            features.queries,
            lambda block, dist, index: fill(block, ratings.rows[index], dist),
            rows=unrated_rows,
        )
    elif searched.size:
        _fit(features, ratings, search).map_neighbors(
            features.queries,
            lambda block, dist, index: fill(searched[block], ratings.rows[index], dist),
            rows=unrated_rows[searched],
        )
    score = _score_rows(features, ratings, unrated_rows, vote_sums, settings)
    return UserPredictions(
        user_id,
        ratings_version,
        features.version,
        ratings.rows,
        ratings.values,
        unrated_rows,
        neighbour_rows,
        neighbour_dist,
        predicted,
        vote_sums,
        score,
    )


def update_predictions(
    features: CatalogueFeatures,
    previous: UserPredictions,
    ratings: UserRatings,
    settings: PredictorSettings,
    *,
    ratings_version: int,
) -> UserPredictions:
    """Bring ``previous`` up to the user's current ratings, touching only the rows that change.

    - A newly rated movie enters a row's neighbours when it lies within the row's k-th
      distance: it is merged into the row's sorted neighbours (the others cannot change).
    - A row that lost a neighbour (rating removed), or that is unrated again, is searched anew.
    - A row whose neighbour was re-rated keeps its neighbours; its prediction is recomputed.
    Every other row keeps its neighbours and prediction, which equal a full recompute's
    (with ``user_offset`` any change moves the offset, so every row is predicted again).
    The ranking score's sums are re-summed for the rows predicted again; every change moves
    the user's mean rating, so every row's score then follows from its sums (no gather).
    """
    settings = settings_for(features, settings)
    search = replace(settings, k=settings.search_k(len(ratings)))
    if search.k != previous.neighbour_rows.shape[1]:
        # Fewer ratings than max(k, ranking_k): each change changes how many neighbours a row
        # keeps, so every row is searched anew.
        return compute_predictions(
            features,
            ratings,
            settings,
            user_id=previous.user_id,
            ratings_version=ratings_version,
        )
    k, ranking_k = settings.k, settings.ranking_k
    rated_rows, rated_values = ratings.rows, ratings.values
    added = np.setdiff1d(rated_rows, previous.rated_rows)
    removed = np.setdiff1d(previous.rated_rows, rated_rows)
    common, new_at, old_at = np.intersect1d(rated_rows, previous.rated_rows, return_indices=True)
    changed = common[rated_values[new_at] != previous.rated_values[old_at]]

    # Boolean indexing copies, so the writes below never touch ``previous``, which other
    # requests may still be reading.
    keep = ~np.isin(previous.unrated_rows, added)
    unrated_rows = previous.unrated_rows[keep]
    neighbour_rows = previous.neighbour_rows[keep]
    neighbour_dist = previous.neighbour_dist[keep]
    predicted = previous.predicted[keep]
    vote_sums = previous.vote_sums[keep]
    research = _rows_using(neighbour_rows, removed)
    # Rows whose neighbours or neighbours' ratings change: their vote sums are re-summed.
    resum = research | _rows_using(neighbour_rows, changed)
    repredict = resum.copy()
    if settings.user_offset and (added.size or removed.size or changed.size):
        repredict[:] = True

    if added.size:
        entered = _maybe_within(features, unrated_rows, added, neighbour_dist[:, -1], settings)
        entered &= ~research
        to_added = pairwise_distances(
            features.matrix[unrated_rows[entered]], features.matrix[added], settings.metric
        )
        merged_rows, merged_dist = _merge_neighbours(
            neighbour_rows[entered], neighbour_dist[entered], added, to_added
        )
        neighbour_rows[entered] = merged_rows
        neighbour_dist[entered] = merged_dist
        repredict |= entered
        resum |= entered

    if removed.size:  # movies no longer rated are predicted again
        width = neighbour_rows.shape[1]
        unrated_rows = np.concatenate([unrated_rows, removed])
        neighbour_rows = np.concatenate(
            [neighbour_rows, np.zeros((removed.size, width), neighbour_rows.dtype)]
        )
        neighbour_dist = np.concatenate([neighbour_dist, np.zeros((removed.size, width))])
        predicted = np.concatenate([predicted, np.zeros(removed.size)])
        vote_sums = np.concatenate([vote_sums, np.zeros((removed.size, 2))])
        new = np.ones(removed.size, dtype=bool)
        research, repredict, resum = (
            np.concatenate([a, new]) for a in (research, repredict, resum)
        )
        order = np.argsort(unrated_rows)
        arrays = (unrated_rows, neighbour_rows, neighbour_dist, predicted, vote_sums)
        unrated_rows, neighbour_rows, neighbour_dist, predicted, vote_sums = (
            a[order] for a in arrays
        )
        research, repredict, resum = research[order], repredict[order], resum[order]

    if research.any():
        model = _fit(features, ratings, search)
        dist, index = model.kneighbors(features.matrix[unrated_rows[research]])
        neighbour_rows[research] = rated_rows[index]
        neighbour_dist[research] = dist
    if repredict.any():
        predicted[repredict] = _predict_rows(
            features,
            unrated_rows[repredict],
            neighbour_rows[repredict, :k],
            neighbour_dist[repredict, :k],
            ratings,
            settings,
        )
    if resum.any():
        vote_sums[resum] = _vote_sums(
            features,
            ratings,
            (neighbour_rows[resum, :ranking_k], neighbour_dist[resum, :ranking_k]),
        )
    score = _score_rows(features, ratings, unrated_rows, vote_sums, settings)
    return UserPredictions(
        previous.user_id,
        ratings_version,
        features.version,
        rated_rows,
        rated_values,
        unrated_rows,
        neighbour_rows,
        neighbour_dist,
        predicted,
        vote_sums,
        score,
    )


# A cached row takes a new rating when the rating lies within its k-th distance. The screen
# for that is approximate (float rounding of ||a||^2 - 2ab + ||b||^2); this slack makes it err
# towards looking closer, and the exact distances decide.
_SCREEN_SLACK = 1e-6


def _maybe_within(
    features: CatalogueFeatures,
    query_rows: NDArray[np.intp],
    added: NDArray[np.intp],
    radius: NDArray[np.float64],
    settings: PredictorSettings,
) -> NDArray[np.bool_]:
    """Which query rows may have an added row within ``radius`` (a superset: never misses).

    Euclidean screens with the cached squared norms and one matrix product over the whole
    catalogue, in a fraction of an exact pass; the rows it keeps get exact distances after.
    """
    limit = radius * (1 + _SCREEN_SLACK) + _SCREEN_SLACK
    if settings.metric != "euclidean":
        exact = pairwise_distances(features.matrix, features.matrix[added], settings.metric)
        return (exact[query_rows] <= limit[:, None]).any(axis=1)
    dots = features.matrix @ features.matrix[added].T
    squared = features.sq_norms[:, None] + features.sq_norms[added] - 2 * dots
    return (squared[query_rows] <= (limit**2)[:, None]).any(axis=1)


def _rows_using(neighbour_rows: NDArray[np.int32], rows: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Which entries have any of ``rows`` among their neighbours."""
    if not rows.size:
        return np.zeros(len(neighbour_rows), dtype=bool)
    return np.isin(neighbour_rows, rows).any(axis=1)


def _merge_neighbours(
    rows: NDArray[np.int32],
    dist: NDArray[np.float64],
    added: NDArray[np.intp],
    to_added: NDArray[np.float64],
) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """The k nearest of each entry's neighbours and the added rows, nearest first.

    Equal distances go to the lower row, as in the engine (the training set is in row order).
    """
    k = rows.shape[1]
    candidate_rows = np.concatenate([rows, np.broadcast_to(added, to_added.shape)], axis=1)
    candidate_dist = np.concatenate([dist, to_added], axis=1)
    order = np.lexsort((candidate_rows, candidate_dist), axis=-1)[:, :k]
    return (
        np.take_along_axis(candidate_rows, order, axis=1),
        np.take_along_axis(candidate_dist, order, axis=1),
    )


def cold_start_predictions(
    features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
) -> NDArray[np.float64]:
    """Item baseline plus the user's damped offset, for every catalogue row."""
    settings = settings_for(features, settings)
    offset = user_offset(features, ratings, settings)
    return settings.scale.clip(features.item_baseline + offset)


@dataclass(frozen=True)
class Explanation:
    """One KNN prediction and the neighbours behind it, nearest first."""

    predicted: float
    # Positions of the neighbours in the user's ratings (``UserRatings.rows[i]``).
    neighbours: NDArray[np.intp]
    distances: NDArray[np.float64]
    # Each neighbour's share of the correction to the baseline (see weight_shares).
    shares: NDArray[np.float64]


def explain_prediction(
    features: CatalogueFeatures, ratings: UserRatings, row: int, settings: PredictorSettings
) -> Explanation:
    """The KNN prediction of one catalogue row with ``settings.k`` neighbours, by the same rule
    as :func:`compute_predictions` (needs ``1 <= k <= len(ratings)``; any k, not only one
    above the cold-start line)."""
    settings = settings_for(features, settings)
    query = np.array([row], dtype=np.intp)
    dist, index = _fit(features, ratings, settings).kneighbors(features.matrix[query])
    (predicted,) = _predict_rows(features, query, ratings.rows[index], dist, ratings, settings)
    return Explanation(float(predicted), index[0], dist[0], weight_shares(dist, settings)[0])


def predict_for_rows(
    features: CatalogueFeatures,
    ratings: UserRatings,
    query_rows: NDArray[np.intp],
    settings: PredictorSettings,
    ks: tuple[int, ...] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Predictions for chosen rows, as the service would make them, for one or more k.

    The rule of the service: above k ratings the KNN, at or below cold start. One neighbour
    search at the largest KNN-able k serves every smaller k (neighbours come nearest first,
    ties to the lower row, so its first k are the k-search's).

    Parameters
    ----------
    ratings : UserRatings
        The user's ratings (training ratings, in an evaluation).
    query_rows : ndarray of shape (q,)
    ks : tuple of int, optional
        Values of k (default ``(settings.k,)``).

    Returns
    -------
    predicted : ndarray of shape (len(ks), q)
    cold : ndarray of shape (len(ks),)
        True where that k fell to cold start (not :func:`is_personal`).
    """
    settings = settings_for(features, settings)
    ks = (settings.k,) if ks is None else tuple(ks)
    cold = np.array([not is_personal(len(ratings), k) for k in ks], dtype=bool)
    predicted = np.empty((len(ks), len(query_rows)))
    if cold.any():
        predicted[cold] = cold_start_predictions(features, ratings, settings)[query_rows]
    if (~cold).any() and len(query_rows):
        k_max = max(k for k, c in zip(ks, cold, strict=True) if not c)
        model = _fit(features, ratings, replace(settings, k=k_max))
        dist, index = model.kneighbors(features.matrix[query_rows])
        for j, k in enumerate(ks):
            if not cold[j]:
                predicted[j] = _predict_rows(
                    features,
                    query_rows,
                    ratings.rows[index[:, :k]],
                    dist[:, :k],
                    ratings,
                    replace(settings, k=k),
                )
    return predicted, cold


def cold_start_scores(
    features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
) -> NDArray[np.float64]:
    """The ranking score at or below k ratings, for every catalogue row.

    Popularity among real ratings carries most of the signal for a user who rated little
    (DESIGN §6): popularity times the item baseline (much rated *and* well rated, which beat
    the most-rated list for users without ratings on ML-100K) ranks the list, and each of the
    user's ratings adds its vote (the ranking rule over all of them as neighbours) on top, so
    a handful of ratings already steers it.
    """
    settings = settings_for(features, settings)
    score = settings.popularity_weight * features.popularity * features.item_baseline
    if len(ratings):
        model = _fit(features, ratings, replace(settings, k=min(len(ratings), settings.ranking_k)))
        score = score + _rank_all_rows(features, ratings, model, settings)
    return score


def ranking_scores(
    features: CatalogueFeatures, ratings: UserRatings, settings: PredictorSettings
) -> NDArray[np.float64]:
    """Every catalogue row's ranking score for the user, as the service orders its list.

    Above k ratings (:func:`is_personal`) the ranking rule over the k nearest rated movies
    (what :func:`compute_predictions` stores as ``score``); at or below,
    :func:`cold_start_scores`. Rated rows get a score too; callers leave them out.

    Returns
    -------
    ndarray of shape (n_movies,)
    """
    if not is_personal(len(ratings), settings.k):
        return cold_start_scores(features, ratings, settings)
    settings = settings_for(features, settings)
    model = _fit(features, ratings, replace(settings, k=min(settings.ranking_k, len(ratings))))
    return _rank_all_rows(features, ratings, model, settings)


def _rank_all_rows(
    features: CatalogueFeatures,
    ratings: UserRatings,
    model: KNNRegressor,
    settings: PredictorSettings,
) -> NDArray[np.float64]:
    """The ranking rule for every catalogue row from ``model``'s neighbours (a search over
    the feature version's validated rows, the vote sums taken block by block)."""
    terms = _UserTerms.for_votes(features, ratings)
    parts = model.map_neighbors(
        features.queries, lambda _, dist, index: terms.vote_sums(ratings.rows[index], dist)
    )
    rows = np.arange(len(features.movie_ids), dtype=np.intp)
    return _score_rows(features, ratings, rows, np.concatenate(parts), settings)
