"""POST /api/v1/admin/imports with every file of the broken corpus: a 422 JSON error naming the
file, line and reason, nothing written; an upload over MAX_UPLOAD_MB is a 413 (SQLite only)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.api.helpers import assert_error
from tests.broken_corpus import CASES, by_id, failed_runs, refusal_text, snapshot, zip_bytes
from tests.factories import make_movie

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
IMPORTS = "/api/v1/admin/imports"


def as_upload(path: Path) -> tuple[bytes, str]:
    """Return the bytes and file name to upload: a dataset folder goes up as a zip of it."""
    if path.is_dir():
        members = {f"{path.name}/{item.name}": item.read_bytes() for item in path.iterdir()}
        return zip_bytes(members), f"{path.name}.zip"
    return path.read_bytes(), path.name


def upload(client, headers, kind: str, data: bytes, filename: str):
    return client.post(
        IMPORTS,
        data={"kind": kind, "file": (io.BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("case", **by_id([case for case in CASES if case.api]))
def test_an_upload_is_refused_with_422_saying_which_file_line_and_why(
    client, admin, tmp_path, case
):
    make_movie("Heat", 1995, ("Crime",))
    before, failed = snapshot(), failed_runs()
    data, filename = as_upload(case.build(tmp_path))

    response = upload(client, admin, case.kind, data, filename)

    error = assert_error(response, 422, "import_refused")
    text = refusal_text(error["message"], error["details"])
    assert error["message"].startswith(f"{filename} was refused: "), text
    for fragment in case.expected:
        assert fragment in text, text
    assert snapshot() == before
    assert failed_runs() == failed + 1


@pytest.mark.parametrize("kind", ["catalogue", "movielens"])
def test_an_upload_over_the_size_limit_is_a_413_and_leaves_no_trace(app, client, admin, kind):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    before, failed = snapshot(), failed_runs()

    response = upload(client, admin, kind, b"title\n" + b"Heat\n" * 1000, "movies.csv")

    error = assert_error(response, 413, "payload_too_large")
    assert "large" in error["message"].lower()
    assert snapshot() == before
    assert failed_runs() == failed  # refused before any import run began
