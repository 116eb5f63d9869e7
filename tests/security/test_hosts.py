"""The Host header cannot poison the OpenAPI document, and production answers only the host
names of ALLOWED_HOSTS (Flask's TRUSTED_HOSTS): any other is a 400."""

from __future__ import annotations

import pytest

from recommender.settings import ConfigError, load_settings
from tests.api.helpers import assert_error
from tests.conftest import PRODUCTION, PRODUCTION_SECRETS

SITE = {**PRODUCTION, "ALLOWED_HOSTS": "recommender.example.org,.mirror.example.org"}


def openapi(client, host: str, **headers: str):
    return client.get("/api/v1/openapi.json", headers={"Host": host, **headers})


def test_the_first_request_host_does_not_become_the_documents_server(app):
    # Both hosts are allowed (development's defaults): on main the first one asked was cached
    # as the document's server for every later reader.
    client = app.test_client()
    first = openapi(client, "127.0.0.1:5450").get_json()
    second = openapi(client, "localhost").get_json()

    assert first == second
    assert first["servers"] == [{"url": "/"}]


def test_a_forwarded_host_from_a_trusted_proxy_cannot_poison_the_document(make_app):
    site = make_app(**SITE, TRUSTED_PROXIES="1")
    client = site.test_client()

    forged = openapi(client, "recommender.example.org", **{"X-Forwarded-Host": "evil.example"})
    assert_error(forged, 400, "host_not_allowed")
    assert "evil.example" in forged.get_json()["error"]["message"]

    document = openapi(client, "recommender.example.org").get_json()
    assert document["servers"] == [{"url": "/"}]
    # Through the proxy, with an allowed forwarded host, the document is the same.
    forwarded = openapi(client, "10.0.0.1", **{"X-Forwarded-Host": "www.mirror.example.org"})
    assert forwarded.status_code == 200 and forwarded.get_json() == document


def test_a_foreign_host_is_a_400_in_production_json_under_the_api(make_app):
    client = make_app(**SITE).test_client()

    answer = client.get("/api/v1/movies", headers={"Host": "evil.example"})

    assert_error(answer, 400, "host_not_allowed")
    assert answer.get_json()["error"]["details"] == {"host": "evil.example"}
    assert "ALLOWED_HOSTS" in answer.get_json()["error"]["message"]


def test_a_foreign_host_is_the_error_page_elsewhere(make_app):
    client = make_app(**SITE).test_client()

    page = client.get("/login", headers={"Host": "evil.example:8080"})

    assert page.status_code == 400 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "That request did not work" in text and "evil.example:8080" in text
    # The page's own links are paths: the refused host never becomes a URL.
    assert 'href="/static/style.css"' in text and "//evil.example" not in text


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("recommender.example.org", 200),
        ("recommender.example.org:8443", 200),  # the port is not part of the match
        ("mirror.example.org", 200),  # ".mirror.example.org": the name and its subdomains
        ("eu.mirror.example.org", 200),
        ("recommender.example.org.evil.example", 400),
        ("evilmirror.example.org", 400),
        ("localhost", 400),  # development's default is not production's
    ],
)
def test_allowed_hosts_are_matched_by_name_and_subdomain(make_app, host, status):
    client = make_app(**SITE).test_client()
    assert client.get("/api/v1/movies", headers={"Host": host}).status_code == status


def test_the_setting_is_parsed_into_lowercase_names():
    settings = load_settings({**PRODUCTION, "ALLOWED_HOSTS": " A.example , .B.example,, "})
    assert settings.allowed_hosts == ("a.example", ".b.example")
    assert settings.flask_config()["TRUSTED_HOSTS"] == ["a.example", ".b.example"]


@pytest.mark.parametrize("env_name", ["development", "testing"])
def test_development_and_testing_default_to_local_names(env_name):
    assert load_settings({"RECOMMENDER_ENV": env_name}).allowed_hosts == ("localhost", "127.0.0.1")


@pytest.mark.parametrize("value", ["https://example.org", "example.org:8443", "*", "exa mple.org"])
def test_a_malformed_host_name_is_refused_naming_the_setting(value):
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS must be host names") as refused:
        load_settings({**PRODUCTION, "ALLOWED_HOSTS": value})
    assert repr(value) in str(refused.value)


@pytest.mark.parametrize("value", ["", " , "])
def test_production_refuses_to_start_without_allowed_hosts(value):
    environ = {"RECOMMENDER_ENV": "production", **PRODUCTION_SECRETS, "ALLOWED_HOSTS": value}
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS must be set in production") as refused:
        load_settings(environ)
    assert "ALLOWED_HOSTS=recommender.example.org" in str(refused.value)  # an example
