"""MovieLens 100K imported onto the sample catalogue: one film, one row (issue 14).

The real data (fetched at run time, never committed): the sample catalogue first, as `make
demo` does, then ML-100K, then ML-100K again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.catalogue import import_sample_catalogue
from recommender.importers.matching import RULES, title_forms
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, MovieExternalId, Rating
from recommender.services.duplicates import likely_duplicates

SCALE = RatingScale(0.5, 5.0, 0.5)
# ML-100K item id -> the sample catalogue's row of that film.
FAMOUS = {
    "50": ("Star Wars Ep. IV: A New Hope", 1977),  # "Star Wars (1977)"
    "181": ("Star Wars Ep. VI: Return of the Jedi", 1983),  # "Return of the Jedi (1983)"
    "172": ("Star Wars Ep. V: The Empire Strikes Back", 1980),  # "Empire Strikes Back, The"
    "11": ("Se7en", 1995),  # "Seven (Se7en) (1995)"
    "64": ("The Shawshank Redemption", 1994),  # "Shawshank Redemption, The (1994)"
    "7": ("Twelve Monkeys", 1995),
    "127": ("The Godfather", 1972),  # "Godfather, The (1972)"
    "187": ("The Godfather: Part II", 1974),
    "665": ("Alien³", 1992),  # "Alien 3 (1992)"
}


def dump() -> dict[str, list[tuple[Any, ...]]]:
    db.session.expire_all()
    return {
        model.__tablename__: sorted(
            tuple(r) for r in db.session.execute(sa.select(model.__table__))
        )
        for model in (Movie, Rating, MovieExternalId)
    }


def _listed_pairs(report) -> set[frozenset[int]]:
    return {
        frozenset((listed["movie_id"], twin["id"]))
        for listed in report.possible_duplicates
        for twin in listed["duplicates"]
    }


def test_ml100k_onto_the_sample_catalogue_leaves_one_row_per_film(app, ml100k):
    import_sample_catalogue(db.session)
    catalogue_ids = set(db.session.scalars(sa.select(Movie.id)))

    report = import_movielens(db.session, ml100k, scale=SCALE)

    counts = report.counts
    assert sum(report.matched_by.values()) == counts["movies_matched_catalogue"]
    assert all(report.matched_by[rule] > 0 for rule in RULES), report.matched_by
    # Title + year alone matched 427; the matcher finds the films spelt another way too.
    assert counts["movies_matched_catalogue"] > 427
    links = dict(
        db.session.execute(sa.select(MovieExternalId.external_id, MovieExternalId.movie_id)).all()
    )
    for item, (title, year) in FAMOUS.items():
        movie = db.session.get(Movie, links[item])
        assert (movie.title, movie.year) == (title, year), item
        assert movie.id in catalogue_ids
    # A matched sample film without genres took MovieLens's (item 168: Monty Python and the
    # Holy Grail, Comedy); one with genres kept its own (item 50: Star Wars).
    assert [g.name for g in db.session.get(Movie, links["168"]).genres] == ["Comedy"]
    assert counts["movies_genres_filled"] > 0
    titles = {tuple(row) for row in db.session.execute(sa.select(Movie.title, Movie.year))}
    for twin in (("Star Wars", 1977), ("Return of the Jedi", 1983), ("Seven (Se7en)", 1995)):
        assert twin not in titles

    # The report lists every undecided film, and nothing else is left to decide: no two rows
    # (one of them the import's) whose folded titles are equal within a year, and no pair the
    # duplicates report finds, that the import report does not list.
    assert counts["movies_possible_duplicates"] == len(report.possible_duplicates)
    listed = _listed_pairs(report)
    imported = set(links.values())
    by_key: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for movie_id, title, year in db.session.execute(sa.select(Movie.id, Movie.title, Movie.year)):
        by_key[title_forms(title).exact].append((movie_id, year))
    for rows in by_key.values():
        for index, (first, first_year) in enumerate(rows):
            for second, second_year in rows[index + 1 :]:
                near = (
                    first_year == second_year
                    if None in (first_year, second_year)
                    else abs(first_year - second_year) <= 1
                )
                if near and {first, second} & imported:
                    assert frozenset((first, second)) in listed, (first, second)
    for pair in likely_duplicates(db.session):
        ids = frozenset(side.id for side in pair.movies)
        if ids & imported:
            assert ids in listed, pair
    # Every listed film really was inserted, beside rows that exist.
    for entry in report.possible_duplicates:
        assert entry["movie_id"] in imported and entry["movie_id"] not in catalogue_ids
        assert all(db.session.get(Movie, twin["id"]) for twin in entry["duplicates"])

    before = dump()
    again = import_movielens(db.session, ml100k, scale=SCALE)

    assert dump() == before
    assert again.counts["movies_known"] == len(set(links.values()))
    assert again.counts["movies_inserted"] == again.counts["movies_matched_catalogue"] == 0
    assert again.possible_duplicates == []
