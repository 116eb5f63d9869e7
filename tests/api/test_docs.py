"""The API docs page (served from vendored files) and the truthfulness of the OpenAPI document."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import recommender

VENDOR = Path(recommender.__file__).parent / "web" / "static" / "vendor" / "swagger-ui"


def test_docs_page_loads_only_local_assets(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    vendored = [url for url in assets if url.startswith("/static/vendor/swagger-ui/")]
    assert len(vendored) == 4  # css, favicon, bundle, preset
    # Our stylesheet and the script that starts Swagger UI (no inline code: see the CSP).
    assert sorted(set(assets) - set(vendored)) == ["/static/api-docs.css", "/static/api-docs.js"]
    assert "<style" not in page
    assert re.findall(r"<script[^>]*>", page) == [
        f'<script src="{url}">' for url in assets if url.endswith(".js")
    ]
    # Nothing is loaded from elsewhere (the template's comments may still cite a URL).
    assert not re.search(r'(?:src|href|url)\s*[=:(]\s*["\']?(?:https?:)?//', page)
    assert "cdn" not in page.lower()
    assert "/api/v1/openapi.json" in page
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()


def test_vendored_files_match_the_checksums_in_vendored_md():
    listed = dict(
        re.findall(
            r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", (VENDOR / "VENDORED.md").read_text(), re.M
        )
    )
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"} <= set(
        listed
    )
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def responses(spec: dict, path: str, method: str) -> set[str]:
    return set(spec["paths"][path][method]["responses"])


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/api/v1/auth/register", "post", {"201", "400", "409", "413", "422"}),
        ("/api/v1/auth/tokens", "post", {"201", "400", "401", "413", "422"}),
        ("/api/v1/auth/tokens", "delete", {"204", "401"}),
        ("/api/v1/me/ratings", "get", {"200", "401", "422"}),
        ("/api/v1/me/ratings/{movie_id}", "put", {"200", "201", "400", "401", "404", "413", "422"}),
        ("/api/v1/me/ratings/{movie_id}", "delete", {"204", "401", "404"}),
        ("/api/v1/admin/imports", "post", {"201", "401", "403", "413", "422"}),
        ("/api/v1/admin/imports/{run_id}", "get", {"200", "401", "403", "404"}),
        ("/api/v1/admin/stats", "get", {"200", "401", "403"}),
    ],
)
def test_openapi_documents_every_status_a_route_can_answer(spec, path, method, expected):
    assert expected <= responses(spec, path, method)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/tokens", "post"),
        ("/api/v1/me/ratings/{movie_id}", "put"),
        ("/api/v1/admin/imports", "post"),
    ],
)
def test_request_bodies_are_marked_required(spec, path, method):
    assert spec["paths"][path][method]["requestBody"]["required"] is True


def test_rating_put_documents_created_and_changed_with_the_same_schema(spec):
    put = spec["paths"]["/api/v1/me/ratings/{movie_id}"]["put"]["responses"]
    refs = {put[s]["content"]["application/json"]["schema"]["$ref"] for s in ("200", "201")}
    assert refs == {"#/components/schemas/RatingOut"}
    assert "RatingOut" in spec["components"]["schemas"]


def test_protected_routes_declare_bearer_security(spec):
    schemes = spec["components"]["securitySchemes"]
    (name,) = [n for n, s in schemes.items() if s.get("scheme") == "bearer"]
    assert spec["paths"]["/api/v1/me/ratings"]["get"]["security"] == [{name: []}]
    assert "security" not in spec["paths"]["/api/v1/auth/register"]["post"]
