"""The OpenAPI document states the rules the API enforces, so clients and schemathesis know
them: the rating scale of the app's settings, no NUL in text, the order of year_min and
year_max, the 414 of a long URL everywhere and the 429 of the rate-limited operations."""

from __future__ import annotations

import re

from recommender.api.schemas import NO_NUL_PATTERN
from recommender.app import create_app
from recommender.security import MAX_URL_BYTES


def document(**settings: str) -> dict:
    app = create_app(
        environ={"RECOMMENDER_ENV": "testing", "DATABASE_URL": "sqlite://", **settings}
    )
    with app.app_context():
        return app.spec


def operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, path, operation


def test_the_rating_field_carries_the_configured_scale():
    rating = document()["components"]["schemas"]["RatingIn"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"], rating["multipleOf"]) == (0.5, 5.0, 0.5)
    custom = document(RATING_MIN="1", RATING_MAX="10", RATING_STEP="1")
    rating = custom["components"]["schemas"]["RatingIn"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"], rating["multipleOf"]) == (1, 10, 1)
    # Steps from 0.5 by 1 (0.5, 1.5 ...) are no multiples of anything: stated in words only.
    offset = document(RATING_MIN="0.5", RATING_MAX="4.5", RATING_STEP="1")
    rating = offset["components"]["schemas"]["RatingIn"]["properties"]["rating"]
    assert "multipleOf" not in rating and "steps of 1" in rating["description"]


def test_text_fields_refuse_nul_in_the_document():
    spec = document()
    pattern = re.compile(NO_NUL_PATTERN.replace("\\u0000", "\\x00"))
    assert pattern.match("plain") and not pattern.match("a\x00b")
    password = spec["components"]["schemas"]["RegistrationIn"]["properties"]["password"]
    assert password["pattern"] == NO_NUL_PATTERN
    movie_parameters = {p["name"]: p for p in spec["paths"]["/api/v1/movies"]["get"]["parameters"]}
    assert movie_parameters["q"]["schema"]["pattern"] == NO_NUL_PATTERN
    assert movie_parameters["genre"]["schema"]["pattern"] == NO_NUL_PATTERN
    assert "year_max" in movie_parameters["year_min"]["description"]


def test_every_operation_documents_the_414_and_limited_ones_the_429():
    spec = document()
    for method, path, operation in operations(spec):
        assert "414" in operation["responses"], (method, path)
        assert str(MAX_URL_BYTES) in operation["responses"]["414"]["description"]
    limited = {(m, p) for m, p, op in operations(spec) if "429" in op["responses"]}
    assert limited == {
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/tokens"),
        ("put", "/api/v1/me/password"),
    }
