"""/api/v1/me/recommendations and /me/predictions as a client drives them (k = 3 in tests)."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
import redis

from recommender.api.schemas import RecommendationsOut
from recommender.app import create_app
from recommender.extensions import db
from recommender.services import accounts
from tests.conftest import make_environ
from tests.factories import make_varied_movies


@pytest.fixture
def catalogue(app):
    """Forty movies whose attributes vary, so neighbours are well defined."""
    return make_varied_movies(40, budget=lambda i: 1_000_000 * (1 + i % 17))


def token_headers(app, username: str) -> dict[str, str]:
    user = accounts.create_user(db.session, username, "password123", hash_method="pbkdf2:sha256:1")
    token, _ = accounts.issue_token(db.session, user, ttl=dt.timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def rate(client, headers, movie, value):
    response = client.put(f"/api/v1/me/ratings/{movie.id}", json={"rating": value}, headers=headers)
    assert response.status_code in (200, 201), response.get_json()


def recommendations(client, headers, limit=50):
    response = client.get(f"/api/v1/me/recommendations?limit={limit}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_new_user_gets_cold_start_and_the_number_of_ratings_needed(client, catalogue):
    headers = token_headers(client.application, "ann")
    body = recommendations(client, headers, limit=5)
    assert (body["source"], body["k"], body["ratings_count"], body["needed"]) == (
        "cold_start",
        3,
        0,
        4,
    )
    assert len(body["items"]) == 5
    assert all(item["neighbours"] == [] for item in body["items"])
    # Lists are ordered by the ranking score (issue 13), not by predicted rating.
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_knn_switches_on_at_exactly_k_plus_one_ratings_and_off_after_a_delete(client, catalogue):
    headers = token_headers(client.application, "ann")
    for count, movie in enumerate(catalogue[:3], start=1):
        rate(client, headers, movie, 4.0)
        body = recommendations(client, headers)
        assert (body["source"], body["ratings_count"], body["needed"]) == (
            "cold_start",
            count,
            4 - count,
        )
    rate(client, headers, catalogue[3], 2.0)
    body = recommendations(client, headers)
    assert (body["source"], body["ratings_count"], body["needed"]) == ("knn", 4, 0)

    assert (
        client.delete(f"/api/v1/me/ratings/{catalogue[3].id}", headers=headers).status_code == 204
    )
    body = recommendations(client, headers)
    assert (body["source"], body["ratings_count"], body["needed"]) == ("cold_start", 3, 1)


def test_knn_explanations_are_the_users_own_ratings(client, catalogue):
    headers = token_headers(client.application, "ann")
    mine = {
        movie.id: value
        for movie, value in zip(catalogue[:8], [5, 4.5, 1, 2, 3, 3.5, 0.5, 4], strict=True)
    }
    for movie in catalogue[:8]:
        rate(client, headers, movie, mine[movie.id])
    body = recommendations(client, headers, limit=40)
    assert body["source"] == "knn"
    assert len(body["items"]) == 40 - 8
    titles = {movie.id: movie.title for movie in catalogue}
    for item in body["items"]:
        assert item["movie"]["id"] not in mine  # no rated movie is recommended
        neighbours = item["neighbours"]
        assert len(neighbours) == 3
        for neighbour in neighbours:
            assert neighbour["rating"] == mine[neighbour["movie_id"]]
            assert neighbour["title"] == titles[neighbour["movie_id"]]
        distances = [n["distance"] for n in neighbours]
        assert distances == sorted(distances)
        assert sum(n["weight"] for n in neighbours) == pytest.approx(1.0, abs=1e-5)
        assert 0.5 <= item["predicted_rating"] <= 5.0
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_one_prediction_matches_its_place_in_the_recommendations(client, catalogue):
    headers = token_headers(client.application, "ann")
    for movie, value in zip(catalogue[:6], [5, 1, 4, 2, 3, 4.5], strict=True):
        rate(client, headers, movie, value)
    listed = {i["movie"]["id"]: i for i in recommendations(client, headers, limit=100)["items"]}
    target = catalogue[20]
    response = client.get(f"/api/v1/me/predictions/{target.id}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["source"] == "knn" and body["needed"] == 0 and body["ratings_count"] == 6
    assert body["predicted_rating"] == listed[target.id]["predicted_rating"]
    assert body["score"] == listed[target.id]["score"]
    # The same neighbours, each with its share of their say besides.
    shares = [n.pop("share") for n in body["neighbours"]]
    assert body["neighbours"] == listed[target.id]["neighbours"]
    assert sum(shares) == pytest.approx(1.0, abs=1e-5)


def test_one_prediction_explains_itself_with_shares_and_a_ratings_histogram(client, catalogue):
    headers = token_headers(client.application, "ann")
    mine = dict(zip(catalogue[:6], [5, 1, 4, 2, 3, 4.5], strict=True))
    for movie, value in mine.items():
        rate(client, headers, movie, value)
    body = client.get(f"/api/v1/me/predictions/{catalogue[20].id}", headers=headers).get_json()
    neighbours = body["neighbours"]
    assert len(neighbours) == 3 and sum(n["share"] for n in neighbours) == pytest.approx(1.0)
    # k = 3: all three are named, largest share first, with what the neighbours carry.
    assert sorted(body["because"], key=lambda n: -n["share"]) == body["because"]
    assert {n["movie_id"] for n in body["because"]} == {n["movie_id"] for n in neighbours}
    assert set(body["because"][0]) == {"movie_id", "title", "rating", "distance", "weight", "share"}
    histogram = body["rating_histogram"]
    assert [b["rating"] for b in histogram] == [0.5 * i for i in range(1, 11)]
    assert sum(b["count"] for b in histogram) == 3
    for b in histogram:
        assert b["count"] == sum(n["rating"] == b["rating"] for n in neighbours)
    assert body["baseline_share"] == pytest.approx(0.0, abs=1e-5)
    # The fields are documented.
    spec = client.get("/api/v1/openapi.json").get_json()
    schema = spec["components"]["schemas"]["PredictionDetailOut"]
    assert {"because", "rating_histogram", "baseline_share"} <= set(schema["required"])
    neighbour = spec["components"]["schemas"]["ExplainedNeighbourOut"]
    assert "share" in neighbour["required"] and "weight" in neighbour["properties"]


def test_prediction_errors(client, catalogue):
    headers = token_headers(client.application, "ann")
    rate(client, headers, catalogue[0], 4.0)
    unknown = client.get("/api/v1/me/predictions/999999", headers=headers)
    rated = client.get(f"/api/v1/me/predictions/{catalogue[0].id}", headers=headers)
    anonymous = client.get(f"/api/v1/me/predictions/{catalogue[1].id}")
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"
    assert rated.status_code == 409 and rated.get_json()["error"]["code"] == "conflict"
    assert anonymous.status_code == 401 and "error" in anonymous.get_json()
    cold = client.get(f"/api/v1/me/predictions/{catalogue[1].id}", headers=headers).get_json()
    assert cold["source"] == "cold_start" and cold["neighbours"] == [] and cold["needed"] == 3
    assert cold["because"] == [] and cold["baseline_share"] == 1.0
    assert sum(b["count"] for b in cold["rating_histogram"]) == 0


@pytest.mark.parametrize("limit", ["0", "101", "many"])
def test_bad_limit_is_a_422(client, catalogue, limit):
    headers = token_headers(client.application, "ann")
    response = client.get(f"/api/v1/me/recommendations?limit={limit}", headers=headers)
    assert response.status_code == 422
    assert "limit" in response.get_json()["error"]["details"]["query"]


def test_recommendations_need_a_token(client, catalogue):
    response = client.get("/api/v1/me/recommendations")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_another_users_ratings_never_shape_my_recommendations(client, catalogue):
    ann, bob = token_headers(client.application, "ann"), token_headers(client.application, "bob")
    for movie in catalogue[:10]:
        rate(client, ann, movie, 5.0)
    body = recommendations(client, bob)
    assert (body["source"], body["ratings_count"], body["needed"]) == ("cold_start", 0, 4)
    rate(client, bob, catalogue[20], 1.0)
    assert recommendations(client, bob)["ratings_count"] == 1


def predicted_by_movie(body):
    return {item["movie"]["id"]: item["predicted_rating"] for item in body["items"]}


def test_a_changed_rating_is_reflected_at_once(client, catalogue):
    headers = token_headers(client.application, "ann")
    for movie, value in zip(catalogue[:5], [5, 5, 5, 5, 5], strict=True):
        rate(client, headers, movie, value)
    before = {
        i["movie"]["id"]: i["predicted_rating"] for i in recommendations(client, headers)["items"]
    }
    for movie in catalogue[:5]:
        rate(client, headers, movie, 0.5)
    after = {
        i["movie"]["id"]: i["predicted_rating"] for i in recommendations(client, headers)["items"]
    }
    assert all(after[movie_id] < before[movie_id] for movie_id in after)


def test_empty_catalogue_gives_an_empty_list(client, app):
    headers = token_headers(app, "ann")
    body = recommendations(client, headers)
    assert body["items"] == [] and body["source"] == "cold_start"


def redis_available() -> bool:
    try:
        return redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


def test_redis_cache_serves_the_same_predictions_as_the_memory_cache(database_url, app, catalogue):
    if not redis_available():
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    redis.Redis(host="127.0.0.1", port=6379, db=15).flushdb()
    memory_client = app.test_client()
    headers = token_headers(app, "ann")
    for movie, value in zip(catalogue[:6], [5, 1, 4, 2, 3, 4.5], strict=True):
        rate(memory_client, headers, movie, value)
    expected = recommendations(memory_client, headers)

    environ = make_environ(database_url, CACHE_URL="redis://127.0.0.1:6379/15")
    redis_app = create_app(environ=environ, config={"RECOMMENDER_K": 3})
    with redis_app.app_context():
        first = recommendations(redis_app.test_client(), headers)
        keys = redis.Redis(host="127.0.0.1", port=6379, db=15).keys("predictions:*")
        second = recommendations(redis_app.test_client(), headers)
        db.session.remove()
        db.engine.dispose()
    assert first == second == expected
    assert len(keys) == 1


def test_redis_down_still_answers(database_url, app, catalogue):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    headers = token_headers(app, "ann")
    for movie, value in zip(catalogue[:5], [5, 1, 4, 2, 3], strict=True):
        rate(app.test_client(), headers, movie, value)
    environ = make_environ(database_url, CACHE_URL=f"redis://127.0.0.1:{closed_port}/0")
    down_app = create_app(environ=environ, config={"RECOMMENDER_K": 3})
    with down_app.app_context():
        body = recommendations(down_app.test_client(), headers)
        db.session.remove()
        db.engine.dispose()
    assert body["source"] == "knn" and len(body["items"]) > 0


def test_the_json_body_is_what_the_openapi_schema_describes(client, catalogue):
    headers = token_headers(client.application, "ann")
    cold = recommendations(client, headers, limit=3)
    for movie in catalogue[:6]:
        rate(client, headers, movie, 3.5)
    warm = recommendations(client, headers, limit=3)
    schema = RecommendationsOut()
    for body in (cold, warm):
        assert schema.dump(body) == body  # the schema would have produced the same JSON
        assert schema.validate(body) == {}


def test_the_openapi_document_describes_score_and_predicted_rating(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    item = spec["components"]["schemas"]["PredictionOut"]
    assert {"score", "predicted_rating"} <= set(item["required"])
    assert item["properties"]["score"]["type"] == "number"
    assert "ordered by it" in item["properties"]["score"]["description"]


# -- order, filters, exclude and paging (issue 13 item 6) ---------------------------------------


def listing(client, headers, query):
    response = client.get(f"/api/v1/me/recommendations?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(body):
    return [item["movie"]["id"] for item in body["items"]]


@pytest.fixture
def knn_user(client, catalogue):
    """A knn user who rated the first six films (Drama, Comedy, Action, Horror, Romance, Drama)."""
    headers = token_headers(client.application, "ann")
    for movie, value in zip(catalogue[:6], [5, 1, 4, 2, 3, 4.5], strict=True):
        rate(client, headers, movie, value)
    return headers


def test_order_rating_sorts_by_predicted_rating_and_match_by_score(client, catalogue, knn_user):
    by_match = listing(client, knn_user, "per_page=100")
    by_rating = listing(client, knn_user, "per_page=100&order=rating")
    assert by_match["total"] == by_rating["total"] == 34
    assert set(ids(by_match)) == set(ids(by_rating))
    scores = [item["score"] for item in by_match["items"]]
    predicted = [item["predicted_rating"] for item in by_rating["items"]]
    assert scores == sorted(scores, reverse=True)
    assert predicted == sorted(predicted, reverse=True)
    assert ids(by_match) != ids(by_rating)  # the two orders differ on this catalogue


@pytest.mark.parametrize("personal", [False, True], ids=["cold_start", "knn"])
def test_genre_filter_keeps_only_that_genre_case_insensitively(client, catalogue, personal):
    headers = token_headers(client.application, "ann")
    if personal:
        for movie in catalogue[:6]:
            rate(client, headers, movie, 4.0)
    body = listing(client, headers, "genre=comedy&per_page=100")
    # Comedies are films 1, 6, 11, ..., 36 (eight); the knn user rated film 1.
    expected = {m.id for i, m in enumerate(catalogue) if i % 5 == 1 and not (personal and i < 6)}
    assert set(ids(body)) == expected
    assert body["total"] == len(expected) == (7 if personal else 8)
    assert all(item["movie"]["genres"] == ["Comedy"] for item in body["items"])
    assert listing(client, headers, "genre=&per_page=100")["total"] == (34 if personal else 40)


def test_year_filters_bound_the_list_and_its_total(client, catalogue, knn_user):
    body = listing(client, knn_user, "year_min=1970&year_max=1989&per_page=100")
    expected = {m.id for m in catalogue[6:] if 1970 <= m.year <= 1989}
    assert set(ids(body)) == expected and body["total"] == len(expected) > 0
    only_min = listing(client, knn_user, "year_min=2000&per_page=100")
    assert set(ids(only_min)) == {m.id for m in catalogue[6:] if m.year >= 2000}


def test_exclude_leaves_those_movies_out(client, catalogue, knn_user):
    full = listing(client, knn_user, "per_page=100")
    left_out = ids(full)[:3]
    body = listing(client, knn_user, f"per_page=100&exclude={','.join(map(str, left_out))}")
    assert ids(body) == [movie_id for movie_id in ids(full) if movie_id not in left_out]
    assert body["total"] == full["total"] - 3
    # A rated or unknown id excludes nothing more.
    rated_and_unknown = listing(client, knn_user, f"per_page=100&exclude={catalogue[0].id},999999")
    assert rated_and_unknown["total"] == full["total"]


def test_pages_split_the_full_list_and_keep_its_total(client, catalogue, knn_user):
    full = listing(client, knn_user, "per_page=100")
    pages = [listing(client, knn_user, f"per_page=10&page={page}") for page in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [10, 10, 10, 4]
    assert [(p["page"], p["per_page"], p["total"]) for p in pages] == [
        (page, 10, 34) for page in (1, 2, 3, 4)
    ]
    assert [movie_id for p in pages for movie_id in ids(p)] == ids(full)
    past_the_end = listing(client, knn_user, "per_page=10&page=5")
    assert past_the_end["items"] == [] and past_the_end["total"] == 34


def test_limit_still_works_and_per_page_wins_over_it(client, catalogue, knn_user):
    by_limit = listing(client, knn_user, "limit=7")
    assert (len(by_limit["items"]), by_limit["per_page"], by_limit["page"]) == (7, 7, 1)
    assert ids(by_limit) == ids(listing(client, knn_user, "per_page=7"))
    both = listing(client, knn_user, "limit=7&per_page=3")
    assert (len(both["items"]), both["per_page"]) == (3, 3)
    assert listing(client, knn_user, "")["per_page"] == 20


def test_the_cache_never_serves_one_parameter_set_to_another(client, catalogue, knn_user):
    queries = [
        "per_page=100",
        "per_page=100&order=rating",
        "per_page=100&genre=Drama",
        "per_page=100&year_min=1990",
        "per_page=100&year_max=1969",
        f"per_page=100&exclude={catalogue[10].id}",
        "per_page=5",
        "per_page=5&page=2",
    ]
    first = {query: listing(client, knn_user, query) for query in queries}
    again = {query: listing(client, knn_user, query) for query in reversed(queries)}
    assert first == again
    bodies = [json.dumps(body, sort_keys=True) for body in first.values()]
    assert len(set(bodies)) == len(queries)  # every parameter set got its own answer
    # The same exclusions in another order are the same list.
    a, b = catalogue[10].id, catalogue[20].id
    assert listing(client, knn_user, f"exclude={a},{b}") == listing(
        client, knn_user, f"exclude={b},{a}"
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("order=best", "order"),
        ("genre=" + "x" * 61, "genre"),
        ("year_min=1700", "year_min"),
        ("year_max=abc", "year_max"),
        ("year_min=2000&year_max=1990", "year_min"),
        ("exclude=abc", "exclude"),
        ("exclude=1,-2", "exclude"),
        ("exclude=" + ",".join(["1"] * 501), "exclude"),
        ("page=0", "page"),
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
    ],
)
def test_bad_list_parameters_are_a_422_naming_the_field(client, catalogue, query, field):
    headers = token_headers(client.application, "ann")
    response = client.get(f"/api/v1/me/recommendations?{query}", headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]["query"]
