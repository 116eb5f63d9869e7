"""`recommender recommend`: batch top-N lists from a dataset file or the database."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest

from recommender.extensions import db
from recommender.models import Rating, User
from tests.cli.test_evaluate_cli import write_recbole
from tests.factories import make_movie

HEADER = ["user_id", "rank", "movie_id", "score", "predicted_rating", "source"]
FEW_RATINGS_USER = 500  # rates 2 movies: at or below the app's k = 3, so cold start


@pytest.fixture
def dataset(tmp_path):
    folder = write_recbole(tmp_path / "tiny")
    with (folder / "tiny.inter").open("a") as stream:
        stream.write(
            f"{FEW_RATINGS_USER}\t101\t5\t881250000\n{FEW_RATINGS_USER}\t102\t4\t881250000\n"
        )
    return folder


def rated_by_user(folder):
    rated = defaultdict(set)
    lines = (folder / "tiny.inter").read_text().splitlines()[1:]
    for line in lines:
        user, item, *_ = line.split("\t")
        rated[user].add(item)
    return rated


def recommend(runner, tmp_path, users_csv, *args):
    users = tmp_path / "users.csv"
    users.write_text(users_csv)
    out = tmp_path / "recs.csv"
    result = runner.invoke(args=["recommend", "--users", str(users), "--out", str(out), *args])
    return result, out


def read_lists(out):
    with out.open() as stream:
        reader = csv.DictReader(stream)
        assert reader.fieldnames == HEADER
        lists = defaultdict(list)
        for row in reader:
            lists[row["user_id"]].append(row)
    return lists


def test_each_user_gets_their_top_n_unrated_movies_best_first(runner, dataset, tmp_path):
    users_csv = f"user_id\n2\n1\n9999\n{FEW_RATINGS_USER}\n1\n"
    result, out = recommend(runner, tmp_path, users_csv, "--dataset", str(dataset), "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "Wrote 20 recommendations for 4 users" in result.output
    assert "(2 cold start)" in result.output
    lists = read_lists(out)
    # Users in the order listed; one listed twice gets one list.
    assert list(lists) == ["2", "1", "9999", str(FEW_RATINGS_USER)]
    rated = rated_by_user(dataset)
    for user, rows in lists.items():
        assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
        movies = [r["movie_id"] for r in rows]
        assert len(set(movies)) == 5
        assert not set(movies) & rated[user]
        scores = [float(r["score"]) for r in rows]
        assert scores == sorted(scores, reverse=True)
        assert all(1.0 <= float(r["predicted_rating"]) <= 5.0 for r in rows)
    assert {r["source"] for r in lists["1"] + lists["2"]} == {"knn"}
    assert {r["source"] for r in lists["9999"]} == {"cold_start"}
    assert {r["source"] for r in lists[str(FEW_RATINGS_USER)]} == {"cold_start"}
    # A user the dataset does not know gets the list of a user with no ratings; one with two
    # ratings has them steer theirs (votes on top of popularity), so the two differ.
    assert [r["movie_id"] for r in lists["9999"]] != movies


def test_the_list_is_shorter_when_fewer_movies_are_unrated(runner, dataset, tmp_path):
    args = ("--dataset", str(dataset), "--limit", "25")
    result, out = recommend(runner, tmp_path, "user_id\n1\n", *args)
    assert result.exit_code == 0, result.output
    unrated = 30 - len(rated_by_user(dataset)["1"])
    assert 0 < unrated < 25
    assert [int(r["rank"]) for r in read_lists(out)["1"]] == list(range(1, unrated + 1))


def test_k_decides_who_is_cold_start(runner, dataset, tmp_path):
    args = ("--dataset", str(dataset), "--k", "1", "--limit", "3")
    result, out = recommend(runner, tmp_path, f"user_id\n{FEW_RATINGS_USER}\n", *args)
    assert result.exit_code == 0, result.output
    assert {r["source"] for r in read_lists(out)[str(FEW_RATINGS_USER)]} == {"knn"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id\n1\n", "users.csv line 1: expected the header 'user_id', found 'id'"),
        ("", "users.csv line 1: the file is empty"),
        ("user_id\n1\n1.5\n", "users.csv line 3: user_id must be an integer, got '1.5'"),
        ("user_id\nabc\n2\n", "users.csv line 2: user_id must be an integer, got 'abc'"),
    ],
)
def test_bad_users_file_names_the_file_and_line(runner, dataset, tmp_path, content, message):
    result, out = recommend(runner, tmp_path, content, "--dataset", str(dataset))
    assert result.exit_code == 1
    assert message in result.output
    assert not out.exists()


def test_unknown_users_file_is_a_clear_error(runner, dataset, tmp_path):
    out = tmp_path / "recs.csv"
    missing = tmp_path / "nope.csv"
    args = ["recommend", "--dataset", str(dataset), "--users", str(missing), "--out", str(out)]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert f"Users file {missing} does not exist" in result.output
    assert not out.exists()


def test_unknown_dataset_is_a_clear_error(runner, tmp_path):
    result, out = recommend(runner, tmp_path, "user_id\n1\n", "--dataset", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert f"Dataset {tmp_path / 'x'} does not exist" in result.output
    assert not out.exists()


def test_an_unwritable_output_is_a_clear_error(runner, dataset, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("user_id\n1\n")
    out = tmp_path / "missing-folder" / "recs.csv"
    args = ["recommend", "--dataset", str(dataset), "--users", str(users), "--out", str(out)]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert f"Cannot write {out}" in result.output


def test_limit_must_be_positive(runner, dataset, tmp_path):
    result, out = recommend(runner, tmp_path, "user_id\n1\n", "--limit", "0")
    assert result.exit_code == 2
    assert not out.exists()


def test_without_a_dataset_it_ranks_the_database_ratings(runner, app, tmp_path):
    result, out = recommend(runner, tmp_path, "user_id\n1\n")
    assert result.exit_code == 1
    assert "The database holds no ratings" in result.output
    assert not out.exists()
    rng = np.random.default_rng(2)
    movies = [make_movie(f"Film {i}", 2000) for i in range(15)]
    users = [User(username=f"u{j}", password_hash=None) for j in range(12)]
    db.session.add_all(users)
    db.session.flush()
    rated = defaultdict(set)
    for user in users:
        for movie in movies:
            if rng.random() < 0.6:
                value = float(rng.integers(1, 6))
                db.session.add(Rating(user_id=user.id, movie_id=movie.id, rating=value))
                rated[str(user.id)].add(str(movie.id))
    db.session.commit()
    known = str(users[0].id)
    unknown = str(max(u.id for u in users) + 100)
    result, out = recommend(runner, tmp_path, f"user_id\n{known}\n{unknown}\n", "--limit", "4")
    assert result.exit_code == 0, result.output
    lists = read_lists(out)
    assert list(lists) == [known, unknown]
    assert len(rated[known]) > 3  # more than the app's k: personal
    assert [r["source"] for r in lists[known]] == ["knn"] * 4
    assert [r["source"] for r in lists[unknown]] == ["cold_start"] * 4
    assert not {r["movie_id"] for r in lists[known]} & rated[known]
    assert {r["movie_id"] for r in lists[unknown]} <= {str(m.id) for m in movies}


def test_limit_defaults_to_ten(runner, dataset, tmp_path):
    result, out = recommend(runner, tmp_path, "user_id\n9999\n", "--dataset", str(dataset))
    assert result.exit_code == 0, result.output
    assert [int(r["rank"]) for r in read_lists(out)["9999"]] == list(range(1, 11))
