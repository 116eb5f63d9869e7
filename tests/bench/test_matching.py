"""bench/matching.py: the title matcher on the labelled pairs holds issue 14's bounds."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from recommender.importers.matching import RULES

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_matching", BENCH / "matching.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def pairs():
    return bench.read_pairs()


@pytest.fixture(scope="module")
def scores(pairs):
    return bench.evaluate(pairs, bench.sample_catalogue())


def test_the_labelled_list_has_both_kinds_of_pair_in_numbers(pairs):
    same = [p for p in pairs if p.same]
    different = [p for p in pairs if not p.same]
    assert len(pairs) >= 100 and len(same) >= 50 and len(different) >= 50
    # Look-alikes that are other films: remakes, sequels, titles within a year.
    notes = {p.note for p in different}
    assert {"remake", "sequel", "look-alike"} <= notes
    assert len({(p.dataset_title, p.dataset_year, p.catalogue_title) for p in pairs}) == len(pairs)


def test_precision_and_recall_meet_the_goals(scores):
    assert scores.precision >= bench.GOALS["precision"], scores.wrong
    assert scores.recall >= bench.GOALS["recall"], scores.wrong


def test_every_rule_matches_some_pair_and_the_famous_cases_match(pairs, scores):
    assert set(scores.by_rule) == set(RULES)
    famous = {"Star Wars", "Return of the Jedi", "Empire Strikes Back, The", "Seven (Se7en)"}
    wrong = "\n".join(scores.wrong)
    for pair in pairs:
        if pair.dataset_title in famous:
            assert pair.dataset_title not in wrong


def test_the_scores_follow_the_labels(pairs):
    # The same answers judged against the opposite labels: the bounds could fail.
    flipped = [replace(pair, same=not pair.same) for pair in pairs]
    scores = bench.evaluate(flipped, bench.sample_catalogue())
    assert scores.precision < 0.1 and scores.recall < 0.1
