"""MAX_CATALOGUE_MOVIES: an import that would take the catalogue over it is refused before
anything is written, with a message naming the limit, the current count and the file's."""

from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import ImportRun, ImportStatus, Movie, User
from recommender.settings import load_settings
from tests.api.helpers import admin_headers, assert_error
from tests.conftest import change_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"


def csv_of(titles: list[str]) -> bytes:
    return ("title,year\n" + "".join(f"{title},2001\n" for title in titles)).encode()


def upload(client, headers, data: bytes, kind: str = "catalogue", name: str = "films.csv"):
    return client.post(
        "/api/v1/admin/imports",
        data={"kind": kind, "file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def movie_count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Movie))


def test_the_default_limit_is_200000():
    assert load_settings(environ={"RECOMMENDER_ENV": "testing"}).max_catalogue_movies == 200_000


def test_a_catalogue_over_the_limit_is_refused_naming_limit_current_and_file_counts(app, client):
    headers = admin_headers(client)
    change_settings(app, max_catalogue_movies=4)
    assert upload(client, headers, csv_of(["A", "B", "C"])).status_code == 201

    # One known (not counted) and two new: 3 + 2 = 5 > 4.
    response = upload(client, headers, csv_of(["A", "D", "E"]), name="more.csv")
    error = assert_error(response, 422, "import_refused")
    message = error["details"][0]["message"]
    assert error["details"][0]["location"] == "file"
    assert "file's 3 movies (2 of them new)" in message
    assert "from 3 to 5 movies, over its limit of 4 (MAX_CATALOGUE_MOVIES)" in message
    assert movie_count() == 3
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert run.status == ImportStatus.FAILED

    # Up to the limit is fine, and re-importing known movies never counts.
    assert upload(client, headers, csv_of(["A", "B", "C", "D"])).status_code == 201
    assert upload(client, headers, csv_of(["A", "B", "C", "D"])).status_code == 201
    assert movie_count() == 4


def test_a_file_alone_over_the_limit_stops_being_read_at_the_limit(app, client):
    headers = admin_headers(client)
    change_settings(app, max_catalogue_movies=3)
    response = upload(client, headers, csv_of([f"Film {n}" for n in range(1000)]))
    error = assert_error(response, 422, "import_refused")
    assert error["details"] == [
        {
            "location": "line 5",
            "message": "the file holds more than 3 movies, over the catalogue's limit of 3 "
            "(MAX_CATALOGUE_MOVIES); reading stopped at movie 4",
        }
    ]
    assert movie_count() == 0


def test_a_movielens_import_over_the_limit_is_refused_on_the_cli(app, runner):
    db.session.add(Movie(title="Already here", year=1990))
    db.session.commit()
    change_settings(app, max_catalogue_movies=2)
    result = runner.invoke(args=["import", "movielens", str(FIXTURES / "100k")])
    assert result.exit_code == 1, result.output
    assert "over its limit of 2 (MAX_CATALOGUE_MOVIES)" in result.output
    assert "from 1 to" in result.output
    assert movie_count() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
