"""Tests of recommender.engine.distances against scikit-learn and direct numpy formulas."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import pairwise_distances as sk_pairwise_distances

from recommender.engine import _search
from recommender.engine.distances import METRICS, pairwise_distances


def direct(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """Reference distances by broadcasting the textbook formulas (no GEMM trick)."""
    diff = A[:, None, :] - B[None, :, :]
    if metric == "euclidean":
        return np.sqrt((diff**2).sum(axis=2))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=2)
    return (diff != 0).mean(axis=2)


def random_pair(seed: int, n_a: int, n_b: int, n_features: int, metric: str):
    rng = np.random.default_rng(seed)
    if metric == "hamming":
        # Few distinct values, so that coordinates actually coincide.
        return (
            rng.integers(0, 3, (n_a, n_features)).astype(float),
            rng.integers(0, 3, (n_b, n_features)).astype(float),
        )
    return rng.normal(size=(n_a, n_features)), rng.normal(size=(n_b, n_features))


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force 3-row blocks so that every size below crosses block boundaries."""
    monkeypatch.setattr(_search, "MAX_BLOCK_ROWS", 3)


def test_metrics_tuple_lists_the_three_supported_metrics() -> None:
    assert METRICS == ("euclidean", "manhattan", "hamming")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("n_a", "n_b", "n_features"), [(1, 1, 1), (17, 5, 3), (40, 33, 8)])
def test_pairwise_distances_match_sklearn_and_direct_formula(
    metric: str, seed: int, n_a: int, n_b: int, n_features: int
) -> None:
    A, B = random_pair(seed, n_a, n_b, n_features, metric)
    got = pairwise_distances(A, B, metric=metric)
    assert got.shape == (n_a, n_b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, direct(A, B, metric), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, sk_pairwise_distances(A, B, metric=metric), atol=1e-12)


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("n_a", [1, 2, 3, 4, 7, 10])
def test_pairwise_distances_across_block_boundaries_match_direct_formula(
    metric: str, n_a: int
) -> None:
    A, B = random_pair(n_a, n_a, 11, 4, metric)
    np.testing.assert_allclose(
        pairwise_distances(A, B, metric=metric), direct(A, B, metric), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("metric", ["manhattan", "hamming"])
def test_blocked_manhattan_and_hamming_are_bitwise_identical_to_one_block(
    metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    A, B = random_pair(5, 23, 9, 6, metric)
    whole = pairwise_distances(A, B, metric=metric)
    monkeypatch.setattr(_search, "MAX_BLOCK_ROWS", 4)
    np.testing.assert_array_equal(pairwise_distances(A, B, metric=metric), whole)


def test_hamming_is_the_fraction_of_differing_coordinates() -> None:
    A = np.array([[0.0, 1.0, 2.0, 3.0]])
    B = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 9.0, 2.0, 3.0], [5.0, 9.0, 2.0, 7.0]])
    np.testing.assert_array_equal(pairwise_distances(A, B, "hamming"), [[0.0, 0.25, 0.75]])


def test_manhattan_and_euclidean_on_a_hand_computed_example() -> None:
    A = np.array([[0.0, 0.0]])
    B = np.array([[3.0, 4.0], [-1.0, 1.0]])
    np.testing.assert_allclose(pairwise_distances(A, B, "euclidean"), [[5.0, np.sqrt(2.0)]])
    np.testing.assert_allclose(pairwise_distances(A, B, "manhattan"), [[7.0, 2.0]])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6])
def test_identical_rows_are_at_distance_exactly_zero_never_negative(
    metric: str, offset: float
) -> None:
    # Large offsets make ||a||^2 - 2ab + ||b||^2 cancel catastrophically: without the exact
    # recomputation the diagonal would be tiny positive numbers (or negative before clipping).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 7)) + offset
    D = pairwise_distances(X, X, metric=metric)
    assert (D >= 0).all()
    np.testing.assert_array_equal(np.diag(D), np.zeros(50))


def test_integer_and_boolean_inputs_are_accepted_as_numbers() -> None:
    A = np.array([[1, 0], [0, 1]], dtype=np.int64)
    B = np.array([[True, False]])
    np.testing.assert_array_equal(pairwise_distances(A, B, "manhattan"), [[0.0], [2.0]])


def test_empty_first_operand_gives_an_empty_matrix() -> None:
    out = pairwise_distances(np.empty((0, 3)), np.ones((4, 3)))
    assert out.shape == (0, 4)


@pytest.mark.parametrize(
    ("A", "B", "metric", "message"),
    [
        (np.ones((2, 2)), np.ones((2, 2)), "cosine", "Unknown metric 'cosine'"),
        (np.ones((2, 2)), np.ones((2, 2)), None, "Unknown metric None"),
        (np.ones((2, 2)), np.ones((2, 3)), "euclidean", "same number of features, got 2 != 3"),
        (np.ones(3), np.ones((2, 3)), "euclidean", "Expected A to be 2-D"),
        (np.ones((2, 3)), np.ones((2, 3, 1)), "euclidean", "Expected B to be 2-D"),
        (np.ones((2, 0)), np.ones((2, 0)), "euclidean", "at least one feature in A"),
        ([[1.0, np.nan]], [[1.0, 2.0]], "euclidean", "A contains NaN or infinity"),
        ([[1.0, 2.0]], [[np.inf, 2.0]], "manhattan", "B contains NaN or infinity"),
        ([["a", "b"]], [[1.0, 2.0]], "euclidean", "A must contain only numbers"),
        ([[1.0, 2e100 * 10]], [[1.0, 2.0]], "euclidean", "too large in magnitude"),
    ],
)
def test_pairwise_distances_rejects_bad_input_naming_the_problem(
    A: object, B: object, metric: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pairwise_distances(A, B, metric=metric)  # type: ignore[arg-type]
