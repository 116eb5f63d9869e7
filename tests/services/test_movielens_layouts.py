"""importers.movielens.layouts: the registry is the one place a layout is described.

A made-up layout is added with one class, and the importer, its refusals and evaluation pick
it up; the CLI's choices and the README's table are what the registry renders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.cli import import_movielens as import_movielens_command
from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.importers.movielens.layouts import (
    LAYOUTS,
    DatasetMovie,
    Layout,
    dataset_movie,
    readme_table,
    register,
    split_title,
)
from recommender.importers.movielens.sources import DatasetFiles
from recommender.importers.problems import Problems
from recommender.models import Movie, Rating, User
from recommender.services.errors import ImportRefused
from recommender.services.evaluation import load_dataset_ratings

README = Path(__file__).resolve().parents[2] / "README.md"
SCALE = RatingScale(0.5, 5.0, 0.5)


@pytest.fixture
def registry() -> Iterator[dict[str, type[Layout]]]:
    """The registry, restored after the test so a made-up layout does not outlive it."""
    saved = dict(LAYOUTS)
    yield LAYOUTS
    LAYOUTS.clear()
    LAYOUTS.update(saved)


def semicolon_dataset(folder: Path) -> Path:
    folder.mkdir()
    (folder / "films.psv").write_text("10;Heat (1995);Action Crime\n11;Up (2009);Animation\n")
    (folder / "votes.psv").write_text("7;10;4.5\n7;11;3\n8;10;5\n")
    return folder


def test_a_made_up_layout_takes_one_class(app, tmp_path, registry):
    @register
    class Semicolons(Layout):
        name = "semicolons"
        ratings_file, movies_file = "votes.psv", "films.psv"
        encoding = "utf-8"
        separator = ";"
        timestamps = False
        description = "made up: user;movie;rating, no timestamps"

        def read_movies(
            self, files: DatasetFiles, problems: Problems, counter: list[int]
        ) -> Iterator[DatasetMovie]:
            for location, fields in self.rows(files, self.movies, 3, problems, counter):
                title, year = split_title(fields[1])
                yield dataset_movie(location, fields[0], title, year, fields[2].split())

    folder = semicolon_dataset(tmp_path / "votes")

    report = import_movielens(db.session, folder, scale=SCALE)

    assert (report.layout, report.dataset) == ("semicolons", "ml-semicolons")
    assert report.counts["ratings_inserted"] == 3
    assert sorted(db.session.scalars(sa.select(User.username))) == [
        "ml-semicolons-7",
        "ml-semicolons-8",
    ]
    heat = db.session.scalars(sa.select(Movie).where(Movie.title == "Heat")).one()
    assert (heat.year, [genre.name for genre in heat.genres]) == (1995, ["Action", "Crime"])
    assert db.session.scalar(sa.select(sa.func.sum(Rating.rating))) == 12.5
    # The refusals name it beside the others, and evaluation reads it as well.
    (folder / "films.psv").unlink()
    with pytest.raises(ImportRefused) as refused:
        import_movielens(db.session, folder, scale=SCALE, layout="semicolons")
    assert "needs votes.psv + films.psv (semicolons)" in refused.value.details[0]["message"]
    with pytest.raises(ImportRefused) as refused:
        import_movielens(db.session, folder, scale=SCALE)
    assert refused.value.details[0]["message"].startswith(
        "no MovieLens layout recognised: looked for u.data + u.item (100k), "
    )
    assert "votes.psv + films.psv (semicolons)" in refused.value.details[0]["message"]
    assert len(load_dataset_ratings(folder)) == 3
    assert "| `semicolons` | `votes.psv`, `films.psv` | made up" in readme_table()


def test_the_readme_layout_table_is_the_registry_rendered():
    text = README.read_text(encoding="utf-8")
    start = text.index("| layout | files read | notes |")
    end = text.index("\n\n", start) + 1
    assert text[start:end] == readme_table(), (
        "README's MovieLens layout table differs from the registry; paste:\n" + readme_table()
    )
    choices = r"\|".join(["auto", *LAYOUTS])
    assert f"`recommender import movielens PATH [--layout {choices}]`" in text


def test_the_cli_offers_every_registered_layout():
    layout_option = next(p for p in import_movielens_command.params if p.name == "layout")
    assert list(layout_option.type.choices) == ["auto", *LAYOUTS]


def test_every_layout_names_its_files_encoding_and_description():
    for name, layout in LAYOUTS.items():
        assert layout.name == name and re.fullmatch(r"[a-z0-9]+", name)
        assert layout.ratings_file and layout.movies_file and layout.description
        assert layout.encoding in ("utf-8", "latin-1")
