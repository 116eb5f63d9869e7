"""GET /api/v1/movies?q= and the catalogue page: forgiving search, relevance order, bad input."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.factories import make_movie


@pytest.fixture
def films(app) -> None:
    for title, year, votes in [
        ("The Lord of the Rings: The Fellowship of the Ring", 2001, 1_500_000),
        ("Lord of War", 2005, 300_000),
        ("Amélie", 2001, 700_000),
        ("Star Wars", 1977, 1_200_000),
        ("Star Wars Ep. VI: Return of the Jedi", 1983, 900_000),
        ("Se7en", 1995, 1_400_000),
        ("Seven Years in Tibet", 1997, 100_000),
    ]:
        make_movie(title, year, imdb_votes=votes)


def search(client, **params) -> list[str]:
    response = client.get("/api/v1/movies", query_string=params)
    assert response.status_code == 200, response.get_json()
    return [item["title"] for item in response.get_json()["items"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("lord rings", ["The Lord of the Rings: The Fellowship of the Ring"]),
        ("amelie", ["Amélie"]),
        ("star wars 1977", ["Star Wars"]),
        ("se7en", ["Se7en"]),
        ("1977", ["Star Wars"]),
    ],
)
def test_the_issue_examples_through_the_api(client, films, q, expected):
    assert search(client, q=q) == expected


def test_relevance_is_the_default_order_with_a_query_and_a_sort_overrides_it(client, films):
    assert search(client, q="star wars") == ["Star Wars", "Star Wars Ep. VI: Return of the Jedi"]
    assert search(client, q="star wars", sort="-year") == [
        "Star Wars Ep. VI: Return of the Jedi",
        "Star Wars",
    ]
    assert search(client, q="star wars", sort="relevance")[0] == "Star Wars"
    # Without a query, relevance means title order.
    assert search(client, sort="relevance") == search(client, sort="title") == search(client)


def test_a_search_of_ten_thousand_characters_is_a_422_naming_q(client, films):
    error = assert_error(client.get("/api/v1/movies", query_string={"q": "a" * 10_000}), 422)
    assert "q" in error["details"]["query"]


def test_nul_bytes_in_the_search_are_a_422(client, films):
    error = assert_error(client.get("/api/v1/movies", query_string={"q": "lord\x00rings"}), 422)
    assert error["details"]["query"]["q"] == ["Must not contain NUL characters."]


@pytest.mark.parametrize(
    "q", ['"star wars', "star* wars*", "star -wars", "(star) wars:*", "star | wars"]
)
def test_search_syntax_is_text_through_the_api(client, films, q):
    assert search(client, q=q) == ["Star Wars", "Star Wars Ep. VI: Return of the Jedi"]


def test_the_catalogue_page_searches_the_same_way_and_survives_long_queries(client, films):
    page = client.get("/", query_string={"q": "rings lord"}).get_data(as_text=True)
    assert "Fellowship of the Ring" in page and "Lord of War" not in page
    assert "1 film<" in page  # singular (it said "1 films")
    long = client.get("/", query_string={"q": "star " * 2_000})
    assert long.status_code == 200  # the page cuts the text to 200 characters
    assert "Star Wars" in long.get_data(as_text=True)
