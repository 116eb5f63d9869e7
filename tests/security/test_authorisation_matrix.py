"""Who may call what: every route of the app (from ``app.url_map``, so a new route without an
expectation fails here) x {anonymous, user, other user, administrator}.

"user" is alice, who owns the resources (her ratings); "other" is bob, signed in, touching the
same movie ids; after each of bob's requests alice's ratings must be exactly as before. The API
answers 401 without a token and 403 to a non-administrator on /admin; pages send anonymous
callers to the sign-in page ("login" below) and answer 403 to non-administrators.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from recommender.extensions import db
from recommender.importers import catalogue as catalogue_import
from recommender.models import HiddenMovie, Job, Rating, WatchlistEntry
from recommender.services import accounts, lists
from recommender.services.ratings import rate_movie
from recommender.settings import app_settings
from tests.api.helpers import PASSWORD, bearer, sign_in
from tests.factories import make_movie
from tests.web.conftest import csrf_token

ROLES = ("anonymous", "user", "other", "admin")
USERNAMES = {"user": "alice", "other": "bob", "admin": "root"}
LOGIN = "login"  # a redirect to the sign-in page
GOOD_CSV = b"title,year\nMatrix Film,2001\n"


@dataclass(frozen=True)
class Call:
    """How to call a route: the path with its ids filled in, a body, and what each role gets."""

    path: str
    expected: dict[str, int | str]
    body: Callable[[str], dict[str, Any]] | None = None  # role -> JSON or form fields
    form: bool = False  # a form post (pages, or multipart on the API) rather than JSON


def each(anonymous: int | str, user: int | str, other: int | str, admin: int | str):
    return dict(zip(ROLES, (anonymous, user, other, admin), strict=True))


def credentials(role: str) -> dict[str, str]:
    return {"username": USERNAMES.get(role, "alice"), "password": PASSWORD}


def new_password(_role: str) -> dict[str, str]:
    changed = PASSWORD + " changed"
    return {"current_password": PASSWORD, "new_password": changed, "new_password_again": changed}


def new_account(role: str) -> dict[str, str]:
    return {"username": f"new-{role}", "password": PASSWORD, "password_again": PASSWORD}


# {R} = a movie alice rated, {U} and {D} = two nobody rated, {H} = one alice hid and put on
# her watch list, {RUN} = an import run, {JOB} = an admin job that has ended; in a JSON
# body, a value "{D}" is that id.
MATRIX: dict[tuple[str, str], Call] = {
    # --- API ---
    ("GET", "/healthz"): Call("/healthz", each(200, 200, 200, 200)),
    ("GET", "/api/v1/openapi.json"): Call("/api/v1/openapi.json", each(200, 200, 200, 200)),
    ("GET", "/api/v1/docs"): Call("/api/v1/docs", each(200, 200, 200, 200)),
    ("GET", "/api/v1/movies"): Call("/api/v1/movies", each(200, 200, 200, 200)),
    ("GET", "/api/v1/movies/<int:movie_id>"): Call("/api/v1/movies/{U}", each(200, 200, 200, 200)),
    ("POST", "/api/v1/auth/register"): Call(
        "/api/v1/auth/register",
        each(201, 201, 201, 201),
        body=lambda role: {"username": f"new-{role}", "password": PASSWORD},
    ),
    # Credentials are the authentication here: each role signs in as itself (anonymous as alice).
    ("POST", "/api/v1/auth/tokens"): Call(
        "/api/v1/auth/tokens", each(201, 201, 201, 201), body=credentials
    ),
    ("DELETE", "/api/v1/auth/tokens"): Call("/api/v1/auth/tokens", each(401, 204, 204, 204)),
    ("PUT", "/api/v1/me/password"): Call(
        "/api/v1/me/password",
        each(401, 204, 204, 204),
        body=lambda role: {k: v for k, v in new_password(role).items() if "again" not in k},
    ),
    ("GET", "/api/v1/me/ratings"): Call("/api/v1/me/ratings", each(401, 200, 200, 200)),
    ("PUT", "/api/v1/me/ratings/<int:movie_id>"): Call(
        "/api/v1/me/ratings/{R}", each(401, 200, 201, 201), body=lambda _: {"rating": 1.5}
    ),
    ("DELETE", "/api/v1/me/ratings/<int:movie_id>"): Call(
        "/api/v1/me/ratings/{R}", each(401, 204, 404, 404)
    ),
    ("GET", "/api/v1/me/ratings.csv"): Call("/api/v1/me/ratings.csv", each(401, 200, 200, 200)),
    ("GET", "/api/v1/me/recommendations"): Call(
        "/api/v1/me/recommendations", each(401, 200, 200, 200)
    ),
    ("GET", "/api/v1/me/predictions/<int:movie_id>"): Call(
        "/api/v1/me/predictions/{U}", each(401, 200, 200, 200)
    ),
    # H = a movie alice hid and put on her watch list: the others add their own, remove nothing.
    ("GET", "/api/v1/me/hidden"): Call("/api/v1/me/hidden", each(401, 200, 200, 200)),
    ("PUT", "/api/v1/me/hidden/<int:movie_id>"): Call(
        "/api/v1/me/hidden/{H}", each(401, 200, 201, 201)
    ),
    ("DELETE", "/api/v1/me/hidden/<int:movie_id>"): Call(
        "/api/v1/me/hidden/{H}", each(401, 204, 404, 404)
    ),
    ("GET", "/api/v1/me/watchlist"): Call("/api/v1/me/watchlist", each(401, 200, 200, 200)),
    ("PUT", "/api/v1/me/watchlist/<int:movie_id>"): Call(
        "/api/v1/me/watchlist/{H}", each(401, 200, 201, 201)
    ),
    ("DELETE", "/api/v1/me/watchlist/<int:movie_id>"): Call(
        "/api/v1/me/watchlist/{H}", each(401, 204, 404, 404)
    ),
    ("POST", "/api/v1/admin/imports"): Call(
        "/api/v1/admin/imports",
        each(401, 403, 403, 201),
        body=lambda _: {"kind": "catalogue", "file": (GOOD_CSV, "good.csv")},
        form=True,
    ),
    ("GET", "/api/v1/admin/imports/<int:run_id>"): Call(
        "/api/v1/admin/imports/{RUN}", each(401, 403, 403, 200)
    ),
    ("GET", "/api/v1/admin/stats"): Call("/api/v1/admin/stats", each(401, 403, 403, 200)),
    # The admin merges D (a duplicate nobody rated) into U.
    ("POST", "/api/v1/admin/movies/<int:movie_id>/merge"): Call(
        "/api/v1/admin/movies/{U}/merge",
        each(401, 403, 403, 200),
        body=lambda _: {"drop_id": "{D}"},
    ),
    # --- pages ---
    ("GET", "/"): Call("/", each(200, 200, 200, 200)),
    ("GET", "/welcome"): Call("/welcome", each(LOGIN, 200, 200, 200)),
    # The film page is public; signed in, it adds your own rating or prediction.
    ("GET", "/movies/<int:movie_id>"): Call("/movies/{R}", each(200, 200, 200, 200)),
    ("GET", "/login"): Call("/login", each(200, 302, 302, 302)),  # signed in: to the catalogue
    ("POST", "/login"): Call("/login", each(302, 302, 302, 302), body=credentials, form=True),
    ("GET", "/signup"): Call("/signup", each(200, 302, 302, 302)),
    ("POST", "/signup"): Call("/signup", each(302, 302, 302, 302), body=new_account, form=True),
    ("POST", "/logout"): Call("/logout", each(LOGIN, 302, 302, 302), form=True),
    ("GET", "/account"): Call("/account", each(LOGIN, 200, 200, 200)),
    ("POST", "/account/password"): Call(
        "/account/password", each(LOGIN, 302, 302, 302), body=new_password, form=True
    ),
    ("POST", "/account/sign-out-everywhere"): Call(
        "/account/sign-out-everywhere", each(LOGIN, 302, 302, 302), form=True
    ),
    ("GET", "/ratings"): Call("/ratings", each(LOGIN, 200, 200, 200)),
    ("GET", "/ratings.csv"): Call("/ratings.csv", each(LOGIN, 200, 200, 200)),
    # The rating widget posts with htmx: a session that ended is a 401 its script explains.
    ("POST", "/ratings/<int:movie_id>"): Call(
        "/ratings/{R}", each(401, 200, 200, 200), body=lambda _: {"rating": "1.5"}, form=True
    ),
    # Bob and root have not rated R: nothing of theirs to remove (alice's stays, checked below).
    ("POST", "/ratings/<int:movie_id>/delete"): Call(
        "/ratings/{R}/delete", each(401, 200, 422, 422), form=True
    ),
    ("GET", "/recommendations"): Call("/recommendations", each(LOGIN, 200, 200, 200)),
    # Bob and root have no ratings: no neighbours to show them (422), and never alice's.
    ("GET", "/recommendations/<int:movie_id>/why"): Call(
        "/recommendations/{U}/why", each(LOGIN, 200, 422, 422)
    ),
    # The list buttons post with htmx, like the rating widget (401 to an ended session).
    ("GET", "/hidden"): Call("/hidden", each(LOGIN, 200, 200, 200)),
    ("POST", "/hidden/<int:movie_id>"): Call("/hidden/{H}", each(401, 200, 200, 200), form=True),
    ("POST", "/hidden/<int:movie_id>/delete"): Call(
        "/hidden/{H}/delete", each(401, 200, 422, 422), form=True
    ),
    ("GET", "/watchlist"): Call("/watchlist", each(LOGIN, 200, 200, 200)),
    ("POST", "/watchlist/<int:movie_id>"): Call(
        "/watchlist/{H}", each(401, 200, 200, 200), form=True
    ),
    ("POST", "/watchlist/<int:movie_id>/delete"): Call(
        "/watchlist/{H}/delete", each(401, 200, 422, 422), form=True
    ),
    ("GET", "/admin"): Call("/admin", each(LOGIN, 403, 403, 200)),
    ("GET", "/admin/import"): Call("/admin/import", each(LOGIN, 403, 403, 200)),
    # The import and the evaluation start background jobs: the admin is sent to follow them.
    ("POST", "/admin/import"): Call(
        "/admin/import",
        each(LOGIN, 403, 403, 303),
        body=lambda _: {"kind": "catalogue", "file": (GOOD_CSV, "good.csv")},
        form=True,
    ),
    ("GET", "/admin/jobs/<int:job_id>"): Call("/admin/jobs/{JOB}", each(LOGIN, 403, 403, 200)),
    ("GET", "/admin/jobs/<int:job_id>/status"): Call(
        "/admin/jobs/{JOB}/status", each(LOGIN, 403, 403, 200)
    ),
    ("GET", "/admin/evaluation"): Call("/admin/evaluation", each(LOGIN, 403, 403, 200)),
    ("POST", "/admin/evaluations"): Call(
        "/admin/evaluations",
        each(LOGIN, 403, 403, 303),
        body=lambda _: {"folds": "1", "ks": "2"},
        form=True,
    ),
}


def routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_of_the_app_has_an_expectation(app):
    assert routes(app) == set(MATRIX), (
        f"routes without an expectation: {sorted(routes(app) - set(MATRIX))}; "
        f"expectations without a route: {sorted(set(MATRIX) - routes(app))}"
    )


@dataclass
class World:
    app: Flask
    ids: dict[str, int]
    alice_id: int

    def alice_ratings(self) -> dict[int, float]:
        db.session.expire_all()
        rows = db.session.execute(
            sa.select(Rating.movie_id, Rating.rating).where(Rating.user_id == self.alice_id)
        )
        return {movie_id: rating for movie_id, rating in rows}

    def alice_lists(self) -> tuple[set[int], ...]:
        db.session.expire_all()
        return tuple(
            set(db.session.scalars(sa.select(m.movie_id).where(m.user_id == self.alice_id)))
            for m in (HiddenMovie, WatchlistEntry)
        )


@pytest.fixture
def world(app: Flask) -> World:
    """Alice with four ratings (above k = 3), bob with none, an administrator, an import run."""
    hash_method = app_settings(app).password_hash_method
    movies = [make_movie(f"Film {i}", 1980 + i, ("Drama",), imdb_rating=6.5) for i in range(8)]
    users = {
        role: accounts.create_user(
            db.session, name, PASSWORD, is_admin=role == "admin", hash_method=hash_method
        )
        for role, name in USERNAMES.items()
    }
    scale = app_settings(app).rating_scale
    for movie, stars in zip(movies[:4], (4.0, 2.0, 5.0, 3.0), strict=True):
        rate_movie(db.session, users["user"].id, movie.id, stars, scale)
    seed = io.BytesIO(GOOD_CSV.replace(b"Matrix", b"Seed"))
    report = catalogue_import.import_catalogue(db.session, seed, filename="seed.csv")
    for film_list in (lists.HIDDEN, lists.WATCHLIST):
        lists.add(db.session, film_list, users["user"].id, movies[5].id)
    ids = {
        "R": movies[0].id,
        "U": movies[6].id,
        "D": movies[7].id,
        "H": movies[5].id,
        "RUN": report.run_id,
        "JOB": _finished_job(users["admin"].id),
    }
    return World(app, ids, users["user"].id)


def _finished_job(admin_id: int) -> int:
    """An import job that has ended (the admin page's job routes show it)."""
    job = Job(kind="import", status="succeeded", params={}, backend="thread", admin_id=admin_id)
    db.session.add(job)
    db.session.commit()
    return job.id


def web_client(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    if role != "anonymous":
        response = client.post(
            "/login", data={**credentials(role), "csrf_token": csrf_token(client)}
        )
        assert response.status_code == 302, role
    return client


def request_as(world: World, role: str, method: str, call: Call):
    app = world.app
    path = call.path.format(**world.ids)
    body = {
        name: world.ids[value[1:-1]] if value in {f"{{{key}}}" for key in world.ids} else value
        for name, value in (call.body(role) if call.body else {}).items()
    }
    if path.startswith(("/api/", "/healthz")):
        client = app.test_client()
        headers = {} if role == "anonymous" else bearer(sign_in(client, USERNAMES[role]))
        if call.form:
            data = {
                k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in body.items()
            }
            return client.open(path, method=method, headers=headers, data=data)
        return client.open(path, method=method, headers=headers, json=body or None)
    client = web_client(app, role)
    if method == "GET":
        return client.get(path)
    data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in body.items()}
    token = csrf_token(client, "/")
    # The rating widget's routes answer htmx with a status (a plain form gets a redirect).
    htmx_paths = ("/ratings/", "/hidden/", "/watchlist/")
    headers = {"HX-Request": "true"} if path.startswith(htmx_paths) else {}
    return client.post(path, data={**data, "csrf_token": token}, headers=headers)


def outcome(response) -> int | str:
    location = response.headers.get("Location", "")
    if response.status_code == 302 and location.startswith("/login"):
        return LOGIN
    return response.status_code


@pytest.mark.parametrize("key", sorted(MATRIX), ids=" ".join)
def test_each_role_gets_what_the_matrix_says(world, key):
    method, _ = key
    call = MATRIX[key]
    # Alice last: she may remove her own rating; the others must find it in place.
    got: dict[str, int | str] = {}
    for role in ("anonymous", "other", "admin", "user"):
        before = world.alice_ratings(), world.alice_lists()
        got[role] = outcome(request_as(world, role, method, call))
        if role != "user":
            assert world.alice_ratings() == before[0], f"{role} changed alice's ratings"
            assert world.alice_lists() == before[1], f"{role} changed alice's lists"
    assert got == call.expected
