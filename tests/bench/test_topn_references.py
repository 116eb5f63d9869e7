"""bench/topn_references.py: the top-N references of the accuracy bench on tiny hand-made data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_references():
    spec = importlib.util.spec_from_file_location(
        "bench_topn_references", BENCH / "topn_references.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


references = _load_references()

# Three users, three movies. Columns: movie 0 = [1, 1, 0], movie 1 = [1, 0, 1], movie 2 = [0, 0, 1].
# Cosines: (0, 1) = 1 / (sqrt 2 sqrt 2) = 1/2, (0, 2) = 0, (1, 2) = 1 / sqrt 2.
BINARY = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
HALF, ROOT_HALF = 0.5, 1 / np.sqrt(2)


def test_interaction_matrix_places_values():
    matrix = references.interaction_matrix(
        np.array([0, 1]), np.array([2, 0]), np.array([4.0, 3.0]), 2, 3
    )
    np.testing.assert_array_equal(matrix, [[0, 0, 4], [3, 0, 0]])


def test_most_rated_scores_every_user_by_the_rating_count():
    np.testing.assert_array_equal(references.most_rated(BINARY), [[2, 2, 1]] * 3)


def test_item_knn_without_pruning_sums_the_cosines_to_the_rated_movies():
    expected = [
        [HALF, HALF, ROOT_HALF],  # rated 0, 1
        [0.0, HALF, 0.0],  # rated 0
        [HALF, ROOT_HALF, ROOT_HALF],  # rated 1, 2
    ]
    np.testing.assert_allclose(references.item_knn(BINARY, k=10), expected)


def test_item_knn_keeps_each_candidates_k_nearest():
    # k = 1: movie 0's nearest is 1, movie 1's is 2, movie 2's is 1. User 0 (rated 0, 1)
    # scores movie 1 by movie 2 only, which they did not rate: 0 (keeping the rated movie's
    # nearest instead would give 1/2 through movie 0).
    expected = [
        [HALF, 0.0, ROOT_HALF],
        [0.0, 0.0, 0.0],
        [HALF, ROOT_HALF, ROOT_HALF],
    ]
    np.testing.assert_allclose(references.item_knn(BINARY, k=1), expected)


def test_ease_closed_form_by_hand():
    # X = [[1, 1], [1, 0]], lambda = 1: G = [[3, 1], [1, 2]], P = G^-1 = [[2, -1], [-1, 3]] / 5,
    # B_ij = -P_ij / P_jj: B_01 = 1/3, B_10 = 1/2, diagonal 0; scores X B.
    scores = references.ease(np.array([[1.0, 1.0], [1.0, 0.0]]), regularisation=1.0)
    np.testing.assert_allclose(scores, [[1 / 2, 1 / 3], [0.0, 1 / 3]])


def test_pure_svd_reconstructs_a_rank_one_matrix_and_truncates_a_rank_two_one():
    rank_one = np.array([[2.0, 4.0], [1.0, 2.0]])
    np.testing.assert_allclose(references.pure_svd(rank_one, n_factors=1), rank_one)
    # diag(3, 1): the first factor is movie 0 alone, so movie 1 scores 0 for everyone.
    scores = references.pure_svd(np.diag([3.0, 1.0]), n_factors=1)
    np.testing.assert_allclose(scores, [[3.0, 0.0], [0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("reference", ["most_rated", "item_knn", "ease", "pure_svd"])
def test_every_reference_returns_a_score_per_user_and_movie(reference):
    rng = np.random.default_rng(0)
    binary = (rng.random((12, 9)) < 0.4).astype(np.float64)
    assert getattr(references, reference)(binary).shape == (12, 9)


def test_surprise_svd_scores_are_its_unclipped_estimates():
    """bench/accuracy.py ranks surprise's SVD by ``SVD.estimate``, mapped to our indices."""
    pytest.importorskip("surprise")
    from surprise import SVD  # noqa: PLC0415 (the optional bench extra)

    from recommender.engine import evaluate as ev  # noqa: PLC0415 (beside the optional import)

    spec = importlib.util.spec_from_file_location("bench_accuracy", BENCH / "accuracy.py")
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((15, 12)) < 0.5)
    data = ev.RatingsData.from_ids(users * 7 + 3, items * 5 + 11, rng.integers(1, 6, users.size))
    train_idx, test_idx = ev.train_test_split(len(data), 0.2, seed=0)
    _, algo, trainset = accuracy.run_surprise(
        lambda: SVD(n_factors=3, random_state=0), data, train_idx, test_idx
    )
    scores = accuracy.surprise_svd_scores(algo, trainset, data)
    for u, i in [(0, 0), (4, 7), (14, 11)]:
        inner_u = trainset.to_inner_uid(str(data.user_ids[u]))
        inner_i = trainset.to_inner_iid(str(data.item_ids[i]))
        assert scores[u, i] == pytest.approx(algo.estimate(inner_u, inner_i))
