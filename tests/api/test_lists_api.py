"""/api/v1/me/hidden and /api/v1/me/watchlist: each user's own lists, paged, and what they do
to the recommendations (k = 3 in tests)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import HiddenMovie, User, WatchlistEntry
from recommender.services import recommendations as recommendations_service
from tests.api.helpers import assert_error, user_id
from tests.factories import make_varied_movies

LISTS = {"hidden": ("created_at", HiddenMovie), "watchlist": ("added_at", WatchlistEntry)}


@pytest.fixture
def catalogue(app):
    """Thirty movies whose attributes vary, so neighbours are well defined."""
    return make_varied_movies(30)


def put(client, headers, name, movie_id):
    return client.put(f"/api/v1/me/{name}/{movie_id}", headers=headers)


def delete(client, headers, name, movie_id):
    return client.delete(f"/api/v1/me/{name}/{movie_id}", headers=headers)


def listed(client, headers, name, query=""):
    response = client.get(f"/api/v1/me/{name}{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored(name, username):
    model = LISTS[name][1]
    db.session.expire_all()
    return set(
        db.session.scalars(sa.select(model.movie_id).where(model.user_id == user_id(username)))
    )


def recommended_ids(client, headers, query="per_page=100"):
    response = client.get(f"/api/v1/me/recommendations?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["movie"]["id"] for item in response.get_json()["items"]]


@pytest.mark.parametrize("name", LISTS)
def test_put_is_201_then_200_and_delete_is_204_then_404(client, alice, catalogue, name):
    movie = catalogue[0]
    created = put(client, alice, name, movie.id)
    assert created.status_code == 201
    body = created.get_json()
    assert body["movie"]["id"] == movie.id and body["movie"]["title"] == "Film 00"
    stamp = LISTS[name][0]
    assert body[stamp].endswith("+00:00")
    again = put(client, alice, name, movie.id)
    assert again.status_code == 200
    # Unchanged: the entry keeps its first timestamp.
    assert again.get_json()[stamp] == body[stamp]
    assert stored(name, "alice") == {movie.id}

    assert delete(client, alice, name, movie.id).status_code == 204
    assert stored(name, "alice") == set()
    assert_error(delete(client, alice, name, movie.id), 404, "not_found")


@pytest.mark.parametrize("name", LISTS)
def test_unknown_or_bad_movie_ids_change_nothing(client, alice, catalogue, name):
    assert_error(put(client, alice, name, 999_999), 404, "not_found")
    assert_error(delete(client, alice, name, 999_999), 404, "not_found")
    for bad in ("abc", "-1", "1.5", "99999999999999999999"):
        assert put(client, alice, name, bad).status_code == 404
        assert delete(client, alice, name, bad).status_code == 404
    assert stored(name, "alice") == set()
    db.session.expire_all()
    # A refused change moves no version either (the cache stays warm).
    assert db.session.scalar(sa.select(User.lists_version).where(User.username == "alice")) == 0


@pytest.mark.parametrize("name", LISTS)
def test_lists_need_a_token(client, catalogue, name):
    assert_error(client.get(f"/api/v1/me/{name}"), 401)
    assert_error(client.put(f"/api/v1/me/{name}/{catalogue[0].id}"), 401)
    assert_error(client.delete(f"/api/v1/me/{name}/{catalogue[0].id}"), 401)


@pytest.mark.parametrize("name", LISTS)
def test_each_user_sees_and_changes_only_their_own_list(client, alice, bob, catalogue, name):
    put(client, alice, name, catalogue[0].id)
    put(client, bob, name, catalogue[1].id)
    assert [i["movie"]["id"] for i in listed(client, alice, name)["items"]] == [catalogue[0].id]
    assert [i["movie"]["id"] for i in listed(client, bob, name)["items"]] == [catalogue[1].id]
    # Bob cannot take Alice's entry off her list: for him it is not there.
    assert_error(delete(client, bob, name, catalogue[0].id), 404)
    assert stored(name, "alice") == {catalogue[0].id}


def test_the_watch_list_is_in_the_order_added_and_hidden_newest_first(client, alice, catalogue):
    order = [catalogue[i].id for i in (5, 2, 9, 0)]
    for movie_id in order:
        put(client, alice, "watchlist", movie_id)
        put(client, alice, "hidden", movie_id)
    assert [i["movie"]["id"] for i in listed(client, alice, "watchlist")["items"]] == order
    assert [i["movie"]["id"] for i in listed(client, alice, "hidden")["items"]] == order[::-1]


@pytest.mark.parametrize("name", LISTS)
def test_pages_split_the_list_and_keep_its_total(client, alice, catalogue, name):
    for movie in catalogue[:7]:
        put(client, alice, name, movie.id)
    whole = [i["movie"]["id"] for i in listed(client, alice, name, "?per_page=100")["items"]]
    pages = [listed(client, alice, name, f"?page={p}&per_page=3") for p in (1, 2, 3, 4)]
    assert [(p["page"], p["per_page"], p["total"]) for p in pages] == [
        (1, 3, 7),
        (2, 3, 7),
        (3, 3, 7),
        (4, 3, 7),
    ]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert [i["movie"]["id"] for p in pages for i in p["items"]] == whole
    assert sorted(whole) == sorted(m.id for m in catalogue[:7])


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("query", ["?page=0", "?per_page=101", "?page=x"])
def test_bad_paging_is_a_422(client, alice, catalogue, name, query):
    assert_error(client.get(f"/api/v1/me/{name}{query}", headers=alice), 422)


def rate_some(client, headers, movies):
    for movie, value in zip(movies, (5, 4, 1, 2, 5), strict=False):
        response = client.put(
            f"/api/v1/me/ratings/{movie.id}", json={"rating": value}, headers=headers
        )
        assert response.status_code == 201


@pytest.mark.parametrize("personal", [False, True], ids=["cold_start", "knn"])
@pytest.mark.parametrize("name", LISTS)
def test_listed_films_leave_the_recommendations_at_once_and_come_back(
    client, alice, catalogue, name, personal
):
    if personal:
        rate_some(client, alice, catalogue[:5])
    before = recommended_ids(client, alice)
    top = before[:2]
    for movie_id in top:
        assert put(client, alice, name, movie_id).status_code == 201
    # Asked again with the same parameters: the cached answer must not be served.
    after = recommended_ids(client, alice)
    assert not set(top) & set(after)
    assert after == [m for m in before if m not in top]
    body = client.get("/api/v1/me/recommendations?per_page=100", headers=alice).get_json()
    assert body["total"] == len(before) - 2

    assert delete(client, alice, name, top[0]).status_code == 204
    assert recommended_ids(client, alice) == [m for m in before if m != top[1]]


def test_hiding_keeps_the_predictions_entry_warm(client, alice, catalogue, monkeypatch):
    rate_some(client, alice, catalogue[:5])
    recommended_ids(client, alice)
    calls = []

    def refuse(*_args, **_kwargs):
        calls.append("recomputed")
        raise AssertionError("the predictions entry was recomputed")

    # A list change moves lists_version only: the entry (ratings only) is served from the cache.
    monkeypatch.setattr(recommendations_service, "compute_predictions", refuse)
    monkeypatch.setattr(recommendations_service, "update_predictions", refuse)
    put(client, alice, "hidden", catalogue[10].id)
    assert catalogue[10].id not in recommended_ids(client, alice)
    assert calls == []


def test_another_users_lists_never_shape_my_recommendations(client, alice, bob, catalogue):
    before = recommended_ids(client, alice)
    put(client, bob, "hidden", before[0])
    put(client, bob, "watchlist", before[1])
    assert recommended_ids(client, alice) == before


def test_filters_and_lists_combine(client, alice, catalogue):
    rate_some(client, alice, catalogue[:5])
    dramas = recommended_ids(client, alice, "genre=drama&per_page=100")
    put(client, alice, "watchlist", dramas[0])
    assert recommended_ids(client, alice, "genre=drama&per_page=100") == dramas[1:]


def test_the_openapi_document_lists_the_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for name in LISTS:
        assert set(paths[f"/api/v1/me/{name}"]) >= {"get"}
        assert set(paths[f"/api/v1/me/{name}/{{movie_id}}"]) >= {"put", "delete"}
        assert "201" in paths[f"/api/v1/me/{name}/{{movie_id}}"]["put"]["responses"]
