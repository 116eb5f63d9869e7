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

``--select`` first shows how the default configuration was chosen: a small grid scored by
validation *inside the training data* (an 80/20 split of the 80% training part of the seed-0
80/20 split; the test fold is never looked at), then the chosen configuration on the test fold.

The data: ML-100K from the recbole 1.2.1 wheel, fetched into ``.cache/datasets`` (git-ignored;
the licence forbids committing it) by ``recommender.datasets.fetch_ml100k``.

Usage: ``.venv/bin/python bench/accuracy.py [--folds 5] [--k 20] [--skip svdpp] [--select]``
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

from recommender.datasets import fetch_ml100k  # noqa: E402
from recommender.engine import evaluate as ev  # noqa: E402
from recommender.engine.factors import FactorSettings  # noqa: E402
from recommender.engine.model_config import ModelConfig  # noqa: E402
from recommender.services.evaluation import load_dataset_ratings  # noqa: E402


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


def run_surprise(make, data: ev.RatingsData, train_idx, test_idx) -> dict[str, float]:
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
    return {"rmse": ev.rmse(est, true), "mae": ev.mae(est, true), "fit": fit, "predict": predict}


def run_ours(data, train_idx, test_idx, k: int, config: ModelConfig) -> dict[str, float]:
    model = ev.train(data, train_idx, config)
    start = time.perf_counter()
    predicted, _ = ev.predict_pairs(
        model, data, train_idx, data.users[test_idx], data.items[test_idx], (k,)
    )
    predict = time.perf_counter() - start
    actual = data.ratings[test_idx]
    return {
        "rmse": ev.rmse(predicted[0], actual),
        "mae": ev.mae(predicted[0], actual),
        "fit": model.fit_seconds,
        "predict": predict,
    }


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
    result = run_ours(data, train_idx, test_idx, k, grid[name])
    print(f"On the 80/20 test fold (seed 0): RMSE {result['rmse']:.4f}, MAE {result['mae']:.4f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--skip", default="", help="comma-separated contenders to skip")
    parser.add_argument("--select", action="store_true", help="show the configuration search")
    args = parser.parse_args()

    data = load_dataset_ratings(fetch_ml100k(ROOT / ".cache" / "datasets"))
    print(f"MovieLens 100K: {len(data):,} ratings, {data.n_users} users, {data.n_items} movies\n")
    if args.select:
        select(data)

    skip = {s.strip().lower() for s in args.skip.split(",") if s.strip()}
    contenders = {"ours": None, **surprise_contenders(skip)}
    splits = ev.kfold_splits(len(data), args.folds, args.seed)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for number, (train_idx, test_idx) in enumerate(splits, start=1):
        for name, make in contenders.items():
            if make is None:
                result = run_ours(data, train_idx, test_idx, args.k, ModelConfig())
            else:
                result = run_surprise(make, data, train_idx, test_idx)
            results[name].append(result)
            print(f"fold {number} {name:<13} RMSE {result['rmse']:.4f}", flush=True)

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


if __name__ == "__main__":
    main()
