"""End to end in a real browser: Debian's Chromium driven by Playwright against the real app
served from a thread over a file SQLite database (k = 3).

Screenshots of each page at 1280 and 390 pixels wide go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

from recommender.app import create_app
from recommender.extensions import db
from recommender.services import accounts
from tests.conftest import make_environ, unavailable
from tests.factories import make_movie

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogue"
PASSWORD = "correct horse battery"
WIDTHS = (1280, 390)
GENRES = ("Drama", "Comedy", "Action", "Horror", "Romance", "Thriller", "Animation", "Western")
ADJECTIVES = ("Silent", "Crimson", "Last", "Hidden", "Golden", "Broken", "Distant", "Electric")
NOUNS = ("River", "Harbour", "Summer", "Empire", "Garden")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser; skipped (failed under CI) when missing."""
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    # --no-sandbox: the tests may run as root; the rest keep it off the (closed) network.
    args = [
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """The app on a free port over a migrated file SQLite database with 40 movies."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.sqlite3'}"
    app = create_app(environ=make_environ(url, RECOMMENDER_K="3", FEATURE_CHECK_SECONDS="0"))
    with app.app_context():
        upgrade()
        for i in range(40):
            make_movie(
                f"The {ADJECTIVES[i % 8]} {NOUNS[i // 8]}",
                1972 + i,
                (GENRES[i % 8], GENRES[(i * 3 + 1) % 8]),
                runtime_min=85 + (i * 7) % 70,
                imdb_rating=round(5.0 + (i * 13 % 40) / 10, 1),
                imdb_votes=1_000 * (i * 37 % 41 + 1),
                budget=1_000_000 * (i % 9 + 1),
            )
        accounts.create_user(
            db.session, "root", PASSWORD, is_admin=True, hash_method="pbkdf2:sha256:1000"
        )
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.engine.dispose()


def shoot(page: Any, name: str) -> None:
    """Screenshot the whole page at each width (checking nothing overflows sideways), then
    restore the desktop width."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow}px wide in a {width}px window"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def sign_up(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/signup")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password_again]").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{base}/welcome")
    # The URL changes before the deferred scripts run: a star clicked before htmx has wired
    # up the page checks its radio and sends nothing (a CI run saw exactly that).
    page.wait_for_load_state("load")


def settled(target: Any) -> None:
    """Wait until htmx has settled its swap into ``target``.

    htmx wires up the swapped-in elements (the why panel's k slider) when the swap settles, a
    moment after the content is visible: a slider moved before that sends no request.
    """
    expect(target).not_to_have_class(re.compile(r"\bhtmx-settling\b"))


def test_a_new_user_unlocks_predictions_and_explores_why(live_app, browser):
    _, base = live_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(base)
    expect(page.get_by_text("40 films")).to_be_visible()
    shoot(page, "catalogue-anonymous")

    sign_up(page, base, "alice")
    progress = page.locator("#progress")
    expect(progress).to_contain_text("0 of 4 ratings — 4 more to unlock your predictions")
    shoot(page, "welcome")

    widgets = page.locator(".movies .rating-widget")
    for i, stars in enumerate(("4", "2", "5")):
        widgets.nth(i).locator(f"label[title='{stars} stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text(f"Saved: {stars} stars.")
        expect(progress).to_contain_text(f"{i + 1} of 4 ratings — {3 - i} more to unlock")
    # Keyboard: the arrow keys move the rating by half a star and save it.
    widgets.nth(0).locator("input[value='4']").focus()
    page.keyboard.press("ArrowRight")
    expect(widgets.nth(0).locator(".message")).to_have_text("Saved: 4.5 stars.")
    expect(widgets.nth(0).locator(".yours")).to_have_text("4.5")

    widgets.nth(3).locator("label[title='1.5 stars']").click()
    expect(progress).to_contain_text("Your predictions are unlocked!")
    expect(progress.locator(".first-recs li")).to_have_count(5)
    shoot(page, "welcome-unlocked")

    page.goto(f"{base}/?sort=-imdb_votes")
    expect(page.locator(".predicted").first).to_be_visible()
    shoot(page, "catalogue-signed-in")

    page.get_by_role("link", name="Recommendations").click()
    expect(page.get_by_role("heading", name="Recommended for you")).to_be_visible()
    shoot(page, "recommendations")

    first = page.locator(".rec").first
    first.get_by_role("link", name="Why?").click()
    panel = first.locator(".why")
    expect(panel.locator("table.neighbours tbody tr")).to_have_count(3)
    settled(first.locator(".why-slot"))
    expect(panel.locator(".why-headline a.film-link")).to_have_count(3)
    expect(panel.locator(".why-rings .ring-label")).to_have_count(3)
    before = panel.locator(".why-predicted").inner_text()
    shoot(page, "why-panel")

    panel.locator(".why-explore summary").click()  # the k slider is under "Explore"
    panel.locator("input[type=range]").fill("1")
    expect(panel.locator(".why-k")).to_have_text("1")
    expect(panel.locator("table.neighbours tbody tr")).to_have_count(1)
    panel.locator("input[type=range]").fill("4")
    expect(panel.locator(".why-k")).to_have_text("4")
    expect(panel.locator("table.neighbours tbody tr")).to_have_count(4)
    after = panel.locator(".why-predicted").inner_text()
    assert re.fullmatch(r"\d\.\d", before) and re.fullmatch(r"\d\.\d", after)
    shoot(page, "why-panel-k4")

    page.get_by_role("link", name="Your ratings").click()
    expect(page.get_by_text("4 rated")).to_be_visible()
    page.locator(".rating-widget").first.get_by_role("button", name="Remove").click()
    expect(page.locator(".rating-widget .message").first).to_have_text("Rating removed.")
    shoot(page, "your-ratings")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert errors == []
    page.close()


def test_a_second_user_sees_none_of_the_first_users_ratings(live_app, browser):
    _, base = live_app
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(page, base, "bob")
    page.goto(f"{base}/ratings")
    expect(page.get_by_text("You have not rated anything yet.")).to_be_visible()
    page.goto(base)
    expect(page.locator(".yours")).to_have_count(0)
    expect(page.locator(".predicted")).to_have_count(0)
    page.context.close()


def test_forms_without_a_csrf_token_are_refused(live_app, browser):
    _, base = live_app
    page = browser.new_context().new_page()
    sign_up(page, base, "carol")
    # The browser's own fetch carries the session cookie but no token.
    status = page.evaluate(
        """() => fetch('/ratings/1', {method: 'POST',
                 body: new URLSearchParams({rating: '3'})}).then(r => r.status)"""
    )
    assert status == 400
    response = page.request.post(f"{base}/logout", form={})
    assert response.status == 400 and "The CSRF token is missing." in response.text()
    page.goto(f"{base}/ratings")
    expect(page.get_by_text("You have not rated anything yet.")).to_be_visible()  # still in
    page.context.close()


def test_admin_pages_and_error_pages(live_app, browser):
    app, base = live_app
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/login")
    shoot(page, "sign-in")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Admin").click()
    expect(page.locator(".histogram svg")).to_be_visible()
    expect(page.get_by_role("heading", name="Evaluation")).to_be_visible()
    shoot(page, "admin")

    # An import is a background job: the browser follows its page to the report
    # (tests/web/test_e2e_admin.py imports ML-100K that way).
    page.get_by_role("link", name="Import a dataset").click()
    page.get_by_label("Kind").select_option("catalogue")
    page.get_by_label("File", exact=True).set_input_files(FIXTURES / "broken_values.csv")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Nothing was imported")).to_be_visible()
    expect(page.locator(".problems li").first).to_contain_text("line")
    shoot(page, "admin-import-refused")
    page.get_by_role("link", name="Import another dataset").click()
    page.get_by_label("Kind").select_option("catalogue")
    page.get_by_label("File", exact=True).set_input_files(FIXTURES / "good.csv")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Imported good.csv")).to_be_visible()
    shoot(page, "admin-import")

    page.goto(f"{base}/no/such/page")
    expect(page.get_by_role("heading", name="We could not find that page")).to_be_visible()
    shoot(page, "not-found")
    page.context.close()

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("movies"))) > 40
        db.session.remove()


# Records every Content-Security-Policy violation of the page, whatever reports it: the browser's
# event (added before any page script runs, by the DevTools protocol, so the CSP does not apply).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}` +
      ` at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


def test_no_page_breaks_the_content_security_policy(live_app, browser):
    """Every page, the htmx widgets and the Swagger UI docs page run with no CSP violation."""
    _, base = live_app
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    violations: list[str] = []

    def visit(path: str) -> None:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        violations.extend(f"{path}: {v}" for v in page.evaluate("window.__cspViolations"))

    for path in ("/", "/login", "/signup", "/no/such/page"):
        visit(path)
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    visit("/welcome")
    widgets = page.locator(".movies .rating-widget")
    for i in range(4):  # htmx saves (and swaps) each rating: k = 3, so 4 unlock predictions
        widgets.nth(i).locator("label[title='4 stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text("Saved: 4 stars.")
    violations.extend(f"/welcome (htmx): {v}" for v in page.evaluate("window.__cspViolations"))
    visit("/recommendations")
    page.locator(".rec").first.get_by_role("link", name="Why?").click()
    expect(page.locator(".rec .why .why-headline").first).to_be_visible()
    settled(page.locator(".rec .why-slot").first)
    page.locator(".rec .why .why-explore summary").first.click()
    page.locator(".rec .why input[type=range]").first.fill("1")
    expect(page.locator(".rec .why-k").first).to_have_text("1")
    violations.extend(f"why panel: {v}" for v in page.evaluate("window.__cspViolations"))
    for path in ("/ratings", "/admin", "/admin/import", "/?q=Golden&sort=-year"):
        visit(path)

    visit("/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("recommender")
    page.locator(".opblock-summary").first.click()  # open one operation: more of the UI renders
    expect(page.locator(".opblock-body").first).to_be_visible()
    violations.extend(f"docs: {v}" for v in page.evaluate("window.__cspViolations"))
    shoot(page, "api-docs")

    assert violations == []
    assert [text for text in console if "Content Security Policy" in text] == []
    context.close()
