"""What `recommender serve` (gunicorn) says at the protocol level: no Server header, a URL over
the app's limit is a 414 and an oversize chunked body a 413, both JSON under /api, and no
control socket shared with every other gunicorn of the user."""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade

from recommender.app import create_app
from recommender.extensions import db
from recommender.json_bodies import MAX_BYTES
from recommender.security import MAX_URL_BYTES
from tests.faults.conftest import free_port, start_gunicorn, wait_for_port


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """One gunicorn over a fresh SQLite file, HOME in a directory of its own."""
    directory = tmp_path_factory.mktemp("serve")
    environ = {
        "RECOMMENDER_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{directory / 'app.db'}",
        "HOME": str(directory / "home"),
    }
    app = create_app(environ=environ)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    port = free_port()
    server = start_gunicorn(environ, port, directory / "server.log")
    try:
        wait_for_port(port, server, what="recommender serve")
        yield port, directory
    finally:
        server.terminate()
        server.wait(timeout=10)


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def test_no_server_header(served):
    port, _ = served
    response, _ = request(port, "GET", "/healthz")
    assert response.status == 200
    assert response.getheader("Server") is None, response.getheaders()


@pytest.mark.parametrize("path", ["/api/v1/movies?q=", "/api/v1/nowhere?x="])
def test_a_long_url_under_api_is_a_json_414(served, path):
    port, _ = served
    response, body = request(port, "GET", path + "a" * (MAX_URL_BYTES + 100))
    assert response.status == 414
    assert response.getheader("Content-Type") == "application/json", body[:200]
    assert b'"uri_too_long"' in body and str(MAX_URL_BYTES).encode() in body


def test_a_url_within_the_limit_is_served(served):
    port, _ = served
    response, _ = request(port, "GET", "/healthz?pad=" + "a" * (MAX_URL_BYTES - 100))
    assert response.status == 200


def test_a_chunked_oversize_body_is_a_json_413(served):
    port, _ = served
    payload = b'{"username": "' + b"x" * (MAX_BYTES * 2) + b'", "password": "p"}'
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        chunks = (payload[i : i + 8192] for i in range(0, len(payload), 8192))
        conn.request(
            "POST",
            "/api/v1/auth/register",
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        body = response.read()
    except (TimeoutError, ConnectionResetError, BrokenPipeError) as error:
        pytest.fail(f"the server dropped the connection instead of answering: {error!r}")
    finally:
        conn.close()
    assert response.status == 413, body[:300]
    assert b'"payload_too_large"' in body


def test_no_control_socket_is_opened(served):
    _, directory = served
    # gunicorn's default is $HOME/.gunicorn/gunicorn.ctl (or $XDG_RUNTIME_DIR/gunicorn.ctl).
    assert not (directory / "home" / ".gunicorn").exists()
    listening = subprocess.run(["ss", "-xl"], capture_output=True, text=True).stdout
    assert str(directory) not in listening
