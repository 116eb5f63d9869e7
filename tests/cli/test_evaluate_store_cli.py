"""`recommender evaluate --store`: the result kept in the database for the admin page."""

from __future__ import annotations

import json

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Evaluation
from recommender.services import evaluation
from tests.cli.test_evaluate_cli import write_recbole


def test_store_keeps_the_metrics_best_k_and_curve(runner, tmp_path):
    dataset = write_recbole(tmp_path / "tiny")
    assert evaluation.latest_evaluation(db.session) is None
    args = ["evaluate", "--dataset", str(dataset), "--folds", "2", "--k", "3,5", "--store"]
    result = runner.invoke(args=[*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # --store says so on stderr: stdout stays one object
    assert "Stored as evaluation" in result.stderr
    stored = evaluation.latest_evaluation(db.session)
    assert stored["source"] == "command line" and stored["dataset"] == "tiny"
    assert stored["best_k"] == printed["best_k"] and stored["folds"] == 2
    assert stored["rmse"] == printed["rmse"] and stored["mae"] == printed["mae"]
    assert stored["top_n"]["ndcg"] == printed["ndcg"]
    assert [row["k"] for row in stored["curve"]] == [3, 5]
    assert stored["curve"][0]["rmse"] == printed["per_k"][0]["rmse"]
    assert stored["ratings"] > 0 and stored["seconds"] > 0
    # The next one is the latest.
    result = runner.invoke(args=args)
    assert result.exit_code == 0 and "Stored as evaluation" in result.output
    assert evaluation.latest_evaluation(db.session)["id"] > stored["id"]


def test_store_refuses_a_classification(runner, tmp_path):
    dataset = write_recbole(tmp_path / "tiny")
    args = ["evaluate", "--dataset", str(dataset), "--task", "classify", "--store"]
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and "--store keeps regress evaluations only" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Evaluation.id))) == 0
