"""The "why" panel as a person reads it: a headline naming the rated films that carry most of
the weight (linked to their pages), their shares as bars, how you rated the films counted, a
picture where near is drawn near, the numbers only under "Details", the slider in "Explore"."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import post

RATINGS = ("5", "4.5", "1", "3.5", "2", "4")


@pytest.fixture
def rated(alice, catalogue):
    """alice rated the first six films (k = 3 in the test app)."""
    for movie, value in zip(catalogue, RATINGS, strict=False):
        assert post(alice, f"/ratings/{movie.id}", {"rating": value}).status_code == 200
    return alice, catalogue


def panel_html(client, movie_id: int, query: str = "") -> str:
    response = client.get(f"/recommendations/{movie_id}/why{query}", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_headline_names_the_rated_films_with_links_and_their_ratings(rated):
    client, catalogue = rated
    html = panel_html(client, catalogue[10].id)
    headline = re.search(r'<p class="why-headline">(.*?)</p>', html, re.S).group(1)
    assert "predicted for you" in headline and "Because you rated" in headline
    link = r'<a class="film-link" href="/movies/(\d+)">(Film \d\d)</a> (\d?½?)'
    linked = re.findall(link, headline)
    # k = 3: all three neighbours carry weight, so three are named, each with its rating.
    assert len(linked) == 3
    by_id = {str(m.id): (m.title, value) for m, value in zip(catalogue, RATINGS, strict=False)}
    for movie_id, title, stars in linked:
        assert by_id[movie_id][0] == title
        assert stars == by_id[movie_id][1].replace(".5", "½")
    # The bars repeat them with their shares, which add up to 100 (rounding aside).
    shares = [int(p) for p in re.findall(r'<span class="share-pct">(\d+)%</span>', html)]
    assert len(shares) == 3 and 98 <= sum(shares) <= 102
    assert len(re.findall(r'<rect class="share-fill" width="[\d.]+"', html)) == 3


def test_no_raw_distance_outside_the_details_and_no_pca(rated):
    client, catalogue = rated
    html = panel_html(client, catalogue[12].id)
    before, details = html.split('<details class="why-details">')
    assert "Distance" not in before and "PCA" not in html and "Distance" in details
    assert details.count("<tr><td>Film") == 3


def test_the_histogram_counts_how_you_rated_the_films_counted(rated):
    client, catalogue = rated
    html = panel_html(client, catalogue[10].id, "?k=6&part=body")
    desc = re.search(r'<desc id="why-hist-desc-\d+">(.*?)</desc>', html).group(1)
    # All six ratings, one at each of 5, 4½, 1, 3½, 2 and 4 stars, lowest first.
    assert desc == (
        "1 at 1 star, 1 at 2 stars, 1 at 3½ stars, 1 at 4 stars, 1 at 4½ stars, 1 at 5 stars"
    )
    assert html.count('class="bar"') == 10  # every half star of the 0.5-5 scale


def test_the_panel_has_a_close_button_and_the_slider_in_explore(rated):
    client, catalogue = rated
    html = panel_html(client, catalogue[10].id)
    assert 'class="why-close"' in html and 'aria-labelledby="why-title-' in html
    explore = html.split('<details class="why-explore">')[1]
    assert 'type="range"' in explore and 'max="6"' in explore and 'value="3"' in explore
    assert 'type="range"' not in html.split('<details class="why-explore">')[0]
    # The body alone (what the slider swaps in) has neither the slider nor the close button.
    body = panel_html(client, catalogue[10].id, "?k=5&part=body")
    assert 'type="range"' not in body and "why-close" not in body
    assert '<span class="why-k">5</span>' in body


def test_the_rings_put_every_neighbour_at_its_distance_and_name_each(rated):
    client, catalogue = rated
    html = panel_html(client, catalogue[10].id, "?k=6&part=body")
    svg = html.split('<figure class="why-rings">')[1].split("</svg>")[0]
    assert svg.count('class="dot"') == 6 and svg.count('class="ring-label"') == 6
    assert "Only the distance means something" in html


def test_the_page_without_javascript_has_no_close_button(rated):
    client, catalogue = rated
    page = client.get(f"/recommendations/{catalogue[10].id}/why").get_data(as_text=True)
    assert "<html" in page and "why-close" not in page and "Because you rated" in page


def test_films_that_lower_the_prediction_are_named_apart_from_the_because(rated):
    client, catalogue = rated
    downs_seen = 0
    for movie in catalogue[6:]:
        html = panel_html(client, movie.id, "?k=6&part=body")
        headline = re.search(r'<span class="why-because-text">(.*?)</span>', html, re.S).group(1)
        split = re.search(r"(?:But you|You) rated", headline)
        up_part = headline[: split.start()] if split else headline
        down_part = headline[split.start() :] if split else ""
        rows = re.findall(
            r'href="/movies/\d+">(Film \d\d)</a>\s*<span class="muted">[^<]*</span>\s*'
            r'<span class="pull (up|down)">',
            html,
        )
        direction = dict(rows)
        assert 3 <= len(rows) == len(re.findall(r"film-link", headline)) <= 5
        for title in re.findall(r"(Film \d\d)</a>", up_part):
            assert direction[title] == "up"
        for title in re.findall(r"(Film \d\d)</a>", down_part):
            assert direction[title] == "down"
        downs_seen += len(re.findall(r"Film \d\d", down_part))
        if down_part:
            assert "lower than people usually do, which pull" in down_part
    assert downs_seen > 0
