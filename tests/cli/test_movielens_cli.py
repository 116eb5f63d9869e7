"""`recommender import movielens`: a folder, a broken file, usage errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import ImportRun, Rating, User

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_import_movielens_prints_what_it_did(runner):
    result = runner.invoke(args=["import", "movielens", str(FIXTURES / "100k")])

    assert result.exit_code == 0, result.output
    assert "Imported 100k (100k layout, dataset ml-100k):" in result.output
    assert "movies: 0 matched with the catalogue, 5 inserted" in result.output
    assert "users: 3 inserted, 0 existing" in result.output
    assert "ratings: 7 inserted, 0 updated, 0 unchanged" in result.output
    assert count(Rating) == 7 and count(User) == 3


def test_a_broken_file_exits_1_with_its_line_and_writes_nothing(runner, tmp_path):
    folder = tmp_path / "ml"
    shutil.copytree(FIXTURES / "1m", folder)
    ratings = folder / "ratings.dat"
    ratings.write_text(ratings.read_text().replace("2::4::2::", "2::4::7::"))

    result = runner.invoke(args=["import", "movielens", str(folder), "--layout", "1m"])

    assert result.exit_code == 1
    assert "Error: ml was refused: 1 problem" in result.output
    assert "  ratings.dat line 5: Rating must be from 0.5 to 5, got 7" in result.output
    assert count(Rating) == count(User) == 0
    assert db.session.scalar(sa.select(ImportRun.status)) == "failed"


def test_an_unrecognised_folder_exits_1_listing_what_was_looked_for(runner, tmp_path):
    result = runner.invoke(args=["import", "movielens", str(tmp_path)])
    assert result.exit_code == 1
    assert "no MovieLens layout recognised: looked for u.data + u.item (100k)" in result.output


def test_a_bad_layout_flag_is_a_usage_error(runner):
    result = runner.invoke(args=["import", "movielens", str(FIXTURES / "100k"), "--layout", "9m"])
    assert result.exit_code == 2
    assert "'9m' is not one of 'auto', '100k', '1m', 'latest', 'recbole'" in result.output


def test_a_missing_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(args=["import", "movielens", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
