"""axe-core on every page at 1280 and 390 px: no serious or critical violation on our pages.

axe (tests/web/vendor/axe-core, test-only) is evaluated through the DevTools protocol, which
the Content-Security-Policy does not govern, so the pages run exactly as served. The API docs
page is Swagger UI's markup, not ours, and is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.web import test_e2e
from tests.web.test_e2e import PASSWORD, WIDTHS, expect, sign_up

live_app = test_e2e.live_app
browser_type_launch_args = test_e2e.browser_type_launch_args

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
FAILING_IMPACTS = ("serious", "critical")


def violations(page: Any) -> list[str]:
    """The serious and critical axe violations of the page, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in found
        if v["impact"] in FAILING_IMPACTS
    ]


def audit(page: Any, url: str, problems: list[str]) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems.extend(f"{url} @{width}px: {line}" for line in violations(page))
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_axe_finds_no_serious_violation_on_any_page(live_app, browser):
    _, base = live_app
    problems: list[str] = []
    anonymous = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    for path in ("/", "/login", "/signup", "/movies/1", "/no/such/page", "/?page=1&q=Golden"):
        audit(anonymous, base + path, problems)
    # A sign-up with errors: the fields marked invalid must still pass.
    anonymous.goto(f"{base}/signup")
    anonymous.locator("input[name=username]").fill("erin")
    anonymous.locator("input[name=password]").fill(PASSWORD)
    anonymous.locator("input[name=password_again]").fill("something else")
    anonymous.get_by_role("button", name="Sign up").click()
    expect(anonymous.locator("#password_again-error")).to_be_visible()
    problems.extend(f"/signup with errors: {line}" for line in violations(anonymous))
    anonymous.context.close()

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_up(page, base, "frank")
    audit(page, f"{base}/welcome", problems)
    widgets = page.locator(".movies .rating-widget")
    for i in range(4):  # k = 3: four ratings unlock the predictions
        widgets.nth(i).locator("label[title='4 stars']").click()
        expect(widgets.nth(i).locator(".message")).to_have_text("Saved: 4 stars.")
    problems.extend(f"/welcome unlocked: {line}" for line in violations(page))
    for path in (
        "/",
        "/ratings",
        "/recommendations",
        "/movies/2",
        "/account",
        "/watchlist",
        "/hidden",
    ):
        audit(page, base + path, problems)
    page.context.close()

    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin.goto(f"{base}/login")
    admin.get_by_label("Username").fill("root")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Sign in").click()
    for path in ("/admin", "/admin/import", "/admin/nothing-here"):
        audit(admin, base + path, problems)
    admin.context.close()
    assert problems == []
