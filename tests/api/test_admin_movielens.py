"""POST /api/v1/admin/imports with kind=movielens: zip uploads, unsafe archives, dataset users."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.importers.movielens import sources
from recommender.models import ImportRun, Movie, Rating, User
from tests.api.helpers import PASSWORD, assert_error
from tests.broken_corpus import zip_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
IMPORTS = "/api/v1/admin/imports"


def fixture_zip(layout: str, top: str) -> bytes:
    folder = FIXTURES / layout
    return zip_bytes({f"{top}/{path.name}": path.read_bytes() for path in folder.iterdir()})


def upload(client, headers, data: bytes, filename: str):
    return client.post(
        IMPORTS,
        data={"kind": "movielens", "file": (io.BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Movie, Rating)
    )


def test_a_movielens_zip_is_imported_and_reported(client, admin):
    response = upload(client, admin, fixture_zip("100k", "ml-100k"), "ml-100k.zip")

    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert (report["kind"], report["status"], report["layout"]) == (
        "movielens",
        "succeeded",
        "100k",
    )
    assert report["dataset"] == "ml-100k" and report["filename"] == "ml-100k.zip"
    assert report["counts"]["ratings_inserted"] == 7
    assert report["counts"]["users_inserted"] == 3
    assert response.headers["Location"].endswith(f"/admin/imports/{report['run_id']}")
    run = client.get(response.headers["Location"], headers=admin).get_json()
    assert run["status"] == "succeeded" and run["counts"] == report["counts"]


def test_dataset_users_cannot_sign_in(client, admin):
    upload(client, admin, fixture_zip("1m", "ml-1m"), "ml-1m.zip")
    user = db.session.scalars(sa.select(User).filter_by(username="ml-1m-1")).one()
    assert (user.password_hash, user.source, user.external_id) == (None, "ml-1m", "1")
    for password in (PASSWORD, "", "x"):
        response = client.post(
            "/api/v1/auth/tokens", json={"username": "ml-1m-1", "password": password or "?"}
        )
        assert_error(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"userId,movieId,rating,timestamp\n1,1,4,1\n", "ratings.csv", "not a folder or a zip"),
        (
            zip_bytes({"../../x": b"boom"}),
            "evil.zip",
            "member '../../x' points outside the archive",
        ),
        (zip_bytes({"notes.txt": b"hi"}), "other.zip", "no MovieLens layout recognised"),
    ],
)
def test_unsafe_or_foreign_uploads_are_422_and_write_nothing(
    client, admin, data, filename, message
):
    before = counts()
    error = assert_error(upload(client, admin, data, filename), 422, "import_refused")
    assert message in error["details"][0]["message"]
    assert counts() == before
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert (run.kind, run.status) == ("movielens", "failed")


def test_a_zip_bomb_is_refused_with_the_cap_in_the_message(client, admin, monkeypatch):
    monkeypatch.setattr(sources, "MAX_UNCOMPRESSED_BYTES", 10_000)
    bomb = zip_bytes({"u.data": b"\0" * 50_000, "u.item": b""})
    assert len(bomb) < 1000

    error = assert_error(upload(client, admin, bomb, "bomb.zip"), 422, "import_refused")

    assert error["details"] == [
        {
            "location": "archive",
            "message": "the zip unpacks to 50,000 bytes, more than the limit of 10,000 bytes",
        }
    ]
    assert counts() == (1, 0, 0)  # The admin alone.


def test_a_broken_line_in_an_uploaded_zip_is_422_with_its_location(client, admin):
    data = fixture_zip("latest", "ml-latest-small")
    broken = zipfile.ZipFile(io.BytesIO(data))
    members = {info.filename: broken.read(info) for info in broken.infolist()}
    members["ml-latest-small/ratings.csv"] += b"4,1,six,1\n"
    error = assert_error(upload(client, admin, zip_bytes(members), "ml.zip"), 422, "import_refused")
    assert error["details"] == [
        {"location": "ratings.csv line 9", "message": "rating must be a number, got 'six'"}
    ]
    assert counts() == (1, 0, 0)
