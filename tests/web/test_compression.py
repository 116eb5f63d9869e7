"""Flask-Compress: pages and JSON are compressed when asked, CSV downloads keep streaming."""

from __future__ import annotations

import gzip
import json

import brotli

from tests.web.conftest import post


def test_the_signed_in_catalogue_is_compressed_and_decodes_to_the_same_page(alice, catalogue):
    plain = alice.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    squeezed = alice.get("/", headers={"Accept-Encoding": "gzip"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in squeezed.headers["Vary"]
    page = gzip.decompress(squeezed.get_data()).decode()
    # Same page but its per-request CSRF token: compare around it.
    assert page.count('class="movie"') == plain.get_data(as_text=True).count('class="movie"')
    assert len(squeezed.get_data()) * 5 < len(plain.get_data())
    br = alice.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert br.headers["Content-Encoding"] == "br"
    assert "<h1>Movies</h1>" in brotli.decompress(br.get_data()).decode()


def test_api_json_is_compressed_and_unchanged(client, catalogue):
    plain = client.get("/api/v1/movies?per_page=16").get_json()
    response = client.get("/api/v1/movies?per_page=16", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.get_data())) == plain


def test_csv_downloads_still_stream_uncompressed(alice, catalogue):
    post(alice, f"/ratings/{catalogue[0].id}", {"rating": "4"})
    response = alice.get("/ratings.csv", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200 and response.is_streamed
    assert "Content-Encoding" not in response.headers
    body = response.get_data(as_text=True)
    assert body.startswith("movie_id,title,year,rating,rated_at") and "Film 00" in body


def test_small_answers_are_left_alone(client):
    response = client.get("/api/v1/movies/987654", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 404 and "Content-Encoding" not in response.headers


def test_static_files_are_sent_as_files_and_closed(client):
    # Compressing the file stream left its file open (a ResourceWarning, an error here).
    response = client.get("/static/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert b"use strict" in response.get_data()
    response.close()
