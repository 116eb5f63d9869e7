"""Likely duplicates in the catalogue: pairs of movie rows the title matcher takes for one film.

The same matcher the MovieLens import uses (``importers.matching``) is asked about every row
against all the others. A pair it matches is ``certain``; a pair it would not guess (two rows
that fit equally, a series name a year off, a fuzzy score in the grey band) is listed as
possible. Each side comes with its rating count, so an administrator can tell which row to
keep (``recommender movies merge KEEP DROP``): ``keep`` suggests the one with more ratings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.importers.matching import RULES, TitleIndex
from recommender.models import Movie, Rating


@dataclass(frozen=True)
class DuplicateSide:
    id: int
    title: str
    year: int | None
    ratings: int


@dataclass(frozen=True)
class DuplicatePair:
    rule: str
    # 100 for the exact, alternative-title and series rules; rapidfuzz's score for fuzzy.
    score: float
    certain: bool  # the matcher would match them; False: possible, left to a person
    movies: tuple[DuplicateSide, DuplicateSide]
    keep: int  # the row with more ratings (the lower id on a tie)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(index: TitleIndex) -> dict[tuple[int, int], tuple[str, float, bool]]:
    """Return (lower id, higher id) -> (rule, score, certain) for every pair the matcher finds."""
    found: dict[tuple[int, int], tuple[str, float, bool]] = {}
    for entry in index.entries.values():
        match = index.match(entry.title, entry.year, exclude=entry.movie_id, forms=entry.forms)
        others = (
            [match.movie_id] if match.movie_id is not None else [e.movie_id for e in match.possible]
        )
        for other in others:
            if other is None:
                continue
            pair = (min(entry.movie_id, other), max(entry.movie_id, other))
            answer = (match.rule or "exact", match.score, match.movie_id is not None)
            # Asked from both sides: keep the surer answer.
            if pair not in found or (answer[2], -_rank(answer[0])) > (
                found[pair][2],
                -_rank(found[pair][0]),
            ):
                found[pair] = answer
    return found


def _rank(rule: str) -> int:
    return RULES.index(rule) if rule in RULES else len(RULES)


def _rating_counts(session: Session, movie_ids: set[int]) -> dict[int, int]:
    counts: dict[int, int] = dict.fromkeys(movie_ids, 0)
    ids = sorted(movie_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            sa.select(Rating.movie_id, sa.func.count())
            .where(Rating.movie_id.in_(chunk))
            .group_by(Rating.movie_id)
        )
        counts.update(dict(session.execute(query).all()))
    return counts


def likely_duplicates(session: Session) -> list[DuplicatePair]:
    """Return every pair of movie rows the matcher takes for one film, surest first.

    Order: matched pairs before possible ones, stronger rules first, then the pairs with the
    most ratings between them (the ones that split the most ratings).
    """
    rows = session.execute(sa.select(Movie.id, Movie.title, Movie.year)).all()
    index = TitleIndex.of(rows)
    found = _pairs(index)
    counts = _rating_counts(session, {movie_id for pair in found for movie_id in pair})
    pairs = []
    for (first_id, second_id), (rule, score, certain) in found.items():
        sides = tuple(
            DuplicateSide(e.movie_id, e.title, e.year, counts[e.movie_id])
            for e in (index.entries[first_id], index.entries[second_id])
        )
        keep = max(sides, key=lambda side: (side.ratings, -side.id)).id
        pairs.append(DuplicatePair(rule, score, certain, (sides[0], sides[1]), keep))
    pairs.sort(
        key=lambda p: (
            not p.certain,
            _rank(p.rule),
            -(p.movies[0].ratings + p.movies[1].ratings),
            p.movies[0].id,
            p.movies[1].id,
        )
    )
    return pairs


def describe(pair: DuplicatePair) -> str:
    """Return one line: how sure, by which rule, both rows with their rating counts."""
    how = "same film" if pair.certain else "possible"
    rule = pair.rule.replace("_", " ") + (f" {pair.score:.0f}" if pair.rule == "fuzzy" else "")
    sides = "  |  ".join(
        f"{side.id} {side.title} ({side.year if side.year is not None else 'no year'}), "
        f"{side.ratings:,} ratings"
        for side in pair.movies
    )
    return f"{how} ({rule}): {sides}  -> keep {pair.keep}"
