"""The JSON error shape, the health check and the OpenAPI document."""

from __future__ import annotations


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_api_route_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_wrong_method_is_a_json_405(client):
    response = client.post("/api/v1/movies")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_browser_404_is_a_page_not_json(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "404" in response.get_data(as_text=True)


def test_openapi_document_describes_the_catalogue_and_the_error_shape(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/movies", "/api/v1/movies/{movie_id}", "/healthz"} <= set(spec["paths"])
    not_found = spec["paths"]["/api/v1/movies/{movie_id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert "error" in spec["components"]["schemas"]["ErrorOut"]["properties"]
