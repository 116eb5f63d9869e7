"""Top-N ranking metrics against values computed by hand (engine/ranking_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine import ranking_metrics as rm

LOG2_3 = np.log2(3.0)

# Three users' top-3 lists over a catalogue of 10 movies (-1: no movie in that slot).
#   user 0: [2, 0, 5], relevant {0, 5, 7}: hits 0 1 1, R = 3
#   user 1: [4, 1, -], relevant {4}:       hits 1 0 0, R = 1
#   user 2: [3, 4, 6], relevant {}:        skipped by every metric
LISTS = np.array([[2, 0, 5], [4, 1, rm.PADDING], [3, 4, 6]])
RELEVANT_USERS = np.array([0, 0, 0, 1])
RELEVANT_ITEMS = np.array([0, 5, 7, 4])
N_RELEVANT = np.array([3, 1, 0])


def hits() -> np.ndarray:
    return rm.hit_matrix(LISTS, np.arange(3), RELEVANT_USERS, RELEVANT_ITEMS)


def test_hit_matrix_marks_relevant_slots():
    expected = [[False, True, True], [True, False, False], [False, False, False]]
    np.testing.assert_array_equal(hits(), expected)


def test_a_padded_slot_is_never_a_hit_even_where_its_key_meets_another_users_pair():
    # user 1's pad (-1) has the key of user 0's last movie (4) in a 5-wide key space.
    found = rm.hit_matrix(np.array([[4, 0], [rm.PADDING, 2]]), np.array([0, 1]), [0], [4])
    np.testing.assert_array_equal(found, [[True, False], [False, False]])


def test_precision_divides_by_n_even_for_a_short_list():
    np.testing.assert_allclose(rm.precision_at_n(hits(), N_RELEVANT), [2 / 3, 1 / 3])


def test_recall_divides_by_the_relevant_count():
    np.testing.assert_allclose(rm.recall_at_n(hits(), N_RELEVANT), [2 / 3, 1.0])


def test_ndcg_uses_binary_gain_log2_discount_and_the_ideal_over_min_n_r():
    # user 0: DCG = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3) + 1/2 (min(3, 3) = 3 hits).
    # user 1: DCG = 1; IDCG over min(3, 1) = 1 hit = 1.
    dcg = 1 / LOG2_3 + 0.5
    np.testing.assert_allclose(
        rm.ndcg_at_n(hits(), N_RELEVANT), [dcg / (1 + 1 / LOG2_3 + 0.5), 1.0]
    )


def test_ndcg_ideal_is_capped_at_n_when_more_are_relevant():
    # Five relevant movies, a top-2 list with both slots hits: a perfect list, nDCG 1.
    assert rm.ndcg_at_n(np.array([[True, True]]), np.array([5])) == pytest.approx([1.0])


def test_average_precision_sums_precision_at_each_hit_over_min_n_r():
    # user 0: (P@2 + P@3) / min(3, 3) = (1/2 + 2/3) / 3; user 1: P@1 / min(3, 1) = 1.
    expected = [(1 / 2 + 2 / 3) / 3, 1.0]
    np.testing.assert_allclose(rm.average_precision_at_n(hits(), N_RELEVANT), expected)
    # Two relevant, both found at ranks 1 and 3 of a top-3 list: (1 + 2/3) / 2.
    ap = rm.average_precision_at_n(np.array([[True, False, True]]), np.array([2]))
    assert ap == pytest.approx([(1 + 2 / 3) / 2])


def test_coverage_counts_distinct_movies_and_ignores_padding():
    assert rm.catalogue_coverage(LISTS[:2], 10) == pytest.approx(5 / 10)
    assert rm.catalogue_coverage(np.array([[rm.PADDING, rm.PADDING]]), 10) == 0.0


def test_mean_popularity_is_over_filled_slots():
    popularity = np.arange(10) / 10
    # Slots 2, 0, 5, 4, 1 -> (0.2 + 0 + 0.5 + 0.4 + 0.1) / 5.
    assert rm.mean_popularity(LISTS[:2], popularity) == pytest.approx(1.2 / 5)
    assert np.isnan(rm.mean_popularity(np.array([[rm.PADDING]]), popularity))


def test_ranking_report_skips_users_without_a_relevant_movie_everywhere():
    report = rm.ranking_report(LISTS, hits(), N_RELEVANT, np.arange(10) / 10)
    dcg = 1 / LOG2_3 + 0.5
    assert report == pytest.approx(
        {
            "precision": (2 / 3 + 1 / 3) / 2,
            "recall": (2 / 3 + 1) / 2,
            "ndcg": (dcg / (1.5 + 1 / LOG2_3) + 1) / 2,
            "map": ((1 / 2 + 2 / 3) / 3 + 1) / 2,
            # user 2's movies 3 and 6 are not counted: coverage and popularity describe the
            # same lists as the other figures.
            "catalogue_coverage": 0.5,
            "mean_popularity": 0.24,
        }
    )


def test_top_n_orders_by_score_then_tiebreak_then_lower_column():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, -np.inf]])
    np.testing.assert_array_equal(rm.top_n(scores, 3), [[1, 2, 3]])
    tiebreak = np.array([0.0, 0.0, 5.0, 0.0, 0.0])
    np.testing.assert_array_equal(rm.top_n(scores, 3, tiebreak), [[2, 1, 3]])


def test_top_n_pads_where_only_excluded_movies_are_left():
    scores = np.array([[1.0, -np.inf, 2.0], [-np.inf, -np.inf, -np.inf]])
    np.testing.assert_array_equal(rm.top_n(scores, 3), [[2, 0, -1], [-1, -1, -1]])
    # n beyond the catalogue is the whole catalogue.
    assert rm.top_n(scores, 10).shape == (2, 3)
    with pytest.raises(ValueError, match="n >= 1"):
        rm.top_n(scores, 0)
