"""/api/v1/admin: catalogue uploads, import runs and site statistics, for admins only."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.models import ImportRun, Movie, Rating, User
from recommender.settings import load_settings
from tests.api.helpers import assert_error, user_id
from tests.conftest import change_settings
from tests.factories import make_movie

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "catalogue"
IMPORTS = "/api/v1/admin/imports"


def upload(client, headers, path: Path, *, kind: str = "catalogue", filename: str | None = None):
    with path.open("rb") as stream:
        return client.post(
            IMPORTS,
            data={"kind": kind, "file": (stream, filename or path.name)},
            headers=headers,
            content_type="multipart/form-data",
        )


def movie_rows() -> list[tuple]:
    return [tuple(row) for row in db.session.execute(sa.select(Movie.__table__))]


ADMIN_ROUTES = [("post", IMPORTS), ("get", f"{IMPORTS}/1"), ("get", "/api/v1/admin/stats")]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_are_401_without_a_token(client, method, path):
    assert_error(getattr(client, method)(path), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_are_403_for_a_signed_in_non_admin(client, alice, method, path):
    assert_error(getattr(client, method)(path, headers=alice), 403, "forbidden")


def test_a_non_admin_upload_writes_nothing(client, alice):
    response = upload(client, alice, FIXTURES / "good.csv")
    assert_error(response, 403, "forbidden")
    assert movie_rows() == []
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_upload_imports_a_catalogue_and_reports_it(client, admin):
    response = upload(client, admin, FIXTURES / "good.csv")

    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["status"] == "succeeded" and report["kind"] == "catalogue"
    assert report["filename"] == "good.csv"
    assert report["inserted"] == len(movie_rows()) > 0
    assert response.headers["Location"].endswith(f"{IMPORTS}/{report['run_id']}")

    run = client.get(f"{IMPORTS}/{report['run_id']}", headers=admin).get_json()
    assert run["id"] == report["run_id"] and run["status"] == "succeeded"
    assert run["counts"]["inserted"] == report["inserted"]
    assert run["errors"] == [] and run["finished_at"] is not None
    assert run["admin_id"] == user_id("admin")


def test_uploading_the_same_file_twice_changes_nothing_the_second_time(client, admin):
    upload(client, admin, FIXTURES / "good.json")
    before = movie_rows()
    second = upload(client, admin, FIXTURES / "good.json").get_json()
    assert second["inserted"] == second["updated"] == 0
    assert second["unchanged"] == len(before)
    assert movie_rows() == before


def test_a_refused_file_is_422_with_line_numbers_and_writes_nothing(client, admin):
    make_movie("Already There", 1990)
    before = movie_rows()

    response = upload(client, admin, FIXTURES / "broken_values.csv")

    error = assert_error(response, 422, "import_refused")
    assert error["message"] == "broken_values.csv was refused: 8 problems"
    assert {
        "location": "line 3",
        "message": "imdb_rating must be a number from 0 to 10, got 'abc'",
    } in error["details"]
    assert [d["location"] for d in error["details"]][:3] == ["line 3", "line 4", "line 5"]
    assert movie_rows() == before
    run = db.session.scalars(sa.select(ImportRun)).one()
    assert run.status == "failed" and run.errors == error["details"]


def test_a_refused_run_can_be_looked_up_with_its_errors(client, admin):
    upload(client, admin, FIXTURES / "invalid.json")
    run_id = db.session.scalar(sa.select(ImportRun.id))
    run = client.get(f"{IMPORTS}/{run_id}", headers=admin).get_json()
    assert run["status"] == "failed" and run["filename"] == "invalid.json"
    assert run["errors"] and all({"location", "message"} <= set(e) for e in run["errors"])


def test_a_path_in_the_upload_name_is_reduced_to_the_file_name(client, admin):
    response = upload(client, admin, FIXTURES / "good.csv", filename="../../home/me/good.csv")
    assert response.get_json()["filename"] == "good.csv"


def test_an_unsupported_file_type_is_refused_naming_the_file(client, admin):
    error = assert_error(
        upload(client, admin, FIXTURES / "good.csv", filename="movies.xlsx"), 422, "import_refused"
    )
    assert "'.xlsx'" in error["details"][0]["message"]
    assert movie_rows() == []


def test_an_unknown_kind_is_422_and_starts_no_run(client, admin):
    error = assert_error(upload(client, admin, FIXTURES / "good.csv", kind="movielens-9m"), 422)
    assert "kind" in error["details"]["form_and_files"]
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_a_missing_file_or_kind_is_422_naming_it(client, admin):
    no_file = client.post(IMPORTS, data={"kind": "catalogue"}, headers=admin)
    assert "file" in assert_error(no_file, 422, "validation_error")["details"]["form_and_files"]
    no_kind = client.post(
        IMPORTS,
        data={"file": ((FIXTURES / "good.csv").open("rb"), "good.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert "kind" in assert_error(no_kind, 422, "validation_error")["details"]["form_and_files"]


def test_an_upload_over_the_limit_is_a_json_413_and_writes_nothing(app, client, admin):
    app.config["MAX_CONTENT_LENGTH"] = 200  # bytes; good.csv is larger
    response = upload(client, admin, FIXTURES / "good.csv")
    assert_error(response, 413, "payload_too_large")
    assert movie_rows() == []
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_a_json_body_over_the_limit_is_413_too(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post(
        "/api/v1/auth/register", json={"username": "alice", "password": "x" * 200}
    )
    assert_error(response, 413, "payload_too_large")


def test_max_upload_mb_sets_the_request_size_limit():
    default = load_settings({"RECOMMENDER_ENV": "testing"}).flask_config()
    assert default["MAX_CONTENT_LENGTH"] == 50 * 1024**2
    config = load_settings({"RECOMMENDER_ENV": "testing", "MAX_UPLOAD_MB": "3"}).flask_config()
    assert config["MAX_CONTENT_LENGTH"] == 3 * 1024**2


def test_an_unknown_import_run_is_404(client, admin):
    error = assert_error(client.get(f"{IMPORTS}/424242", headers=admin), 404, "not_found")
    assert "424242" in error["message"]


def test_stats_count_everything_and_bin_every_step_of_the_scale(client, admin):
    movies = [make_movie(f"M{i}", 2000) for i in range(3)]
    ann = User(username="ann", password_hash=None, source="movielens")
    db.session.add(ann)
    db.session.flush()
    values = {movies[0].id: 4.5, movies[1].id: 4.5, movies[2].id: 0.5}
    db.session.add_all(Rating(user_id=ann.id, movie_id=m, rating=v) for m, v in values.items())
    db.session.add(Rating(user_id=user_id("admin"), movie_id=movies[0].id, rating=5.0))
    db.session.commit()

    body = client.get("/api/v1/admin/stats", headers=admin).get_json()

    assert (body["users"], body["movies"], body["ratings"]) == (2, 3, 4)
    histogram = {item["rating"]: item["count"] for item in body["rating_histogram"]}
    assert [item["rating"] for item in body["rating_histogram"]] == [
        0.5,
        1.0,
        1.5,
        2.0,
        2.5,
        3.0,
        3.5,
        4.0,
        4.5,
        5.0,
    ]
    assert (histogram[0.5], histogram[4.5], histogram[5.0], histogram[3.0]) == (1, 2, 1, 0)
    assert sum(histogram.values()) == 4


def test_stats_on_an_empty_site_have_every_bin_at_zero(app, client, admin):
    change_settings(app, rating_scale=RatingScale(1.0, 10.0, 1.0))
    body = client.get("/api/v1/admin/stats", headers=admin).get_json()
    assert (body["users"], body["movies"], body["ratings"]) == (1, 0, 0)
    assert body["rating_histogram"] == [{"rating": float(r), "count": 0} for r in range(1, 11)]


def test_an_upload_reports_the_text_it_repaired_and_stores_canonical_genres(
    client, admin, tmp_path
):
    catalogue = tmp_path / "dirty.csv"
    catalogue.write_text(
        "title,year,genres,creative_type\n"
        "LÈon,1994,Thriller/Suspense|drama,Contemporary Fiction\n"
        "AmÃ©lie,2001,Romantic Comedy,\n"
        "2001: A Space Odyssey,1968,,Science Fiction\n",
        encoding="utf-8",
    )

    response = upload(client, admin, catalogue)

    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["repaired"] == [
        {"location": "line 2", "field": "title", "before": "LÈon", "after": "Léon"},
        {"location": "line 3", "field": "title", "before": "AmÃ©lie", "after": "Amélie"},
    ]
    movies = client.get("/api/v1/movies?sort=title", headers=admin).get_json()["items"]
    assert {m["title"]: m["genres"] for m in movies} == {
        "2001: A Space Odyssey": ["Sci-Fi"],
        "Amélie": ["Comedy", "Romance"],
        "Léon": ["Drama", "Thriller"],
    }
    run = client.get(f"{IMPORTS}/{report['run_id']}", headers=admin).get_json()
    assert run["counts"]["repaired"] == 2
    assert {
        "kind": "repaired",
        "location": "line 2",
        "message": "title 'LÈon' was mis-decoded: read as 'Léon'",
    } in run["notes"]
