"""Offline evaluation of the service's predictor on a ratings dataset (numpy only; no database).

What is scored is exactly what the service runs: the per-user KNN of
:mod:`recommender.engine.predictor` (residuals over a damped baseline, cold start at or below k
ratings) over item features learned by :mod:`recommender.engine.factors` from the *training*
ratings of each fold only. Baselines are scored on the same folds in the same run:

- ``global_mean``: the mean training rating;
- ``item_mean``: the damped item mean (the predictor's item baseline);
- ``baseline``: damped item mean plus the user's damped offset (the cold-start formula for all);
- ``factors``: the matrix factorisation's own prediction ``mu + b_u + b_i + p_u . q_i``.

Ranking is measured on the same folds in the same run (regression task): for every test user,
*all* movies they did not rate in training are ranked, and a held-out rating of at least
``relevant_min`` is a hit; precision, recall, nDCG, MAP, catalogue coverage and the mean
popularity of the top ``top_n`` (:mod:`recommender.engine.ranking_metrics` defines them; users
with no relevant held-out movie are skipped). "Ours" is the list the service shows, in the order
of :func:`ours_scores`; the ranking baselines are the ``most_rated`` list (the same for
everyone) and the ``damped_mean`` list (movies by their damped mean rating, the item baseline).
Popularity here is the share of training users who rated the movie.

Definitions
-----------
- **coverage**: share of test pairs whose user and movie both have training ratings (the model
  has seen them; the others are predicted from baselines alone).
- **cold-start share**: share of test pairs whose user has ``<= k`` training ratings, which the
  service answers with the cold-start formula instead of the KNN.
- **best k**: the k of the smallest mean RMSE over the folds (ties: the smaller k).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.engine.factors import fit_factors, item_feature_columns
from recommender.engine.knn import KNNClassifier
from recommender.engine.model_config import ModelConfig
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorSettings,
    UserRatings,
    engine_weights,
    is_personal,
    item_baselines,
    predict_for_rows,
    ranking_scores,
    settings_for,
)
from recommender.engine.ranking_metrics import PADDING, hit_matrix, ranking_report, top_n
from recommender.engine.scale import RatingScale

GOOD_RATING = 4.0  # "good movie" for the classifier: a user rating of at least this
TOP_N = 10  # the length of the lists the ranking metrics judge
RANKING_METRICS = (
    "precision",
    "recall",
    "ndcg",
    "map",
    "catalogue_coverage",
    "mean_popularity",
)


@dataclass(frozen=True)
class RatingsData:
    """Ratings as index arrays. ``users[j]``/``items[j]`` index ``user_ids``/``item_ids``."""

    users: NDArray[np.intp]
    items: NDArray[np.intp]
    ratings: NDArray[np.float64]
    user_ids: NDArray[np.int64]
    item_ids: NDArray[np.int64]
    scale: RatingScale

    @classmethod
    def from_ids(
        cls,
        user_ids: Sequence[int] | NDArray[np.int64],
        item_ids: Sequence[int] | NDArray[np.int64],
        ratings: Sequence[float] | NDArray[np.float64],
        scale: RatingScale | None = None,
    ) -> RatingsData:
        """Index the ids (ascending); the scale defaults to the ratings' own range, in steps of
        the smallest gap between two distinct ratings (1 when all are equal)."""
        values = np.asarray(ratings, dtype=np.float64)
        if values.size == 0:
            raise ValueError("Expected at least one rating, got none")
        if not np.isfinite(values).all():
            raise ValueError("Ratings contain NaN or infinity")
        uids, users = np.unique(np.asarray(user_ids, dtype=np.int64), return_inverse=True)
        iids, items = np.unique(np.asarray(item_ids, dtype=np.int64), return_inverse=True)
        if not (len(users) == len(items) == len(values)):
            raise ValueError("Expected user ids, item ids and ratings of the same length")
        if scale is None:
            distinct = np.unique(values)
            step = float(np.diff(distinct).min()) if len(distinct) > 1 else 1.0
            scale = RatingScale(float(distinct[0]), float(distinct[-1]), step)
        return cls(users.astype(np.intp), items.astype(np.intp), values, uids, iids, scale)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.ratings)


# --------------------------------------------------------------------------------------------
# Splits and metrics
# --------------------------------------------------------------------------------------------


def train_test_split(
    n: int, test_size: float = 0.2, seed: int = 0
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Random split of ``n`` ratings: ``(train, test)`` index arrays, disjoint, covering all.

    The test part is the first ``round(n * test_size)`` positions of a seeded permutation.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"Expected 0 < test_size < 1, got {test_size}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_size)
    if n_test == 0 or n_test == n:
        raise ValueError(f"Cannot split {n} ratings with test_size={test_size}")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def kfold_splits(n: int, folds: int = 5, seed: int = 0) -> list[tuple[NDArray[np.intp], ...]]:
    """Seeded k-fold: every rating is in exactly one test fold; fold sizes differ by <= 1."""
    if folds < 2:
        raise ValueError(f"Expected folds >= 2, got {folds}")
    if folds > n:
        raise ValueError(f"Expected folds <= number of ratings, got {folds} > {n}")
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    return [
        (np.sort(np.concatenate(parts[:i] + parts[i + 1 :])), np.sort(parts[i]))
        for i in range(folds)
    ]


def rmse(predicted: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """:math:`\\sqrt{\\mathrm{mean}((\\hat y - y)^2)}`."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def mae(predicted: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """:math:`\\mathrm{mean}(|\\hat y - y|)`."""
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(actual))))


def accuracy(predicted: NDArray[Any], actual: NDArray[Any]) -> float:
    """Share of equal labels."""
    return float(np.mean(np.asarray(predicted) == np.asarray(actual)))


def best_k(curve: dict[int, float], higher_is_better: bool = False) -> int:
    """The k with the best score (smallest, or largest for accuracy); ties go to the smaller k."""
    if not curve:
        raise ValueError("Expected a non-empty validation curve")
    sign = -1.0 if higher_is_better else 1.0
    return min(curve, key=lambda k: (sign * curve[k], k))


# --------------------------------------------------------------------------------------------
# The model: learned item features + the service's predictor
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedModel:
    features: CatalogueFeatures
    global_mean: float
    factor_prediction: Callable[[NDArray[np.intp], NDArray[np.intp]], NDArray[np.float64]]
    fit_seconds: float


def train(data: RatingsData, train_idx: NDArray[np.intp], config: ModelConfig) -> TrainedModel:
    """Learn item features and baselines from the ratings at ``train_idx`` only."""
    start = time.perf_counter()
    users, items = data.users[train_idx], data.items[train_idx]
    values = data.ratings[train_idx]
    factors = fit_factors(users, items, values, data.n_users, data.n_items, config.factors)
    matrix, columns = item_feature_columns(factors, config.bias_weight)
    sums = np.bincount(items, values, data.n_items)
    counts = np.bincount(items, minlength=data.n_items).astype(np.float64)
    baseline, global_mean = item_baselines(
        np.full(data.n_items, np.nan), sums, counts, config.item_damping
    )
    features = CatalogueFeatures(
        version=0,
        movie_ids=data.item_ids,
        matrix=matrix,
        columns=columns,
        item_baseline=baseline,
        popularity=counts / max(counts.max(), 1.0),
        global_mean=global_mean,
        row_of_movie={int(m): i for i, m in enumerate(data.item_ids)},
        predictor_options=config.predictor_options(),
        # The ranking score's confidence, as retrain stores it with a feature version.
        evidence=factors.evidence(),
    )

    def factor_prediction(u: NDArray[np.intp], i: NDArray[np.intp]) -> NDArray[np.float64]:
        return data.scale.clip(factors.predict(u, i))

    return TrainedModel(features, global_mean, factor_prediction, time.perf_counter() - start)


def _by_user(users: NDArray[np.intp], n_users: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """A stable order grouping positions by user, and each user's bounds in it."""
    order = np.argsort(users, kind="stable")
    return order, np.searchsorted(users[order], np.arange(n_users + 1))


def predict_pairs(
    model: TrainedModel,
    data: RatingsData,
    train_idx: NDArray[np.intp],
    users: NDArray[np.intp],
    items: NDArray[np.intp],
    ks: Sequence[int],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The service's prediction for each (user, item) pair, for each k.

    Each user's rated rows are their training ratings. Returns ``(predicted, cold)``, both of
    shape ``(len(ks), n_pairs)``; ``cold`` marks the pairs answered by cold start.
    """
    settings = PredictorSettings(k=max(ks), scale=data.scale)
    predicted = np.empty((len(ks), len(users)))
    cold = np.zeros((len(ks), len(users)), dtype=bool)
    train_order, train_bounds = _by_user(data.users[train_idx], data.n_users)
    train_items = data.items[train_idx][train_order]
    train_values = data.ratings[train_idx][train_order]
    query_order, query_bounds = _by_user(users, data.n_users)
    for user in np.flatnonzero(np.diff(query_bounds)):
        at = query_order[query_bounds[user] : query_bounds[user + 1]]
        lo, hi = train_bounds[user], train_bounds[user + 1]
        ratings = UserRatings(train_items[lo:hi], train_values[lo:hi])
        values, user_cold = predict_for_rows(
            model.features, ratings, items[at], settings, tuple(ks)
        )
        predicted[:, at] = values
        cold[:, at] = user_cold[:, None]
    return predicted, cold


# --------------------------------------------------------------------------------------------
# Ranking: every unrated movie ranked, the top N judged
# --------------------------------------------------------------------------------------------


def ours_scores(
    features: CatalogueFeatures,
    ratings: UserRatings,
    settings: PredictorSettings,
    ks: Sequence[int],
) -> NDArray[np.float64]:
    """The order the service lists a user's unrated movies in: a score per k and catalogue row.

    Higher is listed first (equal scores: the more popular movie, then the lower row); the
    rated movies are ``-inf``, never listed. The score is the service's ranking score
    (:func:`~recommender.engine.predictor.ranking_scores`: the KNN's votes above k ratings,
    popularity plus the votes at or below). Returns shape ``(len(ks), catalogue rows)``.
    """
    scores = np.vstack([ranking_scores(features, ratings, replace(settings, k=k)) for k in ks])
    scores[:, ratings.rows] = -np.inf
    return scores


@dataclass(frozen=True)
class HeldOutRelevance:
    """What one fold's top-N lists are judged against: the relevant held-out pairs.

    ``list_users`` are the test users with a relevant held-out movie (the others are skipped),
    ``n_relevant`` their counts; ``popularity`` is the share of training users who rated each
    movie (for the mean popularity of a list).
    """

    relevant_users: NDArray[np.intp]
    relevant_items: NDArray[np.intp]
    list_users: NDArray[np.intp]
    n_relevant: NDArray[np.intp]
    popularity: NDArray[np.float64]

    @classmethod
    def of_fold(
        cls,
        data: RatingsData,
        train_idx: NDArray[np.intp],
        test_idx: NDArray[np.intp],
        relevant_min: float = GOOD_RATING,
    ) -> HeldOutRelevance:
        """The held-out ratings ``>= relevant_min`` of ``test_idx`` are the relevant pairs."""
        relevant = test_idx[data.ratings[test_idx] >= relevant_min]
        if not relevant.size:
            raise ValueError(
                f"No held-out rating is >= {relevant_min:g} (the relevance threshold): "
                "there is no list to judge"
            )
        users, items = data.users[relevant], data.items[relevant]
        list_users = np.unique(users)
        counts = np.bincount(data.items[train_idx], minlength=data.n_items)
        n_train_users = max(np.unique(data.users[train_idx]).size, 1)
        return cls(
            users,
            items,
            list_users,
            np.bincount(users, minlength=data.n_users)[list_users],
            counts / n_train_users,
        )

    def judge(self, lists: NDArray[np.intp]) -> dict[str, float]:
        """The ranking metrics of ``lists`` (row j: the list of ``list_users[j]``)."""
        hits = hit_matrix(lists, self.list_users, self.relevant_users, self.relevant_items)
        return ranking_report(lists, hits, self.n_relevant, self.popularity)


@dataclass
class RankingResult:
    """One fold's top-N figures: ours per k, the ranking baselines, how many users were judged."""

    per_k: dict[int, dict[str, float]]
    baselines: dict[str, dict[str, float]]
    users: int
    seconds: float


def rank_fold(
    model: TrainedModel,
    data: RatingsData,
    train_idx: NDArray[np.intp],
    held_out: HeldOutRelevance,
    ks: Sequence[int],
    n: int = TOP_N,
) -> RankingResult:
    """The top-``n`` lists of every user of ``held_out``, judged.

    Candidates are all movies the user did not rate in training. Lists: ours at each k
    (:func:`ours_scores`), the ``most_rated`` list and the ``damped_mean`` list (the item
    baseline), each without the user's training movies.
    """
    start = time.perf_counter()
    counts = np.bincount(data.items[train_idx], minlength=data.n_items).astype(np.float64)
    train_order, train_bounds = _by_user(data.users[train_idx], data.n_users)
    train_items = data.items[train_idx][train_order]
    train_values = data.ratings[train_idx][train_order]
    settings = PredictorSettings(k=max(ks), scale=data.scale)
    baseline_scores = np.stack([counts, model.features.item_baseline])
    n = min(n, data.n_items)
    users = held_out.list_users
    lists = np.empty((len(ks) + len(baseline_scores), len(users), n), dtype=np.intp)
    for j, user in enumerate(users):
        lo, hi = train_bounds[user], train_bounds[user + 1]
        ratings = UserRatings(train_items[lo:hi], train_values[lo:hi])
        others = baseline_scores.copy()
        others[:, ratings.rows] = -np.inf
        scores = np.vstack([ours_scores(model.features, ratings, settings, ks), others])
        # Ties go to the more popular movie in every list (the service's rule for its own).
        lists[:, j] = top_n(scores, n, tiebreak=counts)
    return RankingResult(
        per_k={k: held_out.judge(lists[j]) for j, k in enumerate(ks)},
        baselines={
            "most_rated": held_out.judge(lists[-2]),
            "damped_mean": held_out.judge(lists[-1]),
        },
        users=len(users),
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------------


@dataclass
class FoldResult:
    fold: int
    n_train: int
    n_test: int
    # per k: rmse, mae, cold_start_share (and accuracy for the classifier)
    per_k: dict[int, dict[str, float]]
    baselines: dict[str, dict[str, float]]
    coverage: float
    fit_seconds: float
    predict_seconds: float
    # Top-N lists (regression task): the ranking baselines' figures and the users judged;
    # ours are in per_k beside the RMSE.
    ranking_baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    ranking_users: int = 0
    ranking_seconds: float = 0.0  # part of predict_seconds


@dataclass
class EvaluationReport:
    task: str
    ks: list[int]
    folds: list[FoldResult]
    config: dict[str, Any]
    metric: str = "rmse"  # what the validation curve and best k are about

    def mean(self, k: int, name: str) -> float:
        return float(np.mean([f.per_k[k][name] for f in self.folds]))

    @property
    def curve(self) -> dict[int, float]:
        return {k: self.mean(k, self.metric) for k in self.ks}

    @property
    def best_k(self) -> int:
        return best_k(self.curve, higher_is_better=self.metric == "accuracy")

    def baseline_means(self, ranking: bool = False) -> dict[str, dict[str, float]]:
        """Each baseline's metrics, mean over folds (``ranking``: the top-N baselines)."""

        def of(fold: FoldResult) -> dict[str, dict[str, float]]:
            return fold.ranking_baselines if ranking else fold.baselines

        return {
            name: {m: float(np.mean([of(f)[name][m] for f in self.folds])) for m in metrics}
            for name, metrics in of(self.folds[0]).items()
        }

    def to_dict(self) -> dict[str, Any]:
        """One JSON-able object: the best k's metrics at the top, then the per-k table."""
        k = self.best_k
        names = list(self.folds[0].per_k[k])
        table = [{"k": kk, **{n: self.mean(kk, n) for n in names}} for kk in self.ks]
        top = {n: self.mean(k, n) for n in names}
        ranking = {}
        if self.folds[0].ranking_baselines:
            ranking = {
                "ranking_seconds": float(np.mean([f.ranking_seconds for f in self.folds])),
                "ranking_baselines": self.baseline_means(ranking=True),
            }
        return {
            "task": self.task,
            "folds": len(self.folds),
            "best_k": k,
            **top,
            "coverage": float(np.mean([f.coverage for f in self.folds])),
            "fit_seconds": float(np.mean([f.fit_seconds for f in self.folds])),
            "predict_seconds": float(np.mean([f.predict_seconds for f in self.folds])),
            "per_k": table,
            "baselines": self.baseline_means(),
            **ranking,
            "per_fold": [
                {
                    "fold": f.fold,
                    "n_train": f.n_train,
                    "n_test": f.n_test,
                    **f.per_k[k],
                    "coverage": f.coverage,
                    "fit_seconds": f.fit_seconds,
                    "predict_seconds": f.predict_seconds,
                    **(
                        {
                            "ranking_users": f.ranking_users,
                            "ranking_seconds": f.ranking_seconds,
                            "ranking_baselines": f.ranking_baselines,
                        }
                        if f.ranking_baselines
                        else {}
                    ),
                }
                for f in self.folds
            ],
            "config": self.config,
        }


def _splits(n: int, folds: int, seed: int, test_size: float) -> list[tuple[NDArray[np.intp], ...]]:
    if folds == 1:
        return [train_test_split(n, test_size, seed)]
    return kfold_splits(n, folds, seed)


def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"Expected values of k >= 1, got {ks}")
    return ks


def _baseline_scores(
    model: TrainedModel, data: RatingsData, train_idx: NDArray[np.intp], test_idx: NDArray[np.intp]
) -> dict[str, NDArray[np.float64]]:
    """Each baseline's predictions for the test pairs."""
    users, items = data.users[test_idx], data.items[test_idx]
    base = model.features.item_baseline
    residual = data.ratings[train_idx] - base[data.items[train_idx]]
    n_u = np.bincount(data.users[train_idx], minlength=data.n_users)
    # The cold-start offset's damping, as the predictor would use it (k plays no part).
    damping = settings_for(model.features, PredictorSettings(k=1, scale=data.scale)).user_damping
    offset = np.bincount(data.users[train_idx], residual, data.n_users) / (n_u + damping)
    return {
        "global_mean": np.full(len(test_idx), data.scale.clip(model.global_mean)),
        "item_mean": data.scale.clip(base[items]),
        "baseline": data.scale.clip(base[items] + offset[users]),
        "factors": model.factor_prediction(users, items),
    }


def cross_validate(
    data: RatingsData,
    ks: Sequence[int] = (5, 10, 20, 40),
    folds: int = 5,
    seed: int = 0,
    config: ModelConfig | None = None,
    test_size: float = 0.2,
    progress: Callable[[int, int], None] | None = None,
    top_n: int = TOP_N,
    relevant_min: float = GOOD_RATING,
) -> EvaluationReport:
    """Score the predictor for each k on each fold (``folds=1``: one random split): RMSE and
    MAE of the predictions, and the top-``top_n`` lists (:func:`rank_fold`) beside them."""
    config = config or ModelConfig()
    ks = _check_ks(ks)
    if top_n < 1:
        raise ValueError(f"Expected top_n >= 1, got {top_n}")

    def score(model: TrainedModel, train_idx: NDArray[np.intp], test_idx: NDArray[np.intp]):
        users, items = data.users[test_idx], data.items[test_idx]
        predicted, cold = predict_pairs(model, data, train_idx, users, items, ks)
        actual = data.ratings[test_idx]
        per_k = {
            k: {
                "rmse": rmse(predicted[j], actual),
                "mae": mae(predicted[j], actual),
                "cold_start_share": float(cold[j].mean()),
            }
            for j, k in enumerate(ks)
        }
        baselines = {
            name: {"rmse": rmse(p, actual), "mae": mae(p, actual)}
            for name, p in _baseline_scores(model, data, train_idx, test_idx).items()
        }
        held_out = HeldOutRelevance.of_fold(data, train_idx, test_idx, relevant_min)
        ranking = rank_fold(model, data, train_idx, held_out, ks, top_n)
        return per_k, baselines, ranking

    results = _run_folds(data, folds, seed, config, test_size, progress, score)
    settings = _config_dict(config, folds, seed)
    settings.update(top_n=top_n, relevant_min=relevant_min)
    return EvaluationReport("regress", ks, results, settings)


FoldScorer = Callable[
    [TrainedModel, NDArray[np.intp], NDArray[np.intp]],
    tuple[dict[int, dict[str, float]], dict[str, dict[str, float]], RankingResult | None],
]


def _run_folds(
    data: RatingsData,
    folds: int,
    seed: int,
    config: ModelConfig,
    test_size: float,
    progress: Callable[[int, int], None] | None,
    score: FoldScorer,
) -> list[FoldResult]:
    """Train on each fold's training part, time ``score`` on its test part, collect the results."""
    splits = _splits(len(data), folds, seed, test_size)
    results = []
    for number, (train_idx, test_idx) in enumerate(splits, start=1):
        model = train(data, train_idx, config)
        start = time.perf_counter()
        per_k, baselines, ranking = score(model, train_idx, test_idx)
        predict_seconds = time.perf_counter() - start
        coverage = _coverage(data, train_idx, test_idx)
        result = FoldResult(
            number,
            len(train_idx),
            len(test_idx),
            per_k,
            baselines,
            coverage,
            model.fit_seconds,
            predict_seconds,
        )
        if ranking is not None:
            for k, figures in ranking.per_k.items():
                per_k[k].update(figures)
            result.ranking_baselines = ranking.baselines
            result.ranking_users = ranking.users
            result.ranking_seconds = ranking.seconds
        results.append(result)
        if progress:
            progress(number, len(splits))
    return results


def _coverage(data: RatingsData, train_idx: NDArray[np.intp], test_idx: NDArray[np.intp]) -> float:
    seen_user = np.bincount(data.users[train_idx], minlength=data.n_users) > 0
    seen_item = np.bincount(data.items[train_idx], minlength=data.n_items) > 0
    return float(np.mean(seen_user[data.users[test_idx]] & seen_item[data.items[test_idx]]))


def _config_dict(config: ModelConfig, folds: int, seed: int) -> dict[str, Any]:
    return {"folds": folds, "seed": seed, **config.to_dict()}


def cross_validate_classifier(
    data: RatingsData,
    ks: Sequence[int] = (5, 10, 20, 40),
    folds: int = 5,
    seed: int = 0,
    config: ModelConfig | None = None,
    threshold: float = GOOD_RATING,
    test_size: float = 0.2,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """The lesson's classifier: does the user find the movie good (rating >= ``threshold``)?

    Per user, a :class:`KNNClassifier` over the learned item features of the user's training
    ratings, labelled good / not good; at or below k ratings, the cold-start prediction
    ``>= threshold``. Baselines: the majority label of the training ratings, and the damped
    item mean ``>= threshold``.
    """
    config = config or ModelConfig()
    ks = _check_ks(ks)
    weights = engine_weights(config.weights)

    def score(model: TrainedModel, train_idx: NDArray[np.intp], test_idx: NDArray[np.intp]):
        users, items = data.users[test_idx], data.items[test_idx]
        # Cold-start labels come from the regression path's cold-start predictions.
        cold_pred, cold = predict_pairs(model, data, train_idx, users, items, ks)
        predicted = cold_pred >= threshold
        train_order, train_bounds = _by_user(data.users[train_idx], data.n_users)
        train_items = data.items[train_idx][train_order]
        train_good = data.ratings[train_idx][train_order] >= threshold
        query_order, query_bounds = _by_user(users, data.n_users)
        matrix = model.features.matrix
        for user in np.flatnonzero(np.diff(query_bounds)):
            at = query_order[query_bounds[user] : query_bounds[user + 1]]
            rows = train_items[train_bounds[user] : train_bounds[user + 1]]
            labels = train_good[train_bounds[user] : train_bounds[user + 1]]
            for j, k in enumerate(ks):
                if is_personal(len(rows), k):
                    clf = KNNClassifier(n_neighbors=k, weights=weights).fit(matrix[rows], labels)
                    predicted[j, at] = clf.predict(matrix[items[at]])
        actual = data.ratings[test_idx] >= threshold
        per_k = {
            k: {
                "accuracy": accuracy(predicted[j], actual),
                "cold_start_share": float(cold[j].mean()),
            }
            for j, k in enumerate(ks)
        }
        majority = bool((data.ratings[train_idx] >= threshold).mean() >= 0.5)
        item_good = model.features.item_baseline[items] >= threshold
        baselines = {
            "majority": {"accuracy": accuracy(np.full(len(actual), majority), actual)},
            "item_mean": {"accuracy": accuracy(item_good, actual)},
        }
        return per_k, baselines, None

    results = _run_folds(data, folds, seed, config, test_size, progress, score)
    report = EvaluationReport("classify", ks, results, _config_dict(config, folds, seed))
    report.metric = "accuracy"
    return report


def cross_validate_items_classifier(
    matrix: NDArray[np.float64],
    labels: NDArray[Any],
    ks: Sequence[int] = (5, 10, 20, 40),
    folds: int = 5,
    seed: int = 0,
    weights: str = "distance",
) -> EvaluationReport:
    """The lesson's classifier on a catalogue: KNN over movie features predicting a label
    (e.g. IMDb rating >= 7.0), k-fold over movies. Baseline: the training majority label."""
    ks = _check_ks(ks)
    if len(matrix) != len(labels):
        raise ValueError(f"Expected one label per movie, got {len(labels)} for {len(matrix)}")
    splits = _splits(len(labels), folds, seed, 0.2)
    results = []
    for number, (train_idx, test_idx) in enumerate(splits, start=1):
        if max(ks) > len(train_idx):
            raise ValueError(
                f"Expected every k <= training movies per fold, got {max(ks)} > {len(train_idx)}"
            )
        start = time.perf_counter()
        per_k = {}
        for k in ks:
            clf = KNNClassifier(n_neighbors=k, weights=weights)
            clf.fit(matrix[train_idx], labels[train_idx])
            per_k[k] = {
                "accuracy": accuracy(clf.predict(matrix[test_idx]), labels[test_idx]),
                "cold_start_share": 0.0,
            }
        values, counts = np.unique(labels[train_idx], return_counts=True)
        majority = values[np.argmax(counts)]
        baselines = {
            "majority": {"accuracy": accuracy(np.full(len(test_idx), majority), labels[test_idx])}
        }
        elapsed = time.perf_counter() - start
        results.append(
            FoldResult(number, len(train_idx), len(test_idx), per_k, baselines, 1.0, 0.0, elapsed)
        )
    report = EvaluationReport(
        "classify", ks, results, {"folds": folds, "seed": seed, "weights": weights}
    )
    report.metric = "accuracy"
    return report


def fit_and_predict(
    data: RatingsData,
    user_ids: NDArray[np.int64],
    item_ids: NDArray[np.int64],
    k: int,
    config: ModelConfig | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Train on every rating and predict (user id, item id) pairs given in dataset ids.

    Unknown users get the cold-start prediction with no ratings (the item baseline); unknown
    movies the global mean. Returns ``(predicted, cold)``.
    """
    config = config or ModelConfig()
    all_idx = np.arange(len(data))
    model = train(data, all_idx, config)
    u, known_u = _positions(data.user_ids, user_ids)
    i, known_i = _positions(data.item_ids, item_ids)
    predicted = np.full(len(user_ids), data.scale.clip(model.global_mean))
    cold = np.ones(len(user_ids), dtype=bool)
    ok = known_u & known_i
    if ok.any():
        values, was_cold = predict_pairs(model, data, all_idx, u[ok], i[ok], (k,))
        predicted[ok] = values[0]
        cold[ok] = was_cold[0]
    only_item = ~known_u & known_i
    predicted[only_item] = data.scale.clip(model.features.item_baseline[i[only_item]])
    return predicted, cold


def _positions(
    known_ids: NDArray[np.int64], ids: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Each dataset id's index in the sorted ``known_ids``, and whether it is there at all."""
    ids = np.asarray(ids, dtype=np.int64)
    at = np.searchsorted(known_ids, ids)
    last = max(len(known_ids) - 1, 0)
    return at, (at < len(known_ids)) & (known_ids[np.minimum(at, last)] == ids)


@dataclass(frozen=True)
class TopNLists:
    """Top-N lists, one row per listed movie: users in the order asked, each user's rank 1
    first. ``cold`` marks the rows of users answered by cold start."""

    user_ids: NDArray[np.int64]
    ranks: NDArray[np.intp]
    movie_ids: NDArray[np.int64]
    scores: NDArray[np.float64]
    predicted: NDArray[np.float64]
    cold: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.movie_ids)


def fit_and_recommend(
    data: RatingsData,
    user_ids: NDArray[np.int64],
    n: int,
    k: int,
    config: ModelConfig | None = None,
) -> TopNLists:
    """Train on every rating and list each user's ``n`` best movies they have not rated.

    The order is the service's (:func:`ours_scores`; equal scores: the more popular movie, then
    the lower row, as :func:`~recommender.engine.ranking_metrics.top_n` breaks them), each
    movie with its predicted rating. A user id unknown to the dataset gets the cold-start list
    of a user without ratings; an id listed twice is listed once, where it first appears; a
    user who rated nearly everything gets a shorter list.
    """
    if n < 1:
        raise ValueError(f"Expected a list length n >= 1, got {n}")
    config = config or ModelConfig()
    model = train(data, np.arange(len(data)), config)
    settings = PredictorSettings(k=k, scale=data.scale)
    user_ids = np.asarray(user_ids, dtype=np.int64)
    user_ids = user_ids[np.sort(np.unique(user_ids, return_index=True)[1])]
    positions, known = _positions(data.user_ids, user_ids)
    order, bounds = _by_user(data.users, data.n_users)
    columns: list[list[NDArray[Any]]] = [[] for _ in range(6)]
    for user_id, user, is_known in zip(user_ids, positions, known, strict=True):
        rated = order[bounds[user] : bounds[user + 1]] if is_known else order[:0]
        ratings = UserRatings(data.items[rated], data.ratings[rated])
        scores = ours_scores(model.features, ratings, settings, (k,))
        listed = top_n(scores, n, tiebreak=model.features.popularity)[0]
        listed = listed[listed != PADDING]
        predicted, cold = predict_for_rows(model.features, ratings, listed, settings)
        row = (
            np.full(len(listed), user_id, dtype=np.int64),
            np.arange(1, len(listed) + 1),
            data.item_ids[listed],
            scores[0, listed],
            predicted[0],
            np.full(len(listed), cold[0]),
        )
        for column, values in zip(columns, row, strict=True):
            column.append(values)
    return TopNLists(*(np.concatenate(c) if c else np.empty(0) for c in columns))


def format_table(report: EvaluationReport) -> str:
    """A plain-text report: per fold at the best k, the per-k curve, the baselines, and the
    top-N lists beside them when the report has them."""
    d = report.to_dict()
    main = report.metric
    lines = [f"task: {report.task}   folds: {len(report.folds)}   best k: {d['best_k']}", ""]
    names = [n for n in d["per_k"][0] if n not in ("k", *RANKING_METRICS)]
    head = ["fold", *names, "coverage", "fit s", "predict s"]
    lines.append("  ".join(f"{h:>16}" for h in head))
    mean_row = {"fold": "mean", **{n: d[n] for n in names}}
    mean_row.update(coverage=d["coverage"], fit_seconds=d["fit_seconds"])
    rows = [*d["per_fold"], {**mean_row, "predict_seconds": d["predict_seconds"]}]
    for row in rows:
        cells = [str(row["fold"])]
        cells += [f"{row[n]:.4f}" for n in names]
        cells += [f"{row['coverage']:.4f}", f"{row['fit_seconds']:.2f}"]
        cells += [f"{row['predict_seconds']:.2f}"]
        lines.append("  ".join(f"{c:>16}" for c in cells))
    lines += ["", f"validation curve ({main} by k, mean over folds):"]
    for row in d["per_k"]:
        mark = "  <- best" if row["k"] == d["best_k"] else ""
        lines.append(f"  k={row['k']:<5} " + "  ".join(f"{n}={row[n]:.4f}" for n in names) + mark)
    lines += ["", "baselines (mean over folds):"]
    for name, metrics in d["baselines"].items():
        values = "  ".join(f"{m}={v:.4f}" for m, v in metrics.items())
        lines.append(f"  {name:<12} {values}")
    if "ranking_baselines" in d:
        lines += ["", *_ranking_lines(d)]
    return "\n".join(lines)


def _ranking_lines(d: dict[str, Any]) -> list[str]:
    """The top-N part of :func:`format_table`: ours per fold at the best k, per k, baselines."""
    n, relevant_min = d["config"]["top_n"], d["config"]["relevant_min"]
    lines = [
        f"top-{n} lists (every unrated movie ranked; relevant: held-out rating >= "
        f"{relevant_min:g}; users without one skipped):",
        "  ".join(f"{h:>21}" for h in ("list", *(f"{m}@{n}" for m in RANKING_METRICS))),
    ]

    def row(label: str, figures: dict[str, float]) -> str:
        cells = [label, *(f"{figures[m]:.4f}" for m in RANKING_METRICS)]
        return "  ".join(f"{c:>21}" for c in cells)

    best = d["best_k"]
    lines += [row(f"fold {f['fold']} ours k={best}", f) for f in d["per_fold"]]
    lines += [row(f"mean ours k={k['k']}", k) for k in d["per_k"]]
    lines += [row(f"mean {name}", figures) for name, figures in d["ranking_baselines"].items()]
    lines.append(f"ranking seconds per fold (within predict s): {d['ranking_seconds']:.2f}")
    return lines
