"""Ranking probe: how well the recommended list ranks on MovieLens 100K (DESIGN §5b, §6).

Protocol: a seeded 80/20 split; for every test user with a relevant held-out movie (rating >=
4), rank *all* movies the user did not rate in training; report nDCG@10 and precision@10 of
the service's ranking score (``engine.predictor.ranking_scores``), of the most-rated list and
of EASE (a small numpy reference, never run-time code).
The item space is learned on the training ratings only.

    python bench/ranking_probe.py                # the full data, every test user
    python bench/ranking_probe.py --cold         # a sub-sample where most users rated little:
                                                 # groups 0, 1-5 and 6-k training ratings
    python bench/ranking_probe.py --select       # choose like_weight, ranking_k,
                                                 # profile_weight and popularity_weight by
                                                 # validation inside the training split

Metrics here are small on purpose (a bench, not the evaluation suite).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from recommender.datasets import fetch_ml100k
from recommender.engine.evaluate import RatingsData, train, train_test_split
from recommender.engine.factors import implicit_item_vectors, item_evidence
from recommender.engine.model_config import ModelConfig
from recommender.engine.predictor import (
    CatalogueFeatures,
    PredictorSettings,
    UserRatings,
    ranking_scores,
)
from recommender.services.evaluation import load_dataset_ratings

TOP_N = 10
RELEVANT_MIN = 4.0
DISCOUNTS = 1.0 / np.log2(np.arange(2, TOP_N + 2))

Scorer = Callable[[UserRatings], NDArray[np.float64]]


def ndcg_and_precision(top: NDArray[np.intp], relevant: set[int]) -> tuple[float, float]:
    """Binary-gain nDCG@N and precision@N of one ranked list."""
    gains = np.array([int(row) in relevant for row in top], dtype=np.float64)
    ideal = DISCOUNTS[: min(len(relevant), TOP_N)].sum()
    return float((gains * DISCOUNTS[: len(gains)]).sum() / ideal), float(gains.sum() / TOP_N)


def learned_features(data: RatingsData, train_idx: NDArray[np.intp], config: ModelConfig):
    """The trained model's features with the evidence the service stores beside them."""
    features = train(data, train_idx, config).features
    implicit = implicit_item_vectors(
        data.users[train_idx],
        data.items[train_idx],
        data.n_users,
        data.n_items,
        config.factors.implicit_factors,
        config.factors.implicit_power,
        config.factors.seed,
    )
    return dataclasses.replace(features, evidence=item_evidence(implicit))


def user_ratings_of(data: RatingsData, train_idx: NDArray[np.intp]) -> Callable[[int], UserRatings]:
    order = train_idx[np.argsort(data.users[train_idx], kind="stable")]
    bounds = np.searchsorted(data.users[order], np.arange(data.n_users + 1))

    def ratings_of(user: int) -> UserRatings:
        at = order[bounds[user] : bounds[user + 1]]
        return UserRatings(data.items[at], data.ratings[at])

    return ratings_of


def relevant_by_user(data: RatingsData, test_idx: NDArray[np.intp]) -> dict[int, set[int]]:
    relevant: dict[int, set[int]] = {}
    for j in test_idx[data.ratings[test_idx] >= RELEVANT_MIN]:
        relevant.setdefault(int(data.users[j]), set()).add(int(data.items[j]))
    return relevant


def score_lists(
    scorers: dict[str, Scorer],
    ratings_of: Callable[[int], UserRatings],
    relevant: dict[int, set[int]],
    users: list[int],
) -> dict[str, tuple[float, float]]:
    """Mean (nDCG@N, precision@N) over ``users`` for each scorer."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in scorers}
    for user in users:
        ratings = ratings_of(user)
        for name, scorer in scorers.items():
            score = np.array(scorer(ratings), dtype=np.float64)
            score[ratings.rows] = -np.inf
            top = np.argpartition(-score, TOP_N)[:TOP_N]
            top = top[np.lexsort((top, -score[top]))]
            results[name].append(ndcg_and_precision(top, relevant[user]))
    return {name: tuple(np.mean(values, axis=0)) for name, values in results.items()}


# EASE's penalty (Steck 2019; lambda = 500 as in issue 13's table).
EASE_LAMBDA = 500.0


def ease_scorer(data: RatingsData, train_idx: NDArray[np.intp]) -> Scorer:
    """The EASE reference: B = -P / diag(P), P = (X^T X + lambda I)^-1, diag(B) = 0, over the
    binary who-rated-what matrix; a user's scores are their row of X times B."""
    binary = np.zeros((data.n_users, data.n_items))
    binary[data.users[train_idx], data.items[train_idx]] = 1.0
    inverse = np.linalg.inv(binary.T @ binary + EASE_LAMBDA * np.eye(data.n_items))
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)

    def score(ratings: UserRatings) -> NDArray[np.float64]:
        return weights[ratings.rows].sum(axis=0)

    return score


def scorer_with(features: CatalogueFeatures, settings: PredictorSettings) -> Scorer:
    return lambda ratings: ranking_scores(features, ratings, settings)


def scorers_for(
    features: CatalogueFeatures, counts: NDArray[np.float64], settings: PredictorSettings
) -> dict[str, Scorer]:
    return {
        "ranking score": scorer_with(features, settings),
        "most rated": lambda ratings: counts,
    }


def sparse_subsample(
    data: RatingsData, train_idx: NDArray[np.intp], k: int, seed: int
) -> tuple[NDArray[np.intp], dict[int, str]]:
    """Training ratings where three quarters of the users keep only 0 to k of theirs (a third
    each in the groups 0, 1-5 and 6-k); returns the kept positions and each such user's group."""
    rng = np.random.default_rng(seed)
    users = rng.permutation(data.n_users)
    sparse = users[: 3 * data.n_users // 4]
    group_of: dict[int, str] = {}
    keep = np.ones(len(train_idx), dtype=bool)
    train_users = data.users[train_idx]
    for n, user in enumerate(sparse):
        at = np.flatnonzero(train_users == user)
        lo, hi, name = [(0, 0, "0"), (1, 5, "1-5"), (6, k, f"6-{k}")][n % 3]
        kept = min(int(rng.integers(lo, hi + 1)), len(at))
        keep[rng.permutation(at)[kept:]] = False
        group_of[int(user)] = name
    return train_idx[keep], group_of


def run(data: RatingsData, args: argparse.Namespace) -> None:
    train_idx, test_idx = train_test_split(len(data), 0.2, seed=args.seed)
    group_of: dict[int, str] = {}
    if args.cold:
        train_idx, group_of = sparse_subsample(data, train_idx, args.k, args.seed)
    config = ModelConfig()
    settings = PredictorSettings(k=args.k, scale=data.scale)
    started = time.perf_counter()
    features = learned_features(data, train_idx, config)
    counts = np.bincount(data.items[train_idx], minlength=data.n_items).astype(np.float64)
    relevant = relevant_by_user(data, test_idx)
    scorers = {**scorers_for(features, counts, settings), "EASE": ease_scorer(data, train_idx)}
    ratings_of = user_ratings_of(data, train_idx)
    groups: dict[str, list[int]] = {"all": sorted(relevant)}
    for user in sorted(relevant):
        if user in group_of:
            groups.setdefault(group_of[user], []).append(user)
    print(f"ML-100K, {args.seed=}, k={args.k}, relevant >= {RELEVANT_MIN}, all unrated movies")
    print(f"{'users':>8} {'n':>5}  {'list':<14} {'nDCG@10':>8} {'P@10':>7}")
    for name, users in groups.items():
        for scorer, (ndcg, precision) in score_lists(scorers, ratings_of, relevant, users).items():
            print(f"{name:>8} {len(users):>5}  {scorer:<14} {ndcg:8.4f} {precision:7.4f}")
    print(f"({time.perf_counter() - started:.1f} s)")


def select(data: RatingsData, args: argparse.Namespace) -> None:
    """Validation inside the training split only (the test split is never read): like_weight,
    ranking_k and profile_weight over every validation user, popularity_weight over the users
    of a sparse sub-sample."""
    train_idx, _ = train_test_split(len(data), 0.2, seed=args.seed)
    inner, validation = train_test_split(len(train_idx), 0.2, seed=args.seed + 1)
    inner_idx, validation_idx = train_idx[inner], train_idx[validation]
    relevant = relevant_by_user(data, validation_idx)
    base = PredictorSettings(k=args.k, scale=data.scale)
    grids = (
        ("like_weight", (0.0, 0.25, 0.5, 1.0), inner_idx, {}),
        ("ranking_k", (20, 40, 80), inner_idx, {}),
        ("profile_weight", (0.0, 0.1, 0.2, 0.4, 0.8, 1.6), inner_idx, {}),
        ("popularity_weight", (0.1, 0.3, 1.0, 3.0), *sparse_subsample(data, inner_idx, args.k, 1)),
    )
    for name, values, fit_idx, group_of in grids:
        features = learned_features(data, fit_idx, ModelConfig())
        ratings_of = user_ratings_of(data, fit_idx)
        users = [u for u in sorted(relevant) if not group_of or u in group_of]
        scorers = {
            f"{name}={value}": scorer_with(features, dataclasses.replace(base, **{name: value}))
            for value in values
        }
        for label, (ndcg, precision) in score_lists(scorers, ratings_of, relevant, users).items():
            print(f"{label:<24} nDCG@10 {ndcg:.4f}  P@10 {precision:.4f}  ({len(users)} users)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--select", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/datasets"))
    args = parser.parse_args()
    data = load_dataset_ratings(fetch_ml100k(args.cache_dir))
    (select if args.select else run)(data, args)


if __name__ == "__main__":
    main()
