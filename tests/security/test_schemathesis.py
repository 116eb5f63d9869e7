"""schemathesis against /api/v1/openapi.json, in process over the WSGI app: no answer is a 5xx,
every answer (status, content type, body, headers) is one the document declares, valid input is
accepted and invalid input refused (as schemathesis.toml qualifies), operation by operation and
in stateful sequences that follow the document's links.

Runs with a bearer token (an administrator's on /admin, a user's elsewhere) over seeded rows,
so paths with ids reach real movies, ratings and import runs. Derandomised: the same cases on
every run, so CI is never flaky; the number of examples keeps it to seconds per backend.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recommender.app import create_app
from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.models import Movie, Rating, User
from recommender.services import accounts, lists
from recommender.services.ratings import rate_movie
from recommender.settings import app_settings
from tests.api.helpers import PASSWORD, bearer, sign_in
from tests.factories import make_movie

# Examples per operation and mode: about 500 cases per backend in all (derandomised).
MAX_EXAMPLES = 20
PINNED_EXAMPLES = 3
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogue"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
# Stateful scenarios (sequences along the document's links) and steps per scenario.
STATEFUL_SCENARIOS = 25
STATEFUL_STEPS = 6


@dataclass
class Callers:
    """The bearer token each operation is called with: an administrator's under /admin."""

    client: FlaskClient
    rated: int  # a movie alice rated
    unrated: int  # one she did not
    run_id: int  # an import run
    spare: int  # a movie nobody rated, merged into ``unrated``
    tokens: dict[str, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)  # answers by class: 200, 400...
    listed: int = 0  # a movie alice hid and put on her watch list

    def headers(self, case: schemathesis.Case) -> dict[str, str]:
        username = "admin" if case.path.startswith("/api/v1/admin") else "alice"
        if case.path == "/api/v1/auth/tokens" or username not in self.tokens:
            # A fresh token for DELETE /auth/tokens, which revokes the token it is sent with.
            self.tokens[username] = sign_in(self.client, username)
        # Schemathesis's WSGI transport asks for compression but never decodes it: plain
        # bodies here (compression has its own tests, tests/web/test_compression.py).
        return {**bearer(self.tokens[username]), "Accept-Encoding": "identity"}


SEEDED_STARS = (4.0, 2.5, 5.0, 1.0, 3.5)


def restore_seeded_rows(app: Flask) -> None:
    """Back to what ``callers`` made: no other users, alice's five ratings and no others."""
    db.session.rollback()
    db.session.execute(sa.delete(User).where(User.username.not_in(("alice", "admin"))))
    alice = db.session.scalar(sa.select(User).where(User.username == "alice"))
    db.session.execute(sa.delete(Rating).where(Rating.user_id == alice.id))
    db.session.commit()
    movies = db.session.scalars(sa.select(Movie.id).order_by(Movie.id).limit(5)).all()
    for movie_id, stars in zip(movies, SEEDED_STARS, strict=True):
        rate_movie(db.session, alice.id, movie_id, stars, app_settings(app).rating_scale)


@pytest.fixture
def callers(app: Flask) -> Callers:
    """Twelve movies, a user with five ratings (above k = 3), an administrator and an import."""
    hash_method = app_settings(app).password_hash_method
    movies = [make_movie(f"Film {i}", 1980 + i, ("Drama",), imdb_rating=6.0) for i in range(12)]
    alice = accounts.create_user(db.session, "alice", PASSWORD, hash_method=hash_method)
    admin = accounts.create_user(
        db.session, "admin", PASSWORD, is_admin=True, hash_method=hash_method
    )
    scale = app_settings(app).rating_scale
    for movie, stars in zip(movies[:5], SEEDED_STARS, strict=True):
        rate_movie(db.session, alice.id, movie.id, stars, scale)
    report = catalogue_import.import_catalogue(db.session, FIXTURES / "good.csv", admin_id=admin.id)
    for film_list in (lists.HIDDEN, lists.WATCHLIST):
        lists.add(db.session, film_list, alice.id, movies[10].id)
    return Callers(
        app.test_client(),
        movies[0].id,
        movies[8].id,
        report.run_id,
        movies[9].id,
        listed=movies[10].id,
    )


def pinned_inputs(callers: Callers) -> dict[str, dict[str, Any]]:
    """Inputs that reach real rows, mixed into the generated ones of each operation: random
    ids and credentials alone would only ever meet 404 and 401."""
    rating = {"path_parameters": {"movie_id": callers.rated}, "body": {"rating": 4.5}}
    credentials = {"body": {"username": "alice", "password": PASSWORD}}
    listed = {"path_parameters": {"movie_id": callers.listed}}
    # One film a generated case may add, one alice has on both lists (the first DELETE wins).
    list_inputs = {
        f"{method} /api/v1/me/{name}/{{movie_id}}": (
            listed if method == "DELETE" else {"path_parameters": {"movie_id": callers.unrated}}
        )
        for name in ("hidden", "watchlist")
        for method in ("PUT", "DELETE")
    }
    return {
        **list_inputs,
        "GET /api/v1/movies/{movie_id}": {"path_parameters": {"movie_id": callers.unrated}},
        "POST /api/v1/auth/tokens": credentials,
        # The same password again: it stays valid for the cases after.
        "PUT /api/v1/me/password": {
            "body": {"current_password": PASSWORD, "new_password": PASSWORD}
        },
        "PUT /api/v1/me/ratings/{movie_id}": rating,
        "DELETE /api/v1/me/ratings/{movie_id}": {"path_parameters": rating["path_parameters"]},
        "GET /api/v1/me/predictions/{movie_id}": {"path_parameters": {"movie_id": callers.unrated}},
        "GET /api/v1/admin/imports/{run_id}": {"path_parameters": {"run_id": callers.run_id}},
        "POST /api/v1/admin/movies/{movie_id}/merge": {
            "path_parameters": {"movie_id": callers.unrated},
            "body": {"drop_id": callers.spare},
        },
    }


# Operations valid generated input cannot succeed on, and why (tests/api covers their 2xx).
NO_SUCCESS_EXPECTED = {
    # schemathesis names an uploaded file after its field ("file"); the importer goes by the
    # extension (.csv, .json, .zip), so every generated upload is a documented 422.
    "POST /api/v1/admin/imports",
}


def operation_cases() -> list[tuple[str, GenerationMode]]:
    """Every operation of the document ("GET /api/v1/movies", ...) with valid data, and with
    invalid data where it takes any input. Read at collection time from an app over an in-memory
    database, so a new route is fuzzed without touching this file."""
    app = create_app(environ={"RECOMMENDER_ENV": "testing", "DATABASE_URL": "sqlite://"})
    with app.app_context():
        spec = app.spec
    cases = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@pytest.mark.parametrize(("label", "mode"), operation_cases())
def test_api_answers_as_its_openapi_document_says(app, callers, label, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    runs = [(operation.as_strategy(generation_mode=mode), MAX_EXAMPLES)]
    pinned = pinned_inputs(callers).get(label)
    if pinned is not None and mode is GenerationMode.POSITIVE:
        # A few cases on real rows (their other inputs still generated).
        runs.append((operation.as_strategy(generation_mode=mode, **pinned), PINNED_EXAMPLES))

    for strategy, examples in runs:

        @given(case=strategy)
        @settings(
            max_examples=examples,
            derandomize=True,  # the same cases on every run: CI is never flaky
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=callers.headers(case), checks=CHECKS)
            callers.statuses[response.status_code // 100 * 100] += 1

        call()
    # The tokens and the seeded rows work: valid input is served, not only refused.
    if mode is GenerationMode.POSITIVE and label not in NO_SUCCESS_EXPECTED:
        assert callers.statuses[200] > 0, (label, callers.statuses)


def test_stateful_sequences_keep_to_the_document(app, callers):
    """Sequences of calls along the document's links (a token, then the operations it opens;
    a rating, then its deletion), each answer checked as above."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    machine = schema.as_state_machine()
    calls: Counter[str] = Counter()

    class SignedIn(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Every scenario starts from the seeded rows: which steps a scenario can take
            # depends on earlier answers, and Hypothesis replays scenarios expecting the same.
            restore_seeded_rows(app)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            calls[f"{case.method} {case.path}"] += 1
            return {"headers": callers.headers(case)}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    SignedIn.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
    )
    assert len(calls) >= 5, calls  # the sequences reached several operations
