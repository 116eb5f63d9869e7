"""Onboarding, recommendations with their "why" panel, admin pages and friendly error pages."""

from __future__ import annotations

import io
import re
from pathlib import Path

from recommender.extensions import db
from recommender.jobs import wait_for_thread_jobs
from recommender.models import Rating, User
from tests.web.conftest import post

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalogue"


def _rate(client, movies, values=("4", "2", "5", "3.5")) -> None:
    for movie, value in zip(movies, values, strict=False):
        assert post(client, f"/ratings/{movie.id}", {"rating": value}).status_code == 200


def test_welcome_offers_one_well_known_movie_per_genre(alice, catalogue):
    page = alice.get("/welcome").get_data(as_text=True)
    assert "0 of 4 ratings — 4 more to unlock your predictions" in page
    # The most-voted film of each of the 8 genres (films 08 to 15), then the next most-voted.
    titles = re.findall(
        r'<h3 class="title"><a class="film-link" href="/movies/\d+">(Film \d\d)', page
    )
    assert titles[:8] == [f"Film {i:02d}" for i in range(15, 7, -1)]
    assert len(titles) == len(set(titles)) == 12


def test_rating_on_the_welcome_page_updates_the_progress_bar(alice, catalogue):
    response = post(alice, f"/ratings/{catalogue[0].id}", {"rating": "4", "progress": "1"})
    html = response.get_data(as_text=True)
    assert 'id="progress"' in html and 'hx-swap-oob="true"' in html
    assert "1 of 4 ratings — 3 more to unlock your predictions" in html


def test_the_k_plus_first_rating_unlocks_predictions(alice, catalogue):
    _rate(alice, catalogue[:3])
    response = post(alice, f"/ratings/{catalogue[3].id}", {"rating": "3.5", "progress": "1"})
    html = response.get_data(as_text=True)
    assert "Your predictions are unlocked!" in html
    assert html.count("— predicted") == 5  # the first recommendations
    assert "Your predictions are unlocked!" in alice.get("/welcome").get_data(as_text=True)


def test_the_catalogue_shows_predictions_once_unlocked(alice, catalogue):
    _rate(alice, catalogue[:3])
    assert "Predicted for you" not in alice.get("/").get_data(as_text=True)
    _rate(alice, catalogue[3:4], ("3.5",))
    page = alice.get("/").get_data(as_text=True)
    assert page.count("Predicted for you") == len(catalogue) - 4
    assert page.count('class="yours"') == 4


def test_recommendations_before_unlock_say_how_many_ratings_are_missing(alice, catalogue):
    _rate(alice, catalogue[:1])
    page = alice.get("/recommendations").get_data(as_text=True)
    assert "Rate 3 more movies to unlock your predictions" in page
    assert "Why?" not in page


def test_recommendations_offer_a_why_panel_with_a_k_slider(alice, catalogue):
    _rate(alice, catalogue[:5], ("4", "2", "5", "3.5", "1"))
    page = alice.get("/recommendations").get_data(as_text=True)
    assert page.count("Why?") == len(catalogue) - 5
    movie_id = re.search(r'hx-get="/recommendations/(\d+)/why"', page).group(1)
    panel = alice.get(f"/recommendations/{movie_id}/why", headers={"HX-Request": "true"})
    html = panel.get_data(as_text=True)
    assert "<html" not in html and 'type="range"' in html and 'max="5"' in html
    assert html.count("<tr><td>Film") == 3 and '<span class="why-k">3</span>' in html
    # The picture shows the three films counted, each named beside its dot.
    assert html.count('class="dot"') == 3 and html.count('class="leader"') == 3
    body = alice.get(
        f"/recommendations/{movie_id}/why?k=5&part=body", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'type="range"' not in body and body.count("<tr><td>Film") == 5


def test_the_why_page_works_without_javascript_and_clamps_k(alice, catalogue):
    _rate(alice, catalogue[:4])
    page = alice.get(f"/recommendations/{catalogue[10].id}/why?k=99").get_data(as_text=True)
    assert "<html" in page and "Why Film 10?" in page
    assert '<span class="why-k">4</span>' in page


def test_the_why_panel_of_a_rated_movie_is_refused(alice, catalogue):
    _rate(alice, catalogue[:4])
    response = alice.get(f"/recommendations/{catalogue[0].id}/why")
    assert response.status_code == 409
    assert "You rated movie" in response.get_data(as_text=True)


def test_admin_pages_are_403_for_other_users(alice, catalogue):
    for path in ("/admin", "/admin/import"):
        response = alice.get(path)
        assert response.status_code == 403
        assert "This page is for administrators." in response.get_data(as_text=True)
    assert "/admin" not in alice.get("/").get_data(as_text=True)


def test_admin_dashboard_shows_counts_a_histogram_and_evaluation(admin, alice, catalogue):
    _rate(alice, catalogue[:4], ("4", "4", "5", "0.5"))
    page = admin.get("/admin").get_data(as_text=True)
    assert "<svg" in page and page.count('class="bar"') == 10
    assert "<title>4 stars: 2 ratings</title>" in page
    assert "Evaluation" in page and "recommender evaluate" in page


def test_admin_import_shows_the_report(admin, app):
    data = {
        "kind": "catalogue",
        "file": (io.BytesIO((FIXTURES / "good.csv").read_bytes()), "good.csv"),
    }
    response = post(admin, "/admin/import", data, htmx=False)
    # A background job (tests/web/test_admin_web.py): its page shows the report once done.
    assert response.status_code == 303
    wait_for_thread_jobs()
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported good.csv" in page and "inserted" in page


def test_admin_import_lists_the_lines_at_fault(admin, app):
    broken = (FIXTURES / "broken_values.csv").read_bytes()
    data = {"kind": "catalogue", "file": (io.BytesIO(broken), "broken.csv")}
    response = post(admin, "/admin/import", data, htmx=False)
    assert response.status_code == 303
    wait_for_thread_jobs()
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing was imported" in page and "broken.csv was refused" in page
    assert re.search(r"<strong>line 3</strong>", page)


def test_admin_import_needs_a_file(admin, app):
    response = post(admin, "/admin/import", {"kind": "catalogue"}, htmx=False)
    assert response.status_code == 422 and "Choose a file to upload." in response.get_data(
        as_text=True
    )


def test_unknown_pages_get_a_friendly_404(client, app):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "We could not find that page" in page and "Back to the catalogue" in page


def test_api_errors_stay_json(client, app):
    assert client.get("/api/v1/no-such").get_json()["error"]["code"] == "not_found"


def test_server_errors_get_a_friendly_page(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaput")

    response = client.get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page and "kaput" not in page


def test_welcome_offers_what_people_rated_most_and_liked_once_there_are_ratings(alice, catalogue):
    users = [User(username=f"fan{n}", source="test", external_id=str(n)) for n in range(25)]
    db.session.add_all(users)
    db.session.flush()
    # Film 00 and Film 01 have the fewest IMDb votes, but 25 people rated each well.
    for movie in catalogue[:2]:
        db.session.add_all(Rating(user_id=u.id, movie_id=movie.id, rating=4.5) for u in users)
    db.session.commit()

    page = alice.get("/welcome").get_data(as_text=True)

    titles = re.findall(
        r'<h3 class="title"><a class="film-link" href="/movies/\d+">(Film \d\d)', page
    )
    assert titles[:2] == ["Film 00", "Film 01"]
    assert len(titles) == len(set(titles)) == 12
