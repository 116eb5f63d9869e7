"""Biased matrix factorisation: recovers planted low-rank structure, seeded, validated."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine import factors
from recommender.engine.factors import (
    Factors,
    FactorSettings,
    fit_factors,
    item_feature_columns,
)


def low_rank_ratings(n_users=80, n_items=60, rank=3, share=0.5, noise=0.05, seed=1):
    """Ratings mu + b_u + b_i + p_u . q_i (+ noise) on a random share of the cells."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.7, (n_users, rank))
    q = rng.normal(0, 0.7, (n_items, rank))
    bu = rng.normal(0, 0.3, n_users)
    bi = rng.normal(0, 0.5, n_items)
    full = 3.5 + bu[:, None] + bi[None, :] + p @ q.T
    mask = rng.random((n_users, n_items)) < share
    users, items = np.nonzero(mask)
    observed = full[users, items] + rng.normal(0, noise, len(users))
    hidden_users, hidden_items = np.nonzero(~mask)
    return users, items, observed, (hidden_users, hidden_items, full[~mask]), q


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_factors_recover_planted_low_rank_structure():
    users, items, values, (hu, hi, hidden), _ = low_rank_ratings()
    settings = FactorSettings(n_factors=3, reg=0.01, reg_bias=0.01, n_iterations=30)
    model = fit_factors(users, items, values, 80, 60, settings)
    item_means = np.bincount(items, values, 60) / np.bincount(items, minlength=60)
    # The unseen cells are predicted far better than by item means: structure was learned.
    assert rmse(model.predict(hu, hi), hidden) < 0.25 * rmse(item_means[hi], hidden)
    assert rmse(model.predict(users, items), values) < 0.1


def test_factors_without_interactions_learn_the_biases():
    rng = np.random.default_rng(2)
    bu, bi = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 20)
    users, items = np.nonzero(rng.random((30, 20)) < 0.6)
    values = 3.0 + bu[users] + bi[items]
    model = fit_factors(users, items, values, 30, 20, FactorSettings(n_factors=2, reg=0.01))
    assert model.global_mean == pytest.approx(values.mean())
    assert rmse(model.predict(users, items), values) < 0.02


def test_factors_are_seeded():
    users, items, values, _, _ = low_rank_ratings(seed=3)
    a = fit_factors(users, items, values, 80, 60, FactorSettings(n_factors=4, seed=7))
    b = fit_factors(users, items, values, 80, 60, FactorSettings(n_factors=4, seed=7))
    c = fit_factors(users, items, values, 80, 60, FactorSettings(n_factors=4, seed=8))
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.user_bias, b.user_bias)
    assert not np.allclose(a.item_factors, c.item_factors)


def test_unrated_items_and_users_get_zero_factors():
    users, items, values = np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([4.0, 3.0, 5.0])
    model = fit_factors(users, items, values, 3, 4, FactorSettings(n_factors=2))
    assert np.all(model.item_factors[2:] == 0) and np.all(model.item_bias[2:] == 0)
    assert np.all(model.user_factors[2] == 0) and model.user_bias[2] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0], [4.0, 3.0]), "same length"),
        (([], [], []), "at least one rating"),
        (([0], [0], [np.nan]), "NaN"),
        (([5], [0], [4.0]), "out of range"),
        (([0], [-1], [4.0]), "out of range"),
    ],
)
def test_fit_factors_rejects_bad_input(args, message):
    users, items, values = (np.asarray(a) for a in args)
    with pytest.raises(ValueError, match=message):
        fit_factors(users.astype(int), items.astype(int), values.astype(float), 2, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_factors": 0}, "n_factors >= 1"),
        ({"n_iterations": 0}, "n_iterations >= 1"),
        ({"reg": -1.0}, "reg >= 0"),
    ],
)
def test_factor_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FactorSettings(**kwargs)


def test_item_feature_columns_are_unit_rows_with_the_bias_column():
    factors = Factors(
        3.5,
        np.zeros(1),
        np.array([0.5, -1.0, 0.0]),
        np.zeros((1, 2)),
        np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]),
    )
    matrix, names = item_feature_columns(factors, bias_weight=2.0)
    assert names == ("factor_0", "factor_1", "item_bias")
    raw0 = np.array([3.0, 4.0, 1.0])
    np.testing.assert_allclose(matrix[0], raw0 / np.linalg.norm(raw0))
    np.testing.assert_allclose(matrix[1], [0.0, 0.0, -1.0])
    np.testing.assert_array_equal(matrix[2], 0.0)  # no ratings: stays zero, no NaN


def test_learned_item_geometry_groups_items_rated_alike():
    # Two planted item clusters: nearest neighbours in the learned features stay in-cluster.
    rng = np.random.default_rng(4)
    centres = np.array([[1.5, 0.0], [0.0, 1.5]])
    q = centres[np.repeat([0, 1], 20)] + rng.normal(0, 0.1, (40, 2))
    p = rng.normal(0, 1.0, (100, 2))
    users, items = np.nonzero(rng.random((100, 40)) < 0.5)
    values = 3.5 + np.einsum("ij,ij->i", p[users], q[items])
    model = fit_factors(users, items, values, 100, 40, FactorSettings(n_factors=2, reg=0.01))
    matrix, _ = item_feature_columns(model, bias_weight=0.0)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    assert np.mean((nearest < 20) == (np.arange(40) < 20)) > 0.95


def test_blocked_half_steps_equal_one_block(monkeypatch):
    """The half-steps work in blocks of rows to bound memory; block edges change nothing."""
    users, items, values, _, _ = low_rank_ratings(seed=4)
    settings = FactorSettings(n_factors=3, n_iterations=3)
    whole = fit_factors(users, items, values, 80, 60, settings)
    monkeypatch.setattr(factors, "_BLOCK_RATINGS", 7)
    monkeypatch.setattr(factors, "_BLOCK_ROWS", 3)
    monkeypatch.setattr(factors, "_PREDICT_CHUNK", 5)
    blocked = fit_factors(users, items, values, 80, 60, settings)
    np.testing.assert_allclose(blocked.item_factors, whole.item_factors, atol=1e-10)
    np.testing.assert_allclose(blocked.user_bias, whole.user_bias, atol=1e-10)
    np.testing.assert_allclose(blocked.predict(users, items), whole.predict(users, items))
