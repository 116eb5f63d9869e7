"""The "why" panel in a real browser: the headline names the rated films with links, Esc closes
it, "Why?" opens it again as it was left (slider value, open details), the labels of its
picture do not overlap, and axe-core finds nothing serious, at 1280 and 390 px.

Screenshots go to /tmp/why-shots/ (WHY_SHOTS overrides) to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.web import test_e2e
from tests.web.test_e2e import WIDTHS, expect, settled, sign_up
from tests.web.test_e2e_axe import violations

live_app = test_e2e.live_app
browser_type_launch_args = test_e2e.browser_type_launch_args

SHOTS = Path(os.environ.get("WHY_SHOTS", "/tmp/why-shots"))

# Every pair of label boxes of the rings picture that overlap (none should).
OVERLAPS = """panel => {
  const boxes = [...panel.querySelectorAll('.why-rings .ring-label')].map(t => t.getBBox());
  const hits = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b, j) => {
    if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)
      hits.push([i, i + 1 + j]);
  }));
  return hits;
}"""


def shoot(page: Any, panel: Any, name: str) -> None:
    """The panel (and the page) at each width; nothing may overflow sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=SHOTS / f"{name}-{width}.png")
        page.screenshot(path=SHOTS / f"{name}-page-{width}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow}px wide in a {width}px window"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_why_reads_in_words_closes_with_esc_and_keeps_its_state(live_app, browser):
    _, base = live_app
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up(page, base, "wendy")
    widgets = page.locator(".movies .rating-widget")
    for i, stars in enumerate(("5", "4.5", "1.5", "4", "2", "3.5", "5", "3", "4", "2.5")):
        widgets.nth(i).locator(f"label[title='{stars} stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text(f"Saved: {stars} stars.")

    page.goto(f"{base}/recommendations")
    card = page.locator(".rec").first
    why = card.get_by_role("link", name="Why?")
    expect(why).to_have_attribute("aria-expanded", "false")
    why.click()
    panel = card.locator(".why")
    expect(panel).to_be_visible()
    settled(card.locator(".why-slot"))
    expect(panel).to_be_focused()
    expect(why).to_have_attribute("aria-expanded", "true")

    headline = panel.locator(".why-headline")
    expect(headline).to_contain_text("Because you rated")
    links = headline.locator("a.film-link")
    expect(links).to_have_count(3)  # k = 3: the three films counted
    href = links.first.get_attribute("href")
    assert href and href.startswith("/movies/")
    expect(panel.locator(".why-shares li")).to_have_count(3)
    # Raw distances only under "Details", closed at first.
    expect(panel.locator("table.neighbours")).to_be_hidden()
    assert page.evaluate(OVERLAPS, panel.element_handle()) == []
    shoot(page, panel, "why-k3")

    # Explore: all ten films counted (the eight nearest named, two small dots); Details open.
    panel.locator(".why-explore summary").click()
    slider = panel.locator("input[type=range]")
    slider.fill("10")
    expect(panel.locator(".why-k")).to_have_text("10")
    expect(panel.locator(".why-rings .ring-label")).to_have_count(8)
    expect(panel.locator(".why-rings .dot")).to_have_count(10)
    expect(panel.locator(".why-shares li")).to_have_count(5)
    panel.locator(".why-details summary").click()
    expect(panel.locator("table.neighbours tbody tr")).to_have_count(10)
    assert page.evaluate(OVERLAPS, panel.element_handle()) == []
    shoot(page, panel, "why-k10-details")
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems.extend(f"@{width}px: {line}" for line in violations(page))
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    assert problems == []

    # Esc closes it and gives the focus back to "Why?"; the slider's body swap kept Details open.
    slider.focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(why).to_be_focused()
    expect(why).to_have_attribute("aria-expanded", "false")
    # Enter on "Why?" opens it again as it was: no new request resets it.
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    expect(slider).to_have_value("10")
    expect(panel.locator(".why-k")).to_have_text("10")
    expect(panel.locator("table.neighbours")).to_be_visible()
    # The close button does the same.
    panel.get_by_role("button", name="Close the explanation").click()
    expect(panel).to_be_hidden()
    why.click()
    expect(slider).to_have_value("10")
    # A rating changed on the page makes a closed panel stale: "Why?" then loads it afresh.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    other = page.locator(".rec").nth(1).locator(".rating-widget")
    other.locator("label[title='4 stars']").click()
    expect(other.locator(".message")).to_have_text("Saved: 4 stars.")
    expect(card.locator(".why")).to_have_count(0)
    why.click()
    expect(panel).to_be_visible()
    expect(slider).to_have_value("3")
    expect(slider).to_have_attribute("max", "11")
    # A title in the headline leads to the film's page.
    why_url = why.get_attribute("href")
    href = headline.locator("a.film-link").first.get_attribute("href")
    headline.locator("a.film-link").first.click()
    expect(page).to_have_url(f"{base}{href}")
    # The explanation's own page (what "Why?" links to without JavaScript): no close button.
    page.goto(f"{base}{why_url}")
    expect(page.locator(".why-headline")).to_contain_text("Because you rated")
    expect(page.locator(".why-close")).to_have_count(0)
    shoot(page, page.locator("main"), "why-own-page")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems.extend(f"own page @{width}px: {line}" for line in violations(page))
    assert problems == []
    assert errors == []
