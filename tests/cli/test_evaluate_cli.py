"""`recommender evaluate` and `recommender predict` on dataset files and on the database."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from recommender.extensions import db
from recommender.models import Rating, User
from tests.factories import make_movie


def write_recbole(folder, n_users=40, n_items=30, share=0.6, seed=0):
    """A small RecBole atomic dataset with planted taste structure; returns the folder."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 1, (n_users, 2)), rng.normal(0, 1, (n_items, 2))
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(n_users):
        for i in range(n_items):
            if rng.random() < share:
                r = int(np.clip(np.rint(3.3 + p[u] @ q[i]), 1, 5))
                lines.append(f"{u + 1}\t{i + 101}\t{r}\t88125000{u % 10}")
    (folder / "tiny.inter").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def dataset(tmp_path):
    return write_recbole(tmp_path / "tiny")


def invoke(runner, *args):
    return runner.invoke(args=["evaluate", *args])


def test_evaluate_json_is_one_object_with_the_metrics_and_the_curve(runner, dataset):
    result = invoke(runner, "--dataset", str(dataset), "--folds", "3", "--k", "3,5,10")
    assert result.exit_code == 0, result.output
    result = invoke(
        runner, "--dataset", str(dataset), "--folds", "3", "--k", "3,5,10", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {"rmse", "mae", "best_k", "per_k", "baselines", "per_fold", "coverage"} <= set(out)
    assert [row["k"] for row in out["per_k"]] == [3, 5, 10]
    curve = {row["k"]: row["rmse"] for row in out["per_k"]}
    assert out["best_k"] == min(curve, key=curve.get)
    assert len(out["per_fold"]) == 3
    assert {"fit_seconds", "predict_seconds", "cold_start_share"} <= set(out["per_fold"][0])


def test_evaluate_table_and_plot(runner, dataset, tmp_path):
    chart = tmp_path / "curve.png"
    result = invoke(runner, "--dataset", str(dataset), "--folds", "2", "--plot", str(chart))
    assert result.exit_code == 0, result.output
    assert "best k:" in result.stdout and "baselines" in result.stdout
    assert "item_mean" in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_reports_top_n_lists_with_their_options(runner, dataset):
    args = ["--dataset", str(dataset), "--folds", "2", "--k", "3,5"]
    result = invoke(runner, *args, "--top-n", "5", "--relevant-min", "5", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["config"]["top_n"], out["config"]["relevant_min"]) == (5, 5.0)
    assert {"precision", "recall", "ndcg", "map", "catalogue_coverage"} <= set(out)
    assert {"ndcg", "mean_popularity"} <= set(out["per_k"][0]) and 0 <= out["ndcg"] <= 1
    assert set(out["ranking_baselines"]) == {"most_rated", "damped_mean"}
    assert {"ranking_users", "ranking_seconds", "ranking_baselines"} <= set(out["per_fold"][1])
    default = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert (default["config"]["top_n"], default["config"]["relevant_min"]) == (10, 4.0)
    # Fewer ratings are 5 than 4 or more: fewer users have a relevant held-out movie.
    assert out["per_fold"][0]["ranking_users"] < default["per_fold"][0]["ranking_users"]
    table = invoke(runner, *args, "--top-n", "5").stdout
    assert "top-5 lists" in table and "mean most_rated" in table and "ndcg@5" in table


def test_a_relevance_threshold_above_every_rating_is_a_clear_error(runner, dataset):
    result = invoke(runner, "--dataset", str(dataset), "--folds", "2", "--relevant-min", "6")
    assert result.exit_code == 1
    assert "No held-out rating is >= 6" in result.output


def test_evaluate_one_fold_is_a_random_split(runner, dataset):
    result = invoke(runner, "--dataset", str(dataset), "--folds", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["folds"] == 1
    assert out["per_fold"][0]["n_test"] == round(
        0.2 * (out["per_fold"][0]["n_train"] + out["per_fold"][0]["n_test"])
    )


def test_evaluate_classify_reports_accuracy(runner, dataset):
    result = invoke(
        runner,
        "--dataset",
        str(dataset),
        "--task",
        "classify",
        "--folds",
        "2",
        "--k",
        "3,5",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert 0 <= out["accuracy"] <= 1 and out["best_k"] in (3, 5)
    assert "majority" in out["baselines"]


@pytest.mark.parametrize(
    "args",
    [
        ["--k", "a,b"],
        ["--k", "0,5"],
        ["--folds", "0"],
        ["--format", "xml"],
        ["--task", "cluster"],
        ["--top-n", "0"],
        ["--relevant-min", "four"],
        ["--bogus"],
    ],
)
def test_bad_flags_exit_2(runner, dataset, args):
    result = invoke(runner, "--dataset", str(dataset), *args)
    assert result.exit_code == 2, result.output


def test_missing_dataset_is_a_clear_error(runner, tmp_path):
    result = invoke(runner, "--dataset", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert f"Dataset {tmp_path / 'nowhere'} does not exist" in result.output


def test_folder_without_a_ratings_file_says_what_it_looked_for(runner, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = invoke(runner, "--dataset", str(tmp_path))
    assert result.exit_code == 1
    assert "looked for NAME.inter" in result.output and "notes.txt" in result.output


def test_bad_dataset_line_names_file_and_line(runner, tmp_path):
    folder = write_recbole(tmp_path / "bad")
    path = folder / "tiny.inter"
    lines = path.read_text().splitlines()
    lines[3] = "1\t101\tfive\t0"
    path.write_text("\n".join(lines) + "\n")
    result = invoke(runner, "--dataset", str(folder))
    assert result.exit_code == 1
    assert "tiny.inter line 4: rating must be a number, got 'five'" in result.output


def test_ml100k_plain_layout_is_read(runner, tmp_path):
    folder = tmp_path / "ml"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = [f"{u}\t{i}\t{rng.integers(1, 6)}\t0" for u in range(1, 21) for i in range(1, 16)]
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    result = invoke(
        runner, "--dataset", str(folder), "--folds", "2", "--k", "3", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    assert sum(f["n_test"] for f in json.loads(result.stdout)["per_fold"]) == 300


def test_evaluate_on_the_database_ratings(runner, app):
    result = invoke(runner)
    assert result.exit_code == 1
    assert "The database holds no ratings" in result.output
    rng = np.random.default_rng(2)
    movies = [make_movie(f"Film {i}", 2000) for i in range(15)]
    users = [User(username=f"u{j}", password_hash=None) for j in range(12)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        for movie in movies:
            if rng.random() < 0.7:
                value = float(rng.integers(1, 6))
                db.session.add(Rating(user_id=user.id, movie_id=movie.id, rating=value))
    db.session.commit()
    result = invoke(runner, "--folds", "2", "--k", "2,4", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["best_k"] in (2, 4)


def test_classify_on_the_catalogue_without_ratings_uses_imdb(runner, app):
    for i in range(20):
        good = i % 2 == 0
        make_movie(
            f"F{i}", 1990 + i, ("Drama",) if good else ("Comedy",), imdb_rating=8.0 if good else 5.0
        )
    result = invoke(runner, "--task", "classify", "--folds", "2", "--k", "1,3", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["accuracy"] == 1.0  # genre separates the labels perfectly


# ---- predict -------------------------------------------------------------------------------


def test_predict_writes_one_row_per_pair_with_its_source(runner, dataset, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user_id,movie_id\n1,101\n2,105\n9999,101\n1,77777\n")
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        args=["predict", "--dataset", str(dataset), "--pairs", str(pairs), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 4 predictions" in result.output
    with out.open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["user_id"], r["movie_id"]) for r in rows] == [
        ("1", "101"),
        ("2", "105"),
        ("9999", "101"),
        ("1", "77777"),
    ]
    assert [r["source"] for r in rows] == ["knn", "knn", "cold_start", "cold_start"]
    assert all(1.0 <= float(r["predicted_rating"]) <= 5.0 for r in rows)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user,movie\n1,2\n", "line 1: expected the header 'user_id,movie_id'"),
        ("user_id,movie_id\n1,2\nx,3\n", "pairs.csv line 3: user_id must be an integer, got 'x'"),
        ("user_id,movie_id\n1\n", "pairs.csv line 2: expected 2 fields, found 1"),
    ],
)
def test_predict_bad_pairs_name_the_line(runner, dataset, tmp_path, content, message):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(content)
    result = runner.invoke(
        args=[
            "predict",
            "--dataset",
            str(dataset),
            "--pairs",
            str(pairs),
            "--out",
            str(tmp_path / "o.csv"),
        ]
    )
    assert result.exit_code == 1
    assert message in result.output


def test_predict_requires_its_options(runner):
    assert runner.invoke(args=["predict", "--dataset", "x"]).exit_code == 2


def test_datasets_fetch_prints_the_folder_of_a_cached_copy(runner, tmp_path):
    cached = tmp_path / "ml-100k"
    cached.mkdir()
    for name in ("ml-100k.inter", "ml-100k.item"):
        (cached / name).write_text("already here\n")
    result = runner.invoke(args=["datasets", "fetch", "ml-100k", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(cached)


def test_datasets_fetch_refuses_an_unknown_name(runner, tmp_path):
    result = runner.invoke(args=["datasets", "fetch", "ml-25m", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "'ml-25m' is not 'ml-100k'" in result.output
