"""`recommender import catalogue`: the sample, a file, broken files and usage errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import ImportRun, Movie
from tests.factories import make_movie


def count_movies() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Movie))


def test_sample_import_prints_the_summary_and_what_it_did(runner):
    result = runner.invoke(args=["import", "catalogue", "--sample"])

    assert result.exit_code == 0, result.output
    assert (
        "Imported movies.json: 3,200 inserted, 0 updated, 0 unchanged, 1 skipped, 31 corrected."
        in result.output
    )
    assert "  skipped record 3054: no title" in result.output
    assert (
        "  corrected record 468: Release Date 'Sep 05 2016' is after 2011: read as 1916-09-05"
        in result.output
    )
    assert count_movies() == 3200


def test_sample_import_with_if_empty_leaves_a_filled_catalogue_alone(runner):
    make_movie("Alien", 1979)

    result = runner.invoke(args=["import", "catalogue", "--sample", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert "The catalogue already holds movies (1); nothing imported." in result.output
    assert count_movies() == 1


def test_a_csv_path_is_imported(runner, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("title,year,genres\nAlien,1979,Horror|Science Fiction\n", encoding="utf-8")

    result = runner.invoke(args=["import", "catalogue", str(path)])

    assert result.exit_code == 0, result.output
    assert "Imported mine.csv: 1 inserted, 0 updated, 0 unchanged, 0 skipped, 0 corrected." in (
        result.output
    )


def test_a_broken_file_exits_1_naming_the_line(runner, tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text("title,imdb_rating\nAlien,8.5\nBrazil,abc\n", encoding="utf-8")

    result = runner.invoke(args=["import", "catalogue", str(path)])

    assert result.exit_code == 1
    assert "Error: movies.csv was refused: 1 problem" in result.output
    assert "line 3: imdb_rating must be a number from 0 to 10, got 'abc'" in result.output
    assert count_movies() == 0
    run = db.session.scalars(sa.select(ImportRun)).one()
    assert (run.filename, run.status) == ("movies.csv", "failed")


@pytest.mark.parametrize("with_path", [False, True], ids=["neither", "both"])
def test_path_xor_sample_or_usage_error(runner, tmp_path, with_path):
    path = tmp_path / "movies.csv"
    path.write_text("title\nAlien\n", encoding="utf-8")
    args = ["import", "catalogue", *([str(path), "--sample"] if with_path else [])]

    result = runner.invoke(args=args)

    assert result.exit_code == 2
    assert "Usage:" in result.output
    assert "Give either PATH or --sample, not both and not neither." in result.output
    assert count_movies() == 0


def test_a_nonexistent_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(args=["import", "catalogue", str(tmp_path / "nope.json")])

    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 0
