"""In Chromium: the film page from a title click, rating there, the unlock without a reload
and removing a rating in place (the app and helpers of test_e2e.py, k = 3)."""

from __future__ import annotations

import re

from tests.web import test_e2e
from tests.web.test_e2e import expect, shoot, sign_up

# The same live app (a module-scoped fixture: this module gets its own) and browser settings.
live_app = test_e2e.live_app
browser_type_launch_args = test_e2e.browser_type_launch_args


def test_the_catalogue_unlocks_in_place_and_a_title_opens_the_film_page(live_app, browser):
    _, base = live_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(f"{page.url} {m.location} {m.text}") if m.type == "error" else None,
    )
    sign_up(page, base, "carol")

    page.goto(f"{base}/?sort=title")
    # A mark on the window: a reload would wipe it.
    page.evaluate("window.__noReload = true")
    cards = page.locator(".movies .movie")
    banner = page.locator("#unlock-banner")
    for i, stars in enumerate(("4", "2", "5")):
        cards.nth(i).locator(f"label[title='{stars} stars']").click()
        expect(cards.nth(i).locator(".rating-widget .message")).to_have_text(
            f"Saved: {stars} stars."
        )
    expect(banner).to_contain_text("Rate 1 more movie to unlock")
    watched = cards.nth(6)
    expect(watched.locator(".rating-status")).to_have_text("Not rated yet")

    cards.nth(3).locator("label[title='1 star']").click()
    expect(cards.nth(3).locator(".rating-widget .message")).to_have_text("Saved: 1 star.")
    expect(banner).to_be_empty()
    # The other cards show their predictions without a reload.
    expect(watched.locator(".predicted")).to_have_text(re.compile(r"^\d\.\d$"))
    expect(page.locator(".movies .movie .predicted")).to_have_count(cards.count() - 4)
    assert page.evaluate("window.__noReload") is True
    shoot(page, "catalogue-unlocked-in-place")

    title = watched.locator("h3 a")
    name = title.inner_text()
    title.click()
    expect(page).to_have_url(re.compile(r"/movies/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    yours = page.locator(".film-yours")
    expect(yours.locator(".predicted")).to_have_text(re.compile(r"^\d\.\d$"))
    expect(page.locator(".more-like-this .movie")).to_have_count(8)
    expect(page.locator(".film-community")).to_contain_text("Nobody here has rated it yet.")
    yours.locator("label[title='4.5 stars']").click()
    expect(yours.locator(".rating-widget .message")).to_have_text("Saved: 4.5 stars.")
    expect(yours.locator(".yours")).to_have_text("4.5")
    # Screenshots after the swaps: Chromium's full-page capture leaves style="" on some
    # inputs, which a later htmx settle would copy (a CSP report caused by the test alone).
    shoot(page, "film-page")
    # On a phone every half star is a tap target at least 24 px wide (WCAG 2.5.8).
    page.set_viewport_size({"width": 390, "height": 900})
    box = yours.locator(".stars label").first.bounding_box()
    assert box is not None and box["width"] >= 24 and box["height"] >= 24, box
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    expect(page.locator(".film-community")).to_contain_text("4.5 average from 1 rating")
    shoot(page, "film-page-rated")

    # A "More like this" card's title leads on to that film's page.
    similar = page.locator(".more-like-this .movie h3 a").first
    other = similar.inner_text()
    similar.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(other)
    assert errors == []
    page.close()


def test_removing_ratings_updates_the_count_and_cards_in_place(live_app, browser):
    _, base = live_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_up(page, base, "dave")
    widgets = page.locator(".movies .rating-widget")
    for i in range(5):
        widgets.nth(i).locator("label[title='3 stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text("Saved: 3 stars.")

    page.get_by_role("link", name="Your ratings").click()
    expect(page).to_have_url(f"{base}/ratings")
    page.wait_for_load_state("load")
    page.evaluate("window.__noReload = true")
    count = page.locator("#ratings-count")
    expect(count).to_contain_text("5 rated")
    first = page.locator(".rating-widget").first
    first.get_by_role("button", name="Remove").click()
    expect(first.locator(".message")).to_have_text("Rating removed.")
    expect(count).to_contain_text("4 rated")
    # Still 4 ratings > k = 3: the removed film now shows its prediction in its card.
    expect(first.locator(".predicted")).to_have_text(re.compile(r"^\d\.\d$"))
    second = page.locator(".rating-widget").nth(1)
    second.get_by_role("button", name="Remove").click()
    expect(count).to_contain_text("3 rated")
    # Back under the unlock: no predictions left on the page.
    expect(page.locator(".rating-widget .predicted")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True
    shoot(page, "your-ratings-removed-in-place")
    page.close()
