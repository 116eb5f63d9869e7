"""POST /api/v1/admin/movies/{id}/merge: the duplicate's ratings move, the lists are never stale,
and every refusal (401, 403, 404, 422, 400) changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Movie, MovieExternalId, Rating, User
from recommender.services.merge import merge_movies
from tests.api.helpers import assert_error, user_id
from tests.factories import make_movie


def merge_path(keep_id: int | str) -> str:
    return f"/api/v1/admin/movies/{keep_id}/merge"


def dump() -> dict[str, list[tuple[Any, ...]]]:
    db.session.expire_all()
    tables = (User.__table__, Movie.__table__, Rating.__table__, MovieExternalId.__table__)
    return {t.name: sorted(tuple(r) for r in db.session.execute(sa.select(t))) for t in tables}


@pytest.fixture
def films(app) -> list[int]:
    """Eight films; [0] and [1] are one film ("Return of the Jedi" twice)."""
    titles = ["Return of the Jedi", "Star Wars Ep. VI: Return of the Jedi"]
    titles += [f"Film {n}" for n in range(6)]
    return [
        make_movie(title, 1983 if n < 2 else 1990 + n, ("Sci-Fi",), imdb_rating=6.0 + n / 4).id
        for n, title in enumerate(titles)
    ]


def rate_all(client, headers, ratings: dict[int, float]) -> None:
    for movie_id, value in ratings.items():
        response = client.put(
            f"/api/v1/me/ratings/{movie_id}", json={"rating": value}, headers=headers
        )
        assert response.status_code == 201, response.get_json()


def recommended(client, headers) -> tuple[str, list[int]]:
    response = client.get("/api/v1/me/recommendations?per_page=100", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["source"], [item["movie"]["id"] for item in body["items"]]


def test_the_admin_merges_and_gets_the_summary(client, admin, alice, bob, films):
    keep, drop = films[0], films[1]
    rate_all(client, alice, {drop: 5.0})
    rate_all(client, bob, {keep: 2.0})
    rate_all(client, bob, {drop: 4.0})  # bob's later rating, on DROP

    response = client.post(merge_path(keep), json={"drop_id": drop}, headers=admin)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "keep_id": keep,
        "drop_id": drop,
        "title": "Return of the Jedi",
        "ratings_moved": 1,
        "ratings_kept": 0,
        "ratings_replaced": 1,
        "external_ids_moved": 0,
        "genres_added": [],
        "attributes_filled": [],
    }
    db.session.expire_all()
    stored = dict(
        db.session.execute(
            sa.select(Rating.user_id, Rating.rating).where(Rating.movie_id == keep)
        ).all()
    )
    assert stored == {user_id("alice"): 5.0, user_id("bob"): 4.0}
    assert client.get(f"/api/v1/movies/{drop}").status_code == 404


def test_lists_are_not_stale_after_a_merge(client, app, admin, alice, films):
    keep, drop = films[0], films[1]
    # Alice rated DROP (her favourite) and four others: personal predictions (k = 3).
    rate_all(client, alice, {drop: 5.0, films[2]: 4.0, films[3]: 2.0, films[4]: 3.0})
    store = app.extensions["recommender"].feature_store
    before = store.current(db.session).version
    source, listed = recommended(client, alice)
    assert source == "knn"
    assert keep in listed  # her favourite, under its other row, recommended to her

    response = client.post(merge_path(keep), json={"drop_id": drop}, headers=admin)
    assert response.status_code == 200, response.get_json()

    assert store.current(db.session).version != before
    source, listed = recommended(client, alice)
    assert source == "knn"
    assert keep not in listed and drop not in listed  # she has rated KEEP now
    ratings = client.get("/api/v1/me/ratings", headers=alice).get_json()["items"]
    assert {item["movie"]["id"]: item["rating"] for item in ratings}[keep] == 5.0
    prediction = client.get(f"/api/v1/me/predictions/{drop}", headers=alice)
    assert_error(prediction, 404, "not_found")


def test_a_worker_still_on_the_old_feature_version_leaves_the_merged_movie_out(
    client, app, alice, films
):
    # The merge runs elsewhere (another process): this one checks the catalogue in an hour.
    rate_all(client, alice, {films[2]: 4.0, films[3]: 2.0, films[4]: 3.0, films[5]: 5.0})
    store = app.extensions["recommender"].feature_store
    store.check_seconds = 3600
    old = store.current(db.session).version
    assert films[1] in recommended(client, alice)[1]
    merge_movies(db.session, films[0], films[1])

    # A list not cached yet (another page size) is rendered from the old version.
    response = client.get("/api/v1/me/recommendations?per_page=99", headers=alice)
    assert response.status_code == 200, response.get_json()
    listed = [item["movie"]["id"] for item in response.get_json()["items"]]
    assert store.current(db.session).version == old
    assert films[1] not in listed and films[0] in listed
    assert_error(client.get(f"/api/v1/me/predictions/{films[1]}", headers=alice), 404)


@pytest.mark.parametrize(
    ("keep", "body", "status", "message"),
    [
        ("keep", {"drop_id": "keep"}, 422, "into itself"),
        ("keep", {"drop_id": 999_999}, 404, "Movie 999999 does not exist"),
        (999_999, {"drop_id": "drop"}, 404, "Movie 999999 does not exist"),
        ("keep", {"drop_id": "7"}, 422, None),
        ("keep", {"drop_id": 1.5}, 422, None),
        ("keep", {"drop_id": True}, 422, None),
        ("keep", {"drop_id": None}, 422, None),
        ("keep", {"drop_id": 0}, 422, None),
        ("keep", {"drop_id": 2**40}, 422, None),
        ("keep", {}, 422, None),
        ("keep", {"drop_id": "drop", "extra": 1}, 422, None),
    ],
)
def test_bad_merges_are_refused_and_change_nothing(
    client, admin, films, keep, body, status, message
):
    ids = {"keep": films[0], "drop": films[1]}
    keep = ids.get(keep, keep)
    body = {
        name: ids.get(value, value) if isinstance(value, str) else value
        for name, value in body.items()
    }
    before = dump()
    error = assert_error(client.post(merge_path(keep), json=body, headers=admin), status)
    if message is not None:
        assert message in error["message"]
    assert dump() == before


def test_a_malformed_body_or_path_is_refused(client, admin, films):
    before = dump()
    response = client.post(
        merge_path(films[0]), data="{drop_id", content_type="application/json", headers=admin
    )
    assert_error(response, 400)
    assert_error(client.post(merge_path("abc"), json={"drop_id": films[1]}, headers=admin), 404)
    assert dump() == before


def test_only_an_admin_may_merge(client, alice, films):
    before = dump()
    path, body = merge_path(films[0]), {"drop_id": films[1]}
    assert_error(client.post(path, json=body), 401, "unauthorized")
    assert_error(client.post(path, json=body, headers=alice), 403, "forbidden")
    assert dump() == before
