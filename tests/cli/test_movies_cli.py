"""`recommender movies duplicates`: likely duplicates with their rating counts, text and JSON;
and the import's output of what each matching rule did."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from recommender.extensions import db
from recommender.models import Rating, User
from tests.factories import make_movie


def rate(movie_id: int, *usernames: str) -> None:
    for name in usernames:
        user = User(username=name, password_hash=None)
        db.session.add(user)
        db.session.flush()
        db.session.add(Rating(user_id=user.id, movie_id=movie_id, rating=4.0))
    db.session.commit()


def test_duplicates_lists_pairs_surest_first_with_ratings_and_the_row_to_keep(runner):
    se7en = make_movie("Se7en", 1995).id
    seven = make_movie("Seven (Se7en)", 1995).id
    kama = make_movie("Kama Sutra", 1997).id
    tale = make_movie("Kama Sutra: A Tale of Love", 1996).id
    make_movie("Psycho", 1960)
    make_movie("Psycho", 1998)  # a remake: not listed
    rate(seven, "a", "b")
    rate(se7en, "c")

    result = runner.invoke(args=["movies", "duplicates"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2 likely duplicate pairs (1 the same film, 1 possible):"
    assert lines[1] == (
        f"  same film (alternative title): {se7en} Se7en (1995), 1 ratings  |  "
        f"{seven} Seven (Se7en) (1995), 2 ratings  -> keep {seven}"
    )
    assert lines[2].startswith("  possible (series): ") and f"{kama} Kama Sutra (1997)" in lines[2]
    assert f"{tale} Kama Sutra: A Tale of Love (1996)" in lines[2] and "Psycho" not in result.output


def test_duplicates_as_json_with_a_limit(runner):
    first = make_movie("Se7en", 1995).id
    second = make_movie("Seven (Se7en)", 1995).id
    make_movie("Kama Sutra", 1997)
    make_movie("Kama Sutra: A Tale of Love", 1996)

    result = runner.invoke(args=["movies", "duplicates", "--format", "json", "--limit", "1"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["total"] == 2 and len(body["pairs"]) == 1
    (pair,) = body["pairs"]
    assert (pair["rule"], pair["certain"], pair["keep"]) == ("alternative_title", True, first)
    assert [side["id"] for side in pair["movies"]] == [first, second]
    assert [side["ratings"] for side in pair["movies"]] == [0, 0]


def test_duplicates_says_so_when_there_are_none_and_refuses_a_bad_limit(runner):
    make_movie("Psycho", 1960)
    assert runner.invoke(args=["movies", "duplicates"]).output == "No likely duplicates.\n"
    bad = runner.invoke(args=["movies", "duplicates", "--limit", "0"])
    assert bad.exit_code == 2 and "--limit" in bad.output


def test_import_prints_what_each_rule_matched_and_each_possible_duplicate(runner, tmp_path):
    kama = make_movie("Kama Sutra", 1997).id
    make_movie("Se7en", 1995)
    folder = tmp_path / "ml-test"
    folder.mkdir()
    with (folder / "movies.csv").open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(
            [
                ["movieId", "title", "genres"],
                [1, "Seven (Se7en) (1995)", "Thriller"],
                [2, "Kama Sutra: A Tale of Love (1996)", "Drama"],
            ]
        )
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,874965758\n1,2,3.0,874965759\n"
    )

    result = runner.invoke(args=["import", "movielens", str(Path(folder))])

    assert result.exit_code == 0, result.output
    assert "matched by: exact 0, alternative title 1, series 0, fuzzy 0" in result.output
    assert "inserted as possible duplicates (not guessed): 1" in result.output
    assert f"possible duplicate of {kama} Kama Sutra (1997)" in result.output
