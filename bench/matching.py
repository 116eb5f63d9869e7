"""Title matching: precision and recall of the matcher on the labelled pairs.

``tests/fixtures/title_pairs.csv`` holds pairs of a MovieLens 100K film (its title as the
dataset spells it, and year) and a film of the sample catalogue (title and year as the
catalogue importer reads them), each labelled by hand: the same film or not. Matches, the
famous cases, every pair the rules find beyond the identical, remakes with other years,
sequels, series, look-alike titles within a year. Titles and years only: no ratings.

Each dataset film is matched the way an import matches it: against an index of the whole
sample catalogue (3,200 films), so a second candidate can make a match ambiguous. A pair is
predicted "same" when the matcher returns that very catalogue row; an ambiguous answer (not
guessed, listed as a possible duplicate) predicts nothing. Then

    precision = same predicted and same / same predicted
    recall    = same predicted and same / same

Goal (issue 14): precision >= 0.99, recall >= 0.95; tests/bench/test_matching.py holds it.

Run: ``.venv/bin/python bench/matching.py`` (``--sweep`` tries other fuzzy thresholds,
``--verbose`` lists every pair the matcher gets wrong or leaves undecided).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.importers.catalogue import parse_catalogue  # noqa: E402
from recommender.importers.matching import FUZZY_ACCEPT, FUZZY_GREY, TitleIndex, fold  # noqa: E402

PAIRS = ROOT / "tests" / "fixtures" / "title_pairs.csv"
SAMPLE = ROOT / "recommender" / "data" / "movies.json"
# The sample was compiled in 2010-2011 (the catalogue importer's default for the sample).
SAMPLE_LATEST_YEAR = 2011
GOALS = {"precision": 0.99, "recall": 0.95}


@dataclass(frozen=True)
class Pair:
    dataset_title: str
    dataset_year: int | None
    catalogue_title: str
    catalogue_year: int | None
    same: bool
    note: str


@dataclass
class Scores:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    # Rule -> how many pairs it matched (right or wrong).
    by_rule: Counter[str] = field(default_factory=Counter)
    # Same films left undecided and listed as possible duplicates (a subset of the misses).
    listed_as_possible: int = 0
    # Different films listed as possible duplicates: what the grey band costs a reader.
    different_listed: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        same = self.true_positives + self.false_negatives
        return self.true_positives / same if same else 1.0


def _year(text: str) -> int | None:
    return int(text) if text.strip() else None


def read_pairs(path: Path = PAIRS) -> list[Pair]:
    """Return the labelled pairs of ``path``."""
    with path.open(encoding="utf-8", newline="") as file:
        return [
            Pair(
                row["dataset_title"],
                _year(row["dataset_year"]),
                row["catalogue_title"],
                _year(row["catalogue_year"]),
                row["same_film"] == "1",
                row["note"],
            )
            for row in csv.DictReader(file)
        ]


def sample_catalogue() -> list[tuple[int, str, int | None]]:
    """Return the sample catalogue's (position, title, year), read as its importer reads it."""
    parsed = parse_catalogue(SAMPLE.read_bytes(), "json", SAMPLE_LATEST_YEAR)
    return [
        (position, record.values["title"], record.values["year"])
        for position, record in enumerate(parsed.records)
    ]


def evaluate(
    pairs: list[Pair],
    catalogue: list[tuple[int, str, int | None]],
    *,
    fuzzy_accept: float = FUZZY_ACCEPT,
    fuzzy_grey: float = FUZZY_GREY,
) -> Scores:
    """Match each pair's dataset film against the whole ``catalogue`` and score the answers."""
    index = TitleIndex.of(catalogue, fuzzy_accept=fuzzy_accept, fuzzy_grey=fuzzy_grey)
    # The catalogue row of a pair, by folded title and year: the same row whether or not the
    # catalogue importer has repaired its mis-decoded text ("LÈon") by then.
    rows = {(fold(title), year): movie_id for movie_id, title, year in catalogue}
    scores = Scores()
    for pair in pairs:
        wanted = rows.get((fold(pair.catalogue_title), pair.catalogue_year))
        if wanted is None:
            raise LookupError(
                f"{pair.catalogue_title!r} ({pair.catalogue_year}) is not in {SAMPLE}"
            )
        match = index.match(pair.dataset_title, pair.dataset_year)
        predicted = match.movie_id == wanted
        if match.movie_id is not None and predicted:
            scores.by_rule[match.rule or "?"] += 1
        shown = f"{pair.dataset_title} ({pair.dataset_year}) ~ "
        shown += f"{pair.catalogue_title} ({pair.catalogue_year})"
        if pair.same and predicted:
            scores.true_positives += 1
        elif pair.same:
            scores.false_negatives += 1
            possible = any(e.movie_id == wanted for e in match.possible)
            scores.listed_as_possible += possible
            how = "listed as a possible duplicate" if possible else "missed"
            scores.wrong.append(f"{how}: {shown} [{pair.note}]")
        elif predicted:
            scores.false_positives += 1
            scores.wrong.append(f"matched by {match.rule} but another film: {shown} [{pair.note}]")
        else:
            scores.true_negatives += 1
            scores.different_listed += any(e.movie_id == wanted for e in match.possible)
    return scores


def report(scores: Scores, pairs: list[Pair]) -> str:
    same = sum(pair.same for pair in pairs)
    lines = [
        f"{len(pairs)} labelled pairs: {same} same film, {len(pairs) - same} different films",
        f"precision {scores.precision:.3f} (goal >= {GOALS['precision']}), "
        f"recall {scores.recall:.3f} (goal >= {GOALS['recall']})",
        f"  true positives {scores.true_positives}, false positives {scores.false_positives}, "
        f"false negatives {scores.false_negatives} ({scores.listed_as_possible} of them listed "
        f"as possible duplicates), true negatives {scores.true_negatives} "
        f"({scores.different_listed} of them listed as possible duplicates)",
        "matched by rule: "
        + ", ".join(f"{rule} {count}" for rule, count in scores.by_rule.most_common()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sweep", action="store_true", help="Try other fuzzy thresholds.")
    parser.add_argument("--verbose", action="store_true", help="List the pairs gone wrong.")
    args = parser.parse_args()
    pairs, catalogue = read_pairs(), sample_catalogue()
    scores = evaluate(pairs, catalogue)
    print(report(scores, pairs))
    if args.verbose:
        print("\n".join(f"  {line}" for line in scores.wrong))
    if args.sweep:
        print("\nfuzzy accept (grey band 5 below): precision, recall, listed same / different")
        for accept in range(70, 101, 5):
            swept = evaluate(pairs, catalogue, fuzzy_accept=accept, fuzzy_grey=accept - 5)
            print(
                f"  {accept:3d}: {swept.precision:.3f} {swept.recall:.3f} "
                f"{swept.listed_as_possible} / {swept.different_listed}"
            )


if __name__ == "__main__":
    main()
