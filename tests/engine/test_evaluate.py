"""Offline evaluation: splits, metrics, best k, baselines, and that it scores the service's
own predictor (engine/predictor.py) over factors learned from the training fold only."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine import evaluate as ev
from recommender.engine.factors import FactorSettings
from recommender.engine.model_config import ModelConfig
from recommender.engine.predictor import (
    PredictorSettings,
    UserRatings,
    cold_start_scores,
    compute_predictions,
)
from recommender.engine.scale import RatingScale
from recommender.services.evaluation import load_dataset_ratings

FAST = ModelConfig(factors=FactorSettings(n_factors=3, reg=0.05, n_iterations=8))


def synthetic(n_users=60, n_items=50, share=0.4, seed=0) -> ev.RatingsData:
    """Integer ratings 1-5 from planted low-rank factors; user ids and item ids are sparse."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.8, (n_users, 2)), rng.normal(0, 0.8, (n_items, 2))
    bi = rng.normal(0, 0.5, n_items)
    full = np.clip(
        np.rint(3.4 + bi[None, :] + p @ q.T + rng.normal(0, 0.3, (n_users, n_items))), 1, 5
    )
    users, items = np.nonzero(rng.random((n_users, n_items)) < share)
    return ev.RatingsData.from_ids(users * 10 + 7, items * 3 + 100, full[users, items])


# ---- splits --------------------------------------------------------------------------------


def test_train_test_split_sizes_are_disjoint_and_cover_everything():
    train, test = ev.train_test_split(1001, 0.2, seed=0)
    assert len(test) == 200 and len(train) == 801
    assert not set(train) & set(test)
    np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(1001))


def test_train_test_split_is_seeded():
    a = ev.train_test_split(100, 0.2, seed=1)[1]
    assert np.array_equal(a, ev.train_test_split(100, 0.2, seed=1)[1])
    assert not np.array_equal(a, ev.train_test_split(100, 0.2, seed=2)[1])


def test_kfold_puts_every_rating_in_exactly_one_test_fold():
    splits = ev.kfold_splits(103, folds=5, seed=3)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(103))
    assert {len(test) for _, test in splits} == {20, 21}
    for train, test in splits:
        assert not set(train) & set(test) and len(train) + len(test) == 103


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ev.kfold_splits(10, folds=1), "folds >= 2"),
        (lambda: ev.kfold_splits(3, folds=5), "folds <= number of ratings"),
        (lambda: ev.train_test_split(10, 1.5), "0 < test_size < 1"),
        (lambda: ev.train_test_split(1, 0.2), "Cannot split"),
    ],
)
def test_bad_split_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- metrics -------------------------------------------------------------------------------


def test_metrics_on_hand_examples():
    predicted, actual = np.array([3.0, 4.0, 5.0]), np.array([4.0, 4.0, 3.0])
    assert ev.rmse(predicted, actual) == pytest.approx(np.sqrt(5 / 3))
    assert ev.mae(predicted, actual) == pytest.approx(1.0)
    assert ev.accuracy(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])) == 0.5


def test_best_k_is_the_argmin_of_the_curve_ties_to_the_smaller_k():
    assert ev.best_k({5: 0.95, 10: 0.91, 20: 0.93}) == 10
    assert ev.best_k({5: 0.9, 10: 0.9, 20: 0.95}) == 5
    assert ev.best_k({5: 0.7, 10: 0.8, 20: 0.75}, higher_is_better=True) == 10
    with pytest.raises(ValueError, match="non-empty"):
        ev.best_k({})


def test_ratings_data_indexes_ids():
    data = ev.RatingsData.from_ids([30, 10, 30], [7, 7, 9], [4.0, 2.0, 5.0])
    np.testing.assert_array_equal(data.user_ids, [10, 30])
    np.testing.assert_array_equal(data.users, [1, 0, 1])
    np.testing.assert_array_equal(data.items, [0, 0, 1])
    assert (data.scale.minimum, data.scale.maximum) == (2.0, 5.0)
    with pytest.raises(ValueError, match="NaN"):
        ev.RatingsData.from_ids([1], [1], [np.nan])


# ---- the model and cross-validation --------------------------------------------------------


def test_predict_pairs_is_the_service_predictor():
    """Scores come from engine/predictor.py exactly as the service computes them."""
    data = synthetic()
    train_idx, test_idx = ev.train_test_split(len(data), 0.2, seed=0)
    model = ev.train(data, train_idx, FAST)
    settings = PredictorSettings(k=5, scale=RatingScale(1.0, 5.0, 1.0))
    user = int(np.bincount(data.users[train_idx]).argmax())
    mine = train_idx[data.users[train_idx] == user]
    rated_rows, rated_values = data.items[mine], data.ratings[mine]
    entry = compute_predictions(model.features, UserRatings(rated_rows, rated_values), settings)
    queries = test_idx[data.users[test_idx] == user]
    predicted, cold = ev.predict_pairs(
        model, data, train_idx, data.users[queries], data.items[queries], (5,)
    )
    expected = entry.predicted[np.searchsorted(entry.unrated_rows, data.items[queries])]
    assert not cold.any()
    np.testing.assert_allclose(predicted[0], expected)


def test_features_are_learned_from_the_training_fold_only():
    data = synthetic()
    train_idx, test_idx = ev.train_test_split(len(data), 0.2, seed=0)
    model = ev.train(data, train_idx, FAST)
    changed = ev.RatingsData(
        data.users,
        data.items,
        data.ratings.copy(),
        data.user_ids,
        data.item_ids,
        RatingScale(1.0, 5.0, 1.0),
    )
    changed.ratings[test_idx] = 6 - changed.ratings[test_idx]  # test ratings must not matter
    again = ev.train(changed, train_idx, FAST)
    np.testing.assert_array_equal(model.features.matrix, again.features.matrix)
    np.testing.assert_array_equal(model.features.item_baseline, again.features.item_baseline)


def test_cross_validate_reports_curve_best_k_and_baselines():
    data = synthetic()
    report = ev.cross_validate(data, ks=(3, 5, 40), folds=3, seed=0, config=FAST)
    out = report.to_dict()
    assert len(report.folds) == 3 and out["folds"] == 3
    curve = {row["k"]: row["rmse"] for row in out["per_k"]}
    assert out["best_k"] == min(curve, key=curve.get)
    assert out["rmse"] == pytest.approx(curve[out["best_k"]])
    assert set(out["baselines"]) == {"global_mean", "item_mean", "baseline", "factors"}
    # The planted structure is learned: the KNN beats the mean baselines clearly.
    assert out["rmse"] < 0.85 * out["baselines"]["item_mean"]["rmse"]
    assert out["baselines"]["item_mean"]["rmse"] < out["baselines"]["global_mean"]["rmse"]
    # Users have about 20 training ratings: k = 40 is all cold start, k = 3 never.
    shares = {row["k"]: row["cold_start_share"] for row in out["per_k"]}
    assert shares[3] == 0.0 and shares[40] == 1.0
    assert 0.99 <= out["coverage"] <= 1.0
    assert sum(f.n_test for f in report.folds) == len(data)
    assert "best k: " in ev.format_table(report)


def test_cold_start_beats_the_item_mean_for_users_with_few_ratings():
    data = synthetic(n_users=200, share=0.5, seed=5)
    report = ev.cross_validate(data, ks=(60,), folds=1, seed=0, config=FAST)
    out = report.to_dict()
    assert out["cold_start_share"] == 1.0  # everyone is cold: this is the cold-start formula
    assert out["rmse"] < out["baselines"]["item_mean"]["rmse"]


def test_classifier_reports_accuracy_per_k():
    data = synthetic()
    report = ev.cross_validate_classifier(data, ks=(3, 5), folds=2, seed=0, config=FAST)
    out = report.to_dict()
    assert report.metric == "accuracy"
    assert out["best_k"] in (3, 5) and 0.0 <= out["accuracy"] <= 1.0
    assert out["accuracy"] > out["baselines"]["majority"]["accuracy"]


def test_items_classifier_on_separable_features():
    rng = np.random.default_rng(0)
    labels = np.repeat([True, False], 30)
    matrix = np.where(labels[:, None], 1.0, 0.0) + rng.normal(0, 0.1, (60, 3))
    report = ev.cross_validate_items_classifier(matrix, labels, ks=(1, 3), folds=3)
    assert report.to_dict()["accuracy"] == 1.0


def test_fit_and_predict_handles_unknown_ids_as_cold_start():
    data = synthetic()
    users = np.array([7, 7, 99_999, 7])
    items = np.array([100, 103, 100, 55_555])
    predicted, cold = ev.fit_and_predict(data, users, items, k=3, config=FAST)
    assert cold.tolist() == [False, False, True, True]
    assert np.all((predicted >= 1) & (predicted <= 5))


# ---- top-N lists ---------------------------------------------------------------------------


def hand_made_fold():
    """Three users, four movies, the training and held-out ratings chosen by position.

    Training: user 0 rated movie 0 (5); user 1 movies 0 (4), 1 (3); user 2 movies 0 (2),
    1 (5), 2 (1). Held out: user 0 movie 1 (5, relevant) and 3 (2); user 1 movie 3 (4,
    relevant); user 2 movie 3 (3): no relevant movie, so user 2 is skipped.
    """
    users = [0, 1, 1, 2, 2, 2, 0, 0, 1, 2]
    items = [0, 0, 1, 0, 1, 2, 1, 3, 3, 3]
    ratings = [5, 4, 3, 2, 5, 1, 5, 2, 4, 3]
    data = ev.RatingsData.from_ids(users, items, ratings)
    return data, np.arange(6), np.arange(6, 10)


def test_held_out_relevance_keeps_users_with_a_relevant_movie():
    data, train_idx, test_idx = hand_made_fold()
    held = ev.HeldOutRelevance.of_fold(data, train_idx, test_idx, relevant_min=4.0)
    np.testing.assert_array_equal(held.list_users, [0, 1])
    np.testing.assert_array_equal(held.n_relevant, [1, 1])
    # Training counts 3, 2, 1, 0 over three training users.
    np.testing.assert_allclose(held.popularity, [1.0, 2 / 3, 1 / 3, 0.0])


def test_rank_fold_baseline_lists_by_hand():
    data, train_idx, test_idx = hand_made_fold()
    model = ev.train(data, train_idx, FAST)
    held = ev.HeldOutRelevance.of_fold(data, train_idx, test_idx)
    result = ev.rank_fold(model, data, train_idx, held, ks=(1,), n=2)
    assert result.users == 2
    # most rated, without each user's training movies: user 0 [1, 2] (hit, miss); user 1
    # [2, 3] (miss, hit): nDCG (1 + 1/log2(3)) / 2, AP (1 + 1/2) / 2; movies 1, 2, 3 listed;
    # popularity (2/3 + 1/3 + 1/3 + 0) / 4.
    assert result.baselines["most_rated"] == pytest.approx(
        {
            "precision": 0.5,
            "recall": 1.0,
            "ndcg": (1 + 1 / np.log2(3)) / 2,
            "map": 0.75,
            "catalogue_coverage": 0.75,
            "mean_popularity": 1 / 3,
        }
    )
    # Damped means (damping 5 toward the training mean 20/6): movie 0 3.46, 1 3.52, 2 2.94,
    # 3 3.33. User 0 gets [1, 3] (hit, miss), user 1 [3, 2] (hit, miss): both perfect.
    np.testing.assert_allclose(
        model.features.item_baseline,
        [(11 + 50 / 3) / 8, (8 + 50 / 3) / 7, (1 + 50 / 3) / 6, 20 / 6],
    )
    damped = result.baselines["damped_mean"]
    assert (damped["ndcg"], damped["map"], damped["precision"]) == pytest.approx((1.0, 1.0, 0.5))
    assert damped["mean_popularity"] == pytest.approx((2 / 3 + 0 + 0 + 1 / 3) / 4)
    assert set(result.per_k[1]) == set(ev.RANKING_METRICS)


def test_ours_scores_are_the_services_ranking_scores_with_rated_movies_never_listed():
    data = synthetic()
    train_idx, _ = ev.train_test_split(len(data), 0.2, seed=0)
    model = ev.train(data, train_idx, FAST)
    settings = PredictorSettings(k=5, scale=data.scale)
    user = int(np.bincount(data.users[train_idx]).argmax())
    mine = train_idx[data.users[train_idx] == user]
    ratings = UserRatings(data.items[mine], data.ratings[mine])
    scores = ev.ours_scores(model.features, ratings, settings, (5,))
    entry = compute_predictions(model.features, ratings, settings)
    assert np.isneginf(scores[0, ratings.rows]).all()
    np.testing.assert_allclose(scores[0, entry.unrated_rows], entry.score)


def test_ours_scores_in_cold_start_rank_every_unrated_movie_by_the_cold_start_score():
    data = synthetic()
    train_idx, _ = ev.train_test_split(len(data), 0.2, seed=0)
    model = ev.train(data, train_idx, FAST)
    settings = PredictorSettings(k=5, scale=data.scale)
    ratings = UserRatings(np.array([0, 1]), np.array([5.0, 4.0]))  # 2 <= k: cold start
    scores = ev.ours_scores(model.features, ratings, settings, (5, 1))
    unrated = np.arange(2, data.n_items)
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(scores[0])), unrated)
    cold = cold_start_scores(model.features, ratings, settings)
    np.testing.assert_allclose(scores[0, unrated], cold[unrated])
    # At k = 1 the same user is personal: the KNN's votes, a different order.
    assert not np.allclose(scores[1, unrated], cold[unrated])


def test_cross_validate_reports_top_n_beside_rmse_per_fold_and_mean():
    data = synthetic()
    report = ev.cross_validate(data, ks=(3, 5), folds=2, seed=0, config=FAST, top_n=5)
    out = report.to_dict()
    assert out["config"]["top_n"] == 5 and out["config"]["relevant_min"] == 4.0
    assert set(ev.RANKING_METRICS) <= set(out) and set(ev.RANKING_METRICS) <= set(out["per_k"][0])
    assert set(out["ranking_baselines"]) == {"most_rated", "damped_mean"}
    fold = out["per_fold"][0]
    assert fold["ranking_users"] > 0 and set(fold["ranking_baselines"]) == {
        "most_rated",
        "damped_mean",
    }
    mean_ndcg = np.mean([f["ranking_baselines"]["most_rated"]["ndcg"] for f in out["per_fold"]])
    assert out["ranking_baselines"]["most_rated"]["ndcg"] == pytest.approx(mean_ndcg)
    # The planted taste structure is found: ours ranks better than the list shown to everyone.
    assert out["ndcg"] > out["ranking_baselines"]["most_rated"]["ndcg"]
    table = ev.format_table(report)
    assert "top-5 lists" in table and "ndcg@5" in table and "mean most_rated" in table


def test_a_stricter_relevance_judges_fewer_users():
    data = synthetic()
    loose = ev.cross_validate(data, ks=(3,), folds=2, seed=0, config=FAST, relevant_min=3.0)
    strict = ev.cross_validate(data, ks=(3,), folds=2, seed=0, config=FAST, relevant_min=5.0)
    assert sum(f.ranking_users for f in strict.folds) < sum(f.ranking_users for f in loose.folds)
    with pytest.raises(ValueError, match="top_n >= 1"):
        ev.cross_validate(data, ks=(3,), folds=2, config=FAST, top_n=0)


# ---- real data -----------------------------------------------------------------------------


def test_ml100k_random_split_rmse_is_at_most_0_91(ml100k):
    """The chosen configuration on real ratings: 80/20 split, seed 0 (a few seconds)."""
    data = load_dataset_ratings(ml100k)
    assert len(data) == 100_000
    report = ev.cross_validate(data, ks=(20,), folds=1, seed=0)
    out = report.to_dict()
    assert out["rmse"] <= 0.91  # measured 0.9032
    assert out["rmse"] < out["baselines"]["item_mean"]["rmse"] - 0.1
    # The top-N protocol is issue 13's: its most-rated list scored nDCG@10 0.171 and
    # precision@10 0.131 on this split, catalogue coverage 0.03 (measured 0.1713, 0.1318, 0.032).
    most_rated = out["ranking_baselines"]["most_rated"]
    assert most_rated["ndcg"] == pytest.approx(0.171, abs=0.002)
    assert most_rated["precision"] == pytest.approx(0.131, abs=0.002)
    assert most_rated["catalogue_coverage"] == pytest.approx(0.03, abs=0.005)
    assert out["per_fold"][0]["ranking_users"] == 921  # of 943: the others have no test hit

    # Cold users (20 or fewer training ratings) do better than the damped item mean.
    train_idx, test_idx = ev.train_test_split(len(data), 0.2, seed=0)
    model = ev.train(data, train_idx, ModelConfig())
    users, items = data.users[test_idx], data.items[test_idx]
    predicted, cold = ev.predict_pairs(model, data, train_idx, users, items, (20,))
    actual, cold = data.ratings[test_idx], cold[0]
    assert cold.sum() > 300  # measured: 667 pairs of 135 users
    item_mean = model.features.item_baseline[items]
    assert ev.rmse(predicted[0][cold], actual[cold]) < ev.rmse(item_mean[cold], actual[cold]) - 0.03


def test_ratings_data_scale_defaults_to_the_ratings_range_and_step():
    data = ev.RatingsData.from_ids([1, 1, 2], [1, 2, 1], [0.5, 4.0, 2.5])
    assert data.scale == RatingScale(0.5, 4.0, 1.5)
    assert ev.RatingsData.from_ids([1], [1], [3.0]).scale == RatingScale(3.0, 3.0, 1.0)
    given = RatingScale(1.0, 5.0, 0.5)
    assert ev.RatingsData.from_ids([1], [1], [3.0], given).scale is given
