"""importers.movielens: dataset titles repaired and genres put in the one vocabulary."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Genre, ImportRun, Movie
from tests.factories import make_movie

SCALE = RatingScale(0.5, 5.0, 0.5)


def write_latest(folder: Path, movies: list[str]) -> Path:
    """Write a MovieLens latest dataset of ``movies`` (CSV lines), one rating of each."""
    folder.mkdir()
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f"{line}\n" for line in movies), encoding="utf-8"
    )
    ratings = "".join(f"1,{n},4.0,874965758\n" for n in range(1, len(movies) + 1))
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + ratings)
    return folder


def genres_of(title: str) -> list[str]:
    movie = db.session.scalars(sa.select(Movie).filter_by(title=title)).one()
    return [genre.name for genre in movie.genres]


def test_dataset_genres_join_the_catalogues_vocabulary(app, tmp_path):
    make_movie("Alien", 1979, genres=("Horror", "Sci-Fi"))
    dataset = write_latest(
        tmp_path / "ml-latest",
        [
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
            "2,Babe (1995),Children's|Comedy|Drama",
            "3,Avatar (2009),Action|Adventure|Sci-Fi|IMAX",
            "4,Unknown Thing (2019),(no genres listed)",
            "5,Night Film (1950),Film-Noir|thriller",
        ],
    )

    import_movielens(db.session, dataset, scale=SCALE)

    assert genres_of("Toy Story") == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert genres_of("Babe") == ["Children", "Comedy", "Drama"]
    # IMAX is a screen format, not a genre; Sci-Fi is the catalogue's row, not a second one.
    assert genres_of("Avatar") == ["Action", "Adventure", "Sci-Fi"]
    assert genres_of("Unknown Thing") == []
    assert genres_of("Night Film") == ["Film-Noir", "Thriller"]
    names = list(db.session.scalars(sa.select(Genre.name)))
    assert len(names) == len({name.casefold() for name in names})
    assert not {"Children's", "IMAX", "(no genres listed)", "thriller"} & set(names)


def test_dataset_titles_are_repaired_and_the_repair_is_noted(app, tmp_path):
    dataset = write_latest(
        tmp_path / "ml-latest",
        ["1,AmÃ©lie (2001),Comedy|Romance", "2,CafÃ© au Lait (1993),Comedy", "3,Heat (1995),"],
    )

    report = import_movielens(db.session, dataset, scale=SCALE)

    titles = set(db.session.scalars(sa.select(Movie.title)))
    assert titles == {"Amélie", "Café au Lait", "Heat"}
    assert report.counts["titles_repaired"] == 2
    assert "2 mis-decoded titles repaired" in report.summary()
    db.session.expire_all()
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert run.counts["titles_repaired"] == 2
    repaired = [note for note in run.notes if note["kind"] == "repaired"]
    assert repaired == [
        {
            "kind": "repaired",
            "location": "movies.csv line 2",
            "message": "title 'AmÃ©lie' was mis-decoded: read as 'Amélie'",
        },
        {
            "kind": "repaired",
            "location": "movies.csv line 3",
            "message": "title 'CafÃ© au Lait' was mis-decoded: read as 'Café au Lait'",
        },
    ]
