"""Every response carries the security headers; HSTS only in production over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import recommender
from recommender.security import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from tests.conftest import PRODUCTION


@pytest.mark.parametrize(
    "path",
    [
        "/",  # a page
        "/login",
        "/api/v1/movies",  # JSON
        "/api/v1/me/ratings",  # a JSON 401
        "/no/such/page",  # an error page
        "/api/v1/docs",
        "/api/v1/openapi.json",
        "/static/app.js",
        "/healthz",
    ],
)
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name)
    assert "Strict-Transport-Security" not in response.headers
    response.close()


def test_the_policy_forbids_inline_script_and_framing():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_hsts_only_in_production_over_https(make_app):
    production = make_app(**PRODUCTION)
    over_https = production.test_client().get("/login", base_url="https://localhost")
    assert over_https.headers["Strict-Transport-Security"] == "max-age=31536000"
    over_http = production.test_client().get("/login")
    assert "Strict-Transport-Security" not in over_http.headers


def test_testing_config_serves_no_hsts_even_over_https(client):
    response = client.get("/login", base_url="https://localhost")
    assert "Strict-Transport-Security" not in response.headers


def test_no_template_has_inline_script_event_handlers_or_styles():
    """The CSP would block them: checked at the source, the browser test checks the pages."""
    folder = Path(recommender.__file__).parent / "web" / "templates"
    templates = sorted(folder.glob("*.html"))
    assert len(templates) > 10
    for path in templates:
        text = path.read_text()
        assert not re.search(r"<style|\sstyle=", text), path.name
        assert not re.search(r"\son[a-z]+=|hx-on|javascript:", text), path.name
        # Every script element loads a file.
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text)), path.name
