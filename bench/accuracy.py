"""Accuracy benchmark on MovieLens 100K: our predictor beside scikit-surprise, same folds, same run.

5-fold cross-validation (our seeded folds, shared by every contender) of:

* ``ours``          the service's per-user KNN (engine/predictor.py) over item factors learned
  from the training fold only (engine/evaluate.py with the default ModelConfig of
  engine/model_config.py), at ``--k``;
* ``BaselineOnly``  surprise's ALS baselines (mu + b_u + b_i);
* ``KNNBaseline``   item-based, pearson_baseline similarity (surprise's best KNN, k = 40);
* ``SVD``           surprise's biased SVD (SGD, 100 factors);
* ``SVD++``         surprise's SVD++ (slow: about a minute per fold on two cores).

Prints RMSE, MAE, fit and predict seconds per contender (mean over folds, and RMSE per fold).

Then the top-N table on the same folds (every movie a test user did not rate in training
ranked; a held-out rating >= ``--relevant-min`` is a hit; ``engine/ranking_metrics.py`` defines
the metrics): ours (the service's list, engine/evaluate.py ``ours_scores``) and its most-rated
and damped-mean baselines, the references of ``bench/topn_references.py`` computed in the same
run (most-rated, item-KNN cosine k = 200, EASE lambda = 500, PureSVD 20 factors), and
surprise's SVD ranked by its predictions (``mu + b_u + b_i + q_i . p_u`` before clipping, so
that movies clipped to 5 stars keep their order; movies it never saw get ``mu + b_u``).

``--select`` first shows how the default configuration was chosen: a small grid scored by
validation *inside the training data* (an 80/20 split of the 80% training part of the seed-0
80/20 split; the test fold is never looked at), then the chosen configuration on the test fold.

The data: ML-100K from the recbole 1.2.1 wheel, fetched into ``.cache/datasets`` (git-ignored;
the licence forbids committing it) by ``recommender.datasets.fetch_ml100k``.

``--float64-keys`` runs the engine on float64 keys throughout (``_search.FLOAT32_MIN_SAMPLES``
out of reach), for a run beside one with the float32 keys it takes from 256 ratings on: the
figures must be the same.

Usage: ``.venv/bin/python bench/accuracy.py [--folds 5] [--k 20] [--skip svdpp] [--select]
[--top-n 10] [--relevant-min 4] [--float64-keys]``
(``make bench-accuracy``; needs the ``bench`` extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the top-N references sit beside this script

import topn_references as references  # noqa: E402

from recommender.datasets import fetch_ml100k  # noqa: E402
from recommender.engine import _search  # noqa: E402
from recommender.engine import evaluate as ev  # noqa: E402
from recommender.engine.factors import FactorSettings  # noqa: E402
from recommender.engine.model_config import ModelConfig  # noqa: E402
from recommender.engine.ranking_metrics import top_n  # noqa: E402
from recommender.services.evaluation import load_dataset_ratings  # noqa: E402

# The references of the top-N table: name -> scores from (binary, ratings) training matrices.
REFERENCES = {
    "most-rated (ref)": lambda binary, ratings: references.most_rated(binary),
    "item-KNN k=200": lambda binary, ratings: references.item_knn(binary, k=200),
    "EASE l=500": lambda binary, ratings: references.ease(binary, regularisation=500.0),
    "PureSVD f=20": lambda binary, ratings: references.pure_svd(ratings, n_factors=20),
}


def surprise_contenders(skip: set[str]) -> dict[str, object]:
    # Imported here: surprise is the optional bench extra, needed only when it is compared.
    from surprise import SVD, BaselineOnly, KNNBaseline, SVDpp  # noqa: PLC0415

    contenders = {
        "BaselineOnly": lambda: BaselineOnly(verbose=False),
        "KNNBaseline": lambda: KNNBaseline(
            k=40, sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
        ),
        "SVD": lambda: SVD(random_state=0),
        "SVD++": lambda: SVDpp(random_state=0),
    }
    return {name: make for name, make in contenders.items() if name.lower() not in skip}


def run_surprise(make, data: ev.RatingsData, train_idx, test_idx):
    """Fit and score one surprise algorithm: ``(metrics, fitted algorithm, trainset)``."""
    from surprise import Dataset, Reader  # noqa: PLC0415 (the optional bench extra)

    raw_ids = [str(u) for u in data.user_ids], [str(i) for i in data.item_ids]
    dataset = Dataset(Reader(rating_scale=(data.scale.minimum, data.scale.maximum)))

    def rows(idx):
        return [
            (raw_ids[0][u], raw_ids[1][i], float(r), None)
            for u, i, r in zip(data.users[idx], data.items[idx], data.ratings[idx], strict=True)
        ]

    trainset = dataset.construct_trainset(rows(train_idx))
    testset = [row[:3] for row in rows(test_idx)]
    algo = make()
    start = time.perf_counter()
    algo.fit(trainset)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    predictions = algo.test(testset)
    predict = time.perf_counter() - start
    est = np.array([p.est for p in predictions])
    true = np.array([p.r_ui for p in predictions])
    metrics = {"rmse": ev.rmse(est, true), "mae": ev.mae(est, true), "fit": fit, "predict": predict}
    return metrics, algo, trainset


def surprise_svd_scores(algo, trainset, data: ev.RatingsData) -> np.ndarray:
    """SVD's estimate for every (user, movie) as surprise computes it, unclipped.

    ``mu + b_u + b_i + q_i . p_u``; a user or movie the trainset lacks drops its terms, as
    ``SVD.estimate`` does.
    """
    users = np.zeros((data.n_users, algo.pu.shape[1] + 1))  # [p_u, b_u]; zero when unknown
    items = np.zeros((data.n_items, algo.qi.shape[1] + 1))
    # Raw ids are the dataset's ids as text (run_surprise); ours index the sorted ids.
    inner_users = list(trainset.all_users())
    at = np.searchsorted(data.user_ids, [int(trainset.to_raw_uid(u)) for u in inner_users])
    users[at] = np.column_stack([algo.pu[inner_users], algo.bu[inner_users]])
    inner_items = list(trainset.all_items())
    at = np.searchsorted(data.item_ids, [int(trainset.to_raw_iid(i)) for i in inner_items])
    items[at] = np.column_stack([algo.qi[inner_items], algo.bi[inner_items]])
    return trainset.global_mean + users[:, -1:] + items[:, -1] + users[:, :-1] @ items[:, :-1].T


def run_ours(data, train_idx, test_idx, k: int, config: ModelConfig):
    """Our RMSE and MAE at ``k``: ``(metrics, trained model)``."""
    model = ev.train(data, train_idx, config)
    start = time.perf_counter()
    predicted, _ = ev.predict_pairs(
        model, data, train_idx, data.users[test_idx], data.items[test_idx], (k,)
    )
    predict = time.perf_counter() - start
    actual = data.ratings[test_idx]
    metrics = {
        "rmse": ev.rmse(predicted[0], actual),
        "mae": ev.mae(predicted[0], actual),
        "fit": model.fit_seconds,
        "predict": predict,
    }
    return metrics, model


def rank_ours(model, data, train_idx, k: int, held_out, n: int) -> dict[str, dict]:
    """The top-``n`` figures of our list at ``k`` and of its baselines, on the same lists."""
    start = time.perf_counter()
    ranking = ev.rank_fold(model, data, train_idx, held_out, (k,), n)
    seconds = time.perf_counter() - start
    lists = {
        f"ours k={k}": {**ranking.per_k[k], "seconds": seconds},
        "most-rated (ours)": ranking.baselines["most_rated"],
        "damped-mean": ranking.baselines["damped_mean"],
    }
    return lists


def judge_scores(scores: np.ndarray, rated: np.ndarray, held_out, n: int) -> dict[str, float]:
    """The top-``n`` figures of a full score matrix, the training movies masked."""
    users = held_out.list_users
    candidates = np.where(rated[users], -np.inf, scores[users])
    return held_out.judge(top_n(candidates, n))


def rank_references(data: ev.RatingsData, train_idx, held_out, n: int) -> dict[str, dict]:
    """Each reference of REFERENCES trained on ``train_idx`` and judged, with its seconds."""
    users, items = data.users[train_idx], data.items[train_idx]
    shape = (data.n_users, data.n_items)
    ratings = references.interaction_matrix(users, items, data.ratings[train_idx], *shape)
    binary = (ratings != 0).astype(np.float64)
    lists = {}
    for name, scores_of in REFERENCES.items():
        start = time.perf_counter()
        scores = scores_of(binary, ratings)
        lists[name] = {
            **judge_scores(scores, binary > 0, held_out, n),
            "seconds": time.perf_counter() - start,
        }
    return lists


def select(data: ev.RatingsData) -> None:
    """The configuration search, by validation inside the training data only."""
    train_idx, test_idx = ev.train_test_split(len(data), 0.2, seed=0)
    inner_train, inner_valid = ev.train_test_split(len(train_idx), 0.2, seed=1)
    inner_train, inner_valid = train_idx[inner_train], train_idx[inner_valid]
    base = ModelConfig()
    grid = {
        "cos^2, shrink 0, no user offset": dataclasses.replace(
            base, shrinkage=0.0, user_offset=False
        ),
        "cos^1, shrink 1, user offset": dataclasses.replace(base, weights="cosine"),
        "cos^2, shrink 0.5, no user offset": dataclasses.replace(
            base, shrinkage=0.5, user_offset=False
        ),
        "cos^2, shrink 1, user offset (default)": base,
        "cos^2, shrink 2, user offset": dataclasses.replace(base, shrinkage=2.0),
        "cos^2, shrink 1, user offset, MF reg 0.2": dataclasses.replace(
            base, factors=FactorSettings(n_factors=50, reg=0.2, n_iterations=10)
        ),
        "cos^2, shrink 1, user offset, bias x0.5": dataclasses.replace(base, bias_weight=0.5),
        "distance (1/d), no shrink": dataclasses.replace(
            base, weights="distance", shrinkage=0.0, user_offset=False
        ),
    }
    ks = (20, 30, 40)
    print("Validation inside the training data (64% train / 16% validation of the ratings):")
    best = (np.inf, None, None)
    for name, config in grid.items():
        model = ev.train(data, inner_train, config)
        predicted, _ = ev.predict_pairs(
            model, data, inner_train, data.users[inner_valid], data.items[inner_valid], ks
        )
        scores = [ev.rmse(p, data.ratings[inner_valid]) for p in predicted]
        print(
            f"  {name:<44} " + "  ".join(f"k={k}: {s:.4f}" for k, s in zip(ks, scores, strict=True))
        )
        for k, score in zip(ks, scores, strict=True):
            if score < best[0]:
                best = (score, name, k)
    score, name, k = best
    print(f"Chosen: {name}, k = {k} (validation RMSE {score:.4f})")
    result, _ = run_ours(data, train_idx, test_idx, k, grid[name])
    print(f"On the 80/20 test fold (seed 0): RMSE {result['rmse']:.4f}, MAE {result['mae']:.4f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--skip", default="", help="comma-separated contenders to skip")
    parser.add_argument("--select", action="store_true", help="show the configuration search")
    parser.add_argument("--top-n", type=int, default=ev.TOP_N)
    parser.add_argument("--relevant-min", type=float, default=ev.GOOD_RATING)
    parser.add_argument(
        "--float64-keys", action="store_true", help="no float32 keys (see the docstring)"
    )
    args = parser.parse_args()
    if args.float64_keys:
        _search.FLOAT32_MIN_SAMPLES = sys.maxsize

    data = load_dataset_ratings(fetch_ml100k(ROOT / ".cache" / "datasets"))
    print(f"MovieLens 100K: {len(data):,} ratings, {data.n_users} users, {data.n_items} movies\n")
    if args.select:
        select(data)

    skip = {s.strip().lower() for s in args.skip.split(",") if s.strip()}
    contenders = {"ours": None, **surprise_contenders(skip)}
    splits = ev.kfold_splits(len(data), args.folds, args.seed)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    ranked: dict[str, list[dict[str, float]]] = {}
    for number, (train_idx, test_idx) in enumerate(splits, start=1):
        held_out = ev.HeldOutRelevance.of_fold(data, train_idx, test_idx, args.relevant_min)
        lists = {}
        for name, make in contenders.items():
            if make is None:
                result, model = run_ours(data, train_idx, test_idx, args.k, ModelConfig())
                lists.update(rank_ours(model, data, train_idx, args.k, held_out, args.top_n))
            else:
                result, algo, trainset = run_surprise(make, data, train_idx, test_idx)
                if name == "SVD":
                    start = time.perf_counter()
                    scores = surprise_svd_scores(algo, trainset, data)
                    rated = np.zeros(scores.shape, dtype=bool)
                    rated[data.users[train_idx], data.items[train_idx]] = True
                    lists["SVD (surprise)"] = {
                        **judge_scores(scores, rated, held_out, args.top_n),
                        "seconds": time.perf_counter() - start,
                    }
            results[name].append(result)
            print(f"fold {number} {name:<13} RMSE {result['rmse']:.4f}", flush=True)
        lists.update(rank_references(data, train_idx, held_out, args.top_n))
        for name, figures in lists.items():
            ranked.setdefault(name, []).append(figures)
        print(
            f"fold {number} top-{args.top_n}: "
            + ", ".join(f"{name} {figures['ndcg']:.3f}" for name, figures in lists.items()),
            flush=True,
        )

    print(f"\n{args.folds}-fold CV on ML-100K (seed {args.seed}); ours at k = {args.k}")
    head = f"{'model':<14}{'RMSE':>8}{'MAE':>8}{'fit s':>9}{'predict s':>11}   RMSE per fold"
    print(head)
    print("-" * len(head))
    for name, runs in results.items():
        mean = {m: float(np.mean([r[m] for r in runs])) for m in ("rmse", "mae", "fit", "predict")}
        folds = " ".join(f"{r['rmse']:.4f}" for r in runs)
        print(
            f"{name:<14}{mean['rmse']:>8.4f}{mean['mae']:>8.4f}{mean['fit']:>9.2f}"
            f"{mean['predict']:>11.2f}   {folds}"
        )
    print_top_n(ranked, args)


def print_top_n(ranked: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    """The top-N table: each list's metrics, mean over folds, and nDCG per fold."""
    n = args.top_n
    print(
        f"\nTop-{n} lists, same folds: every unrated movie ranked, relevant = held-out rating "
        f">= {args.relevant_min:g} (users without one skipped)"
    )
    names = ("ndcg", "precision", "recall", "map", "catalogue_coverage", "mean_popularity")
    labels = (f"nDCG@{n}", f"P@{n}", f"R@{n}", f"MAP@{n}", "coverage", "popularity")
    head = f"{'list':<20}" + "".join(f"{label:>11}" for label in labels) + f"{'rank s':>9}"
    print(head + f"   nDCG@{n} per fold")
    print("-" * (len(head) + 20))
    for name, runs in ranked.items():
        mean = {m: float(np.mean([r[m] for r in runs])) for m in names}
        seconds = (
            f"{np.mean([r['seconds'] for r in runs]):>9.2f}" if "seconds" in runs[0] else " " * 9
        )
        folds = " ".join(f"{r['ndcg']:.4f}" for r in runs)
        print(f"{name:<20}" + "".join(f"{mean[m]:>11.4f}" for m in names) + f"{seconds}   {folds}")


if __name__ == "__main__":
    main()
