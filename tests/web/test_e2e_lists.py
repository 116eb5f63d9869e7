"""End to end in Chromium: "Not interested" and "Watch later" from the recommendations page
(the next card appears, the count follows), a hidden starter film replaced on the onboarding
page, the two list pages with undo, filters, order and "Show more" under the page's state, a
title to the film page and its list buttons (k = 3; the served app and its 40 movies come from
test_e2e's fixtures). Screenshots at 1280 and 390 px (test_e2e.shoot)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.test_e2e import (  # fixtures and helpers, imported to be used here
    RECORD_CSP_VIOLATIONS,
    browser_type_launch_args,  # noqa: F401
    live_app,  # noqa: F401
    shoot,
    sign_up,
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


def unlock(page: Any) -> None:
    """Rate four films on the welcome page (k = 3): personal predictions from then on."""
    widgets = page.locator("#starter-movies .rating-widget")
    for i, stars in enumerate(("4", "2", "5", "1.5")):
        widgets.nth(i).locator(f"label[title='{stars} stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text(f"Saved: {stars} stars.")


def rec_titles(page: Any) -> list[str]:
    return page.locator(".rec h2.title").all_inner_texts()


def discover(page: Any) -> int:
    """The recommendations page's "N films to discover"."""
    return int(re.match(r"([\d,]+) film", page.locator(".discover-count").inner_text()).group(1))


def hide_a_starter(page: Any) -> None:
    """On the welcome page: "Not interested" takes the card away and the next starter comes."""
    cards = page.locator("#starter-movies > li")
    count = cards.count()
    first = cards.first.locator("h3").inner_text()
    cards.first.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(page.locator("#list-status")).to_contain_text("will not be recommended")
    expect(cards.first.locator("h3")).not_to_have_text(first)
    expect(cards).to_have_count(count)
    assert first not in cards.locator("h3").all_inner_texts()


def test_hide_and_watch_later_from_the_recommendations_page(live_app, browser):  # noqa: F811
    _, base = live_app
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up(page, base, "lena")
    hide_a_starter(page)
    shoot(page, "welcome-starter-hidden")
    unlock(page)

    page.goto(f"{base}/recommendations")
    page.evaluate("window.__noReload = true")
    cards = page.locator(".rec")
    expect(cards).to_have_count(20)
    before = rec_titles(page)
    total = discover(page)  # 40 films - 4 rated - 1 hidden on the welcome page
    assert total == 35
    # The predicted rating is shown once on each card.
    expect(cards.first.locator(".predicted")).to_have_count(1)
    expect(page.locator(".rec .score")).to_have_count(0)
    shoot(page, "recommendations-lists")

    # Not interested: the card goes, the 21st film joins at the end, the status and the count
    # say so.
    cards.first.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(page.locator("#list-status")).to_contain_text("will not be recommended")
    expect(page.locator(".discover-count")).to_have_text(f"{total - 1} films to discover")
    expect(cards).to_have_count(20)
    expect(cards.first.locator("h2.title")).to_have_text(before[1])
    hidden_title = before[0]
    after_hide = rec_titles(page)
    assert hidden_title not in after_hide and after_hide[:19] == before[1:]
    assert after_hide[19] not in before

    # Watch later: the same, and the film is on the watch list page.
    later_title = after_hide[0]
    cards.first.get_by_role("button", name=re.compile("^Watch later")).click()
    expect(page.locator("#list-status")).to_contain_text("Added")
    expect(cards.first.locator("h2.title")).to_have_text(after_hide[1])
    expect(cards).to_have_count(20)
    expect(page.locator(".discover-count")).to_have_text(f"{total - 2} films to discover")

    # Rating in place keeps the card and shows the rating; the count follows and the other
    # cards keep a prediction (refreshed out of band).
    widget = cards.first.locator(".rating-widget")
    widget.locator("label[title='3.5 stars']").click()
    expect(widget.locator(".message")).to_have_text("Saved: 3.5 stars.")
    expect(page.locator(".discover-count")).to_have_text(f"{total - 3} films to discover")
    expect(page.locator(".rec .predicted")).to_have_count(19)
    shoot(page, "recommendations-after-actions")

    # Show more: the cards not on the page yet are appended, none skipped although the list
    # moved under it: 35 - 2 listed = 33 cards (the one rated here stays shown).
    page.get_by_role("link", name="Show more").click()
    expect(cards).to_have_count(33)
    expect(page.get_by_role("link", name="Show more")).to_have_count(0)
    titles = rec_titles(page)
    assert len(set(titles)) == 33 and hidden_title not in titles and later_title not in titles
    assert page.evaluate("window.__noReload") is True

    page.locator("#rec-count").get_by_role("link", name="Your watch list").click()
    expect(page.locator("#watch-list h2.title")).to_have_text([later_title])
    shoot(page, "watchlist")
    page.get_by_role("button", name=re.compile("^Remove from watch list")).click()
    expect(page.locator("#watch-list h2.title")).to_have_count(0)
    expect(page.locator("#list-count")).to_have_text("0 films to watch.")
    expect(page.locator("#watch-list .empty")).to_be_visible()

    page.goto(f"{base}/hidden")
    expect(page.locator("#hidden-list h2.title")).to_have_count(2)  # with the starter film
    expect(page.locator("#hidden-list h2.title").first).to_have_text(hidden_title)
    shoot(page, "hidden")
    page.get_by_role("button", name=re.compile("^Show again")).first.click()
    expect(page.locator("#hidden-list h2.title")).to_have_count(1)
    expect(page.locator("#list-count")).to_contain_text("1 film you will not be recommended.")
    page.goto(f"{base}/recommendations")
    expect(page.locator(".rec h2.title", has_text=hidden_title)).to_have_count(1)

    assert page.evaluate("window.__cspViolations") == []
    assert errors == []
    context.close()


def test_filters_order_and_the_catalogue_sort(live_app, browser):  # noqa: F811
    _, base = live_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_up(page, base, "mira")
    unlock(page)
    page.goto(f"{base}/recommendations")

    page.get_by_label("Genre").select_option("Comedy")
    page.get_by_label("From").fill("1980")
    page.get_by_label("To").fill("2005")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"genre=Comedy"))
    metas = page.locator(".rec .meta").all_inner_texts()
    years = [int(y) for y in re.findall(r"\((\d{4})\)", " ".join(rec_titles(page)))]
    assert metas and all("Comedy" in meta for meta in metas)
    assert years and all(1980 <= y <= 2005 for y in years)
    shoot(page, "recommendations-filtered")

    # The list shown is the page's state: the next card after a hide follows it, not the
    # filter form's unsubmitted change (Genre back to any, a wider range of years).
    page.goto(f"{base}/recommendations?year_min=1980")
    cards = page.locator(".rec")
    expect(cards).to_have_count(20)
    total = discover(page)
    page.get_by_label("Genre").select_option("")
    page.get_by_label("From").fill("1900")
    cards.first.get_by_role("button", name=re.compile("^Not interested")).click()
    expect(page.locator(".discover-count")).to_have_text(f"{total - 1} films to discover")
    expect(cards).to_have_count(20)
    years = [int(y) for y in re.findall(r"\((\d{4})\)", " ".join(rec_titles(page)))]
    assert len(years) == 20 and all(y >= 1980 for y in years)

    page.goto(f"{base}/recommendations")
    page.get_by_label("Sort").select_option("rating")
    page.get_by_role("button", name="Show").click()
    scores = [float(s) for s in page.locator(".rec .predicted").all_inner_texts()]
    assert len(scores) == 20 and scores == sorted(scores, reverse=True)
    shoot(page, "recommendations-by-rating")

    # A title leads to the film page, whose own list buttons toggle in place.
    title = page.locator(".rec h2 a").first
    name = title.inner_text()
    title.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    yours = page.locator(".film-yours")
    yours.get_by_role("button", name=re.compile("^Watch later")).click()
    expect(yours.get_by_role("button", name=re.compile("^Remove from watch list"))).to_be_visible()
    shoot(page, "film-page-from-recommendations")
    yours.get_by_role("button", name=re.compile("^Remove from watch list")).click()
    expect(yours.get_by_role("button", name=re.compile("^Watch later"))).to_be_visible()

    # A card's "Watch later" in the catalogue toggles in place.
    page.goto(f"{base}/?sort=predicted")
    first = page.locator(".movies .movie").first
    first.get_by_role("button", name=re.compile("^Watch later")).click()
    expect(first.get_by_role("button", name=re.compile("^Remove from watch list"))).to_be_visible()
    predicted = [float(v) for v in page.locator(".movies .predicted").all_inner_texts()]
    assert predicted == sorted(predicted, reverse=True) and len(predicted) >= 20
    shoot(page, "catalogue-by-prediction")
    page.close()
