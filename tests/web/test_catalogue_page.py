"""The catalogue page at /."""

from __future__ import annotations

from tests.factories import make_movie


def test_index_lists_movies_with_their_year(client, app):
    make_movie("Titanic", 1997, ("Drama",))
    make_movie("Alien", 1979, ("Horror",))
    page = client.get("/").get_data(as_text=True)
    assert "Titanic" in page and "(1997)" in page and "Alien" in page
    assert "2 films" in page


def test_index_filters_by_search_and_genre(client, app):
    make_movie("Titanic", 1997, ("Drama",))
    make_movie("Alien", 1979, ("Horror",))
    page = client.get("/?q=tit&genre=Drama").get_data(as_text=True)
    assert "Titanic" in page and "Alien" not in page


def test_index_escapes_html_in_titles_and_queries(client, app):
    make_movie("<script>alert(1)</script>", 2000)
    page = client.get("/?q=<script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_index_ignores_malformed_numbers_instead_of_failing(client, app):
    make_movie("Titanic", 1997)
    response = client.get("/?year_min=abc&page=-3&sort=nonsense")
    assert response.status_code == 200
    assert "Titanic" in response.get_data(as_text=True)


def test_index_paginates(client, app):
    for number in range(30):
        make_movie(f"Movie {number:02d}", 2000)
    first = client.get("/").get_data(as_text=True)
    second = client.get("/?page=2").get_data(as_text=True)
    assert "Movie 00" in first and "Movie 29" not in first
    assert "Movie 29" in second and "page 2 of 2" in second
