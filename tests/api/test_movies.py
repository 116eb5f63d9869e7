"""GET /api/v1/movies and /api/v1/movies/{id}: search, filters, sorting, paging, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import make_movie


@pytest.fixture
def movies(app):
    return {
        "titanic_1997": make_movie("Titanic", 1997, ("Drama",), imdb_rating=7.4, runtime_min=194),
        "titanic_1953": make_movie("Titanic", 1953, ("Drama",), imdb_rating=7.0),
        "alien": make_movie("Alien", 1979, ("Horror",), imdb_rating=8.5),
        "airplane": make_movie("Airplane!", 1980, ("Comedy",), imdb_rating=None),
        "percent": make_movie("100% Wolf", 2020, ("Comedy",), imdb_rating=5.0),
    }


def titles(response) -> list[str]:
    return [(item["title"], item["year"]) for item in response.get_json()["items"]]


def test_search_finds_every_titanic_case_insensitively(client, movies):
    response = client.get("/api/v1/movies?q=TITANIC&sort=year")
    assert response.status_code == 200
    body = response.get_json()
    assert titles(response) == [("Titanic", 1953), ("Titanic", 1997)]
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 20


def test_like_wildcards_in_the_query_are_taken_literally(client, movies):
    assert titles(client.get("/api/v1/movies?q=%25")) == [("100% Wolf", 2020)]
    assert titles(client.get("/api/v1/movies?q=_")) == []


def test_genre_and_year_filters_combine(client, movies):
    response = client.get("/api/v1/movies?genre=drama&year_min=1990&year_max=2000")
    assert titles(response) == [("Titanic", 1997)]


def test_sort_descending_puts_missing_values_last(client, movies):
    response = client.get("/api/v1/movies?sort=-imdb_rating")
    assert [t for t, _ in titles(response)] == [
        "Alien",
        "Titanic",
        "Titanic",
        "100% Wolf",
        "Airplane!",
    ]


def test_pages_split_the_results_and_keep_the_total(client, movies):
    first = client.get("/api/v1/movies?sort=title&per_page=2&page=1").get_json()
    third = client.get("/api/v1/movies?sort=title&per_page=2&page=3").get_json()
    assert [m["title"] for m in first["items"]] == ["100% Wolf", "Airplane!"]
    assert [m["title"] for m in third["items"]] == ["Titanic"]
    assert first["total"] == third["total"] == 5


def test_movie_detail_has_its_attributes(client, movies):
    movie = movies["titanic_1997"]
    body = client.get(f"/api/v1/movies/{movie.id}").get_json()
    assert body["title"] == "Titanic" and body["year"] == 1997
    assert body["genres"] == ["Drama"] and body["runtime_min"] == 194


def test_unknown_movie_is_a_json_404(client, movies):
    response = client.get("/api/v1/movies/999999")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "999999" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("sort=budget", "sort"),
        ("year_min=abc", "year_min"),
        ("year_min=2000&year_max=1990", "year_min"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_field(client, movies, query, field):
    response = client.get(f"/api/v1/movies?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["query"]


def test_sql_looking_search_is_just_text(client, movies):
    response = client.get("/api/v1/movies?q=' OR 1=1 --")
    assert response.status_code == 200
    assert response.get_json()["total"] == 0


def test_release_dates_come_back_as_iso_dates(client, app):
    movie = make_movie("Dated", 1998, release_date=dt.date(1998, 6, 12))
    listed = client.get("/api/v1/movies").get_json()["items"][0]
    detail = client.get(f"/api/v1/movies/{movie.id}").get_json()
    assert listed["release_date"] == detail["release_date"] == "1998-06-12"
