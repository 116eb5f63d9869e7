"""The MovieLens import matches its films to the catalogue by the title matcher: each rule
counted, the undecided inserted and listed as possible duplicates, re-imports idempotent."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import MovieLensReport, import_movielens
from recommender.models import ImportRun, Movie, MovieExternalId, Rating
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)


def write_dataset(folder: Path, titles: list[str]) -> Path:
    """A latest-layout dataset of ``titles`` ("Title (Year)"), each rated once by user 1."""
    folder.mkdir()
    with (folder / "movies.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["movieId", "title", "genres"])
        for number, title in enumerate(titles, start=1):
            writer.writerow([number, title, "Drama"])
    with (folder / "ratings.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for number in range(1, len(titles) + 1):
            writer.writerow([1, number, 4.0, 874965758 + number])
    return folder


def run(folder: Path) -> MovieLensReport:
    return import_movielens(db.session, folder, scale=SCALE)


def movie_of(external_id: str) -> Movie:
    movie_id = db.session.scalar(
        sa.select(MovieExternalId.movie_id).filter_by(external_id=external_id)
    )
    return db.session.get(Movie, movie_id)


def dump() -> dict[str, list[tuple[Any, ...]]]:
    db.session.expire_all()
    return {
        model.__tablename__: sorted(
            tuple(r) for r in db.session.execute(sa.select(model.__table__))
        )
        for model in (Movie, Rating, MovieExternalId)
    }


def test_each_rule_matches_its_film_and_the_report_counts_them(app, tmp_path):
    se7en = make_movie("Se7en", 1995).id
    star_wars = make_movie("Star Wars Ep. IV: A New Hope", 1977).id
    shawshank = make_movie("The Shawshank Redemption", 1994).id
    grosse = make_movie("Grosse Point Blank", 1997).id
    make_movie("The Godfather", 1972)
    folder = write_dataset(
        tmp_path / "ml-test",
        [
            "Shawshank Redemption, The (1994)",
            "Seven (Se7en) (1995)",
            "Star Wars (1977)",
            "Grosse Pointe Blank (1997)",
            "Godfather: Part II, The (1974)",
            "A New Film (2001)",
        ],
    )

    report = run(folder)

    assert report.matched_by == {"exact": 1, "alternative_title": 1, "series": 1, "fuzzy": 1}
    assert report.counts["movies_matched_catalogue"] == 4
    assert report.counts["movies_inserted"] == 2 and report.possible_duplicates == []
    assert [movie_of(str(n)).id for n in (1, 2, 3, 4)] == [shawshank, se7en, star_wars, grosse]
    assert movie_of("5").title == "The Godfather: Part II"  # a sequel, not The Godfather
    run_row = db.session.get(ImportRun, report.run_id)
    assert run_row.counts["movies_matched_series"] == 1
    assert "matched by: exact 1, alternative title 1, series 1, fuzzy 1" in report.summary()


def test_an_undecided_film_is_inserted_and_listed_as_a_possible_duplicate(app, tmp_path):
    kama = make_movie("Kama Sutra", 1997).id
    spider = [make_movie("Spider-Man", 2002).id, make_movie("Spiderman", 2002).id]
    folder = write_dataset(
        tmp_path / "ml-test", ["Kama Sutra: A Tale of Love (1996)", "Spider Man (2002)"]
    )
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Movie))

    report = run(folder)

    assert report.counts["movies_matched_catalogue"] == 0
    assert report.counts["movies_inserted"] == 2
    assert report.counts["movies_possible_duplicates"] == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Movie)) == before + 2
    first, second = report.possible_duplicates
    inserted = movie_of("1")
    assert inserted.id not in (kama, *spider) and inserted.title == "Kama Sutra: A Tale of Love"
    assert first["movie_id"] == inserted.id
    assert first["duplicates"] == [{"id": kama, "title": "Kama Sutra", "year": 1997}]
    assert first["message"].endswith(f"possible duplicate of {kama} Kama Sutra (1997)")
    assert {d["id"] for d in second["duplicates"]} == set(spider)
    # The run keeps them among its notes; the summary lists each one.
    notes = db.session.get(ImportRun, report.run_id).notes
    assert [n for n in notes if n["kind"] == "possible_duplicate"] == report.possible_duplicates
    assert first["message"] in report.summary() and second["message"] in report.summary()


def test_a_row_goes_to_the_film_that_matches_it_best_whatever_the_order(app, tmp_path):
    se7en = make_movie("Se7en", 1995).id
    # The alternative title comes first in the file, the exact title second.
    folder = write_dataset(tmp_path / "ml-test", ["Seven (Se7en) (1995)", "Se7en (1995)"])

    report = run(folder)

    assert movie_of("2").id == se7en and movie_of("1").id != se7en
    assert report.matched_by["exact"] == 1 and report.matched_by["alternative_title"] == 0
    (listed,) = report.possible_duplicates
    assert listed["movie_id"] == movie_of("1").id
    assert listed["duplicates"] == [{"id": se7en, "title": "Se7en", "year": 1995}]


def test_new_films_of_one_dataset_are_matched_among_themselves(app, tmp_path):
    folder = write_dataset(
        tmp_path / "ml-test",
        [
            "Maybe, Maybe Not (Bewegte Mann, Der) (1994)",
            "Der Bewegte Mann (1994)",
            "Chasing Amy (1997)",
            "Chasing Amy (1997)",
        ],
    )

    report = run(folder)

    # One title and year twice is one film; an alternative title is listed, not merged.
    assert report.counts["movies_merged"] == 1 and movie_of("3").id == movie_of("4").id
    assert report.counts["movies_inserted"] == 3
    (listed,) = report.possible_duplicates
    assert listed["movie_id"] == movie_of("2").id
    assert listed["duplicates"][0]["id"] == movie_of("1").id


def test_a_re_import_links_every_film_again_and_changes_nothing(app, tmp_path):
    make_movie("Kama Sutra", 1997)
    make_movie("Se7en", 1995)
    folder = write_dataset(
        tmp_path / "ml-test", ["Kama Sutra: A Tale of Love (1996)", "Seven (Se7en) (1995)"]
    )
    run(folder)
    before = dump()

    again = run(folder)

    assert dump() == before
    assert again.counts["movies_known"] == 2 and again.counts["movies_inserted"] == 0
    assert again.possible_duplicates == [] and again.counts["ratings_unchanged"] == 2


def test_a_matched_film_without_genres_takes_the_datasets_and_one_with_genres_keeps_its_own(
    app, tmp_path
):
    bare = make_movie("Monty Python and the Holy Grail", 1975).id
    dressed = make_movie("Se7en", 1995, ("Thriller",)).id
    folder = write_dataset(
        tmp_path / "ml-test", ["Monty Python and the Holy Grail (1974)", "Seven (Se7en) (1995)"]
    )

    report = run(folder)

    db.session.expire_all()
    assert [g.name for g in db.session.get(Movie, bare).genres] == ["Drama"]
    assert [g.name for g in db.session.get(Movie, dressed).genres] == ["Thriller"]
    assert report.counts["movies_genres_filled"] == 1
    assert "genres: 1 matched catalogue films without genres took the dataset's" in (
        report.summary()
    )
    # A re-import changes nothing: the row has genres now, and its link is known.
    assert run(folder).counts["movies_genres_filled"] == 0
