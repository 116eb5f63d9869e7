"""End to end, in Chromium: an administrator signs in (and lands on the admin page), imports the
MovieLens 100K zip from the browser, follows its progress to the end, finds it in the list of
import runs, then runs an evaluation with the button and sees the Evaluation box fill in.

Screenshots at 1280 and 390 px go to ``screenshots/`` (or ``$SCREENSHOTS_DIR``), named admin-*.
"""

from __future__ import annotations

import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from tests.web import test_e2e
from tests.web.test_e2e import PASSWORD, WIDTHS, expect
from tests.web.test_e2e_axe import violations

live_app = test_e2e.live_app
browser_type_launch_args = test_e2e.browser_type_launch_args
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or test_e2e.SCREENSHOTS)


def shoot(page: Any, name: str, problems: list[str]) -> None:
    """Screenshot the page at both widths, checking nothing overflows sideways and asking
    axe-core for serious or critical violations at each."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"admin-{name}-{width}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow}px wide in a {width}px window"
        problems.extend(f"{name} @{width}px: {line}" for line in violations(page))
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def ml100k_zip(folder: Path, target: Path) -> Path:
    """The ML-100K files (RecBole layout) zipped the way a download comes: one top folder."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"ml-100k/{path.name}")
    return target


def test_an_admin_imports_ml100k_from_the_browser_and_evaluates(
    live_app, browser, ml100k, tmp_path
):
    _, base = live_app
    archive = ml100k_zip(ml100k, tmp_path / "ml-100k.zip")
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/admin")  # An administrator lands on the admin page.
    expect(page.locator("#evaluation")).to_contain_text("No evaluation is stored yet")
    shoot(page, "dashboard-empty", problems)

    page.get_by_role("link", name="Import a dataset").click()
    page.get_by_label("Kind").select_option("movielens")
    page.get_by_label("File", exact=True).set_input_files(archive)
    shoot(page, "import-form", problems)
    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(rf"{base}/admin/jobs/\d+$"))

    # Follow the polled status to the end, noting what it said on the way.
    status = page.locator("#job-status")
    seen: list[str] = []
    deadline = time.monotonic() + 240
    shot_running = False
    while time.monotonic() < deadline:
        text = " ".join(status.inner_text().split())
        if not seen or seen[-1] != text:
            seen.append(text)
        if "Importing:" in text and not shot_running:
            shoot(page, "import-running", problems)
            shot_running = True
        if "Imported ml-100k.zip" in text or "Nothing was imported" in text:
            break
        time.sleep(0.2)
    expect(status).to_contain_text("Imported ml-100k.zip (recbole layout, dataset ml-100k)")
    assert len(seen) >= 2, seen  # A state before the end was shown: the request returned at once.
    assert any(s.startswith(("Waiting to start", "Reading", "Importing")) for s in seen), seen
    expect(status.locator("progress")).to_have_attribute("value", "100")
    expect(status).to_contain_text("ratings inserted")
    expect(status).to_contain_text("100,000")
    shoot(page, "import-done", problems)

    page.get_by_role("link", name="All import runs").click()
    row = page.locator(".runs-table tbody tr").first
    expect(row).to_contain_text("ml-100k.zip")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("root")
    expect(row).to_contain_text("ratings inserted 99,693")  # 18 films listed twice: merged
    expect(page.locator(".counts").first).to_contain_text("99,693")
    shoot(page, "runs", problems)

    box = page.locator("#evaluation")
    box.get_by_label("Folds").select_option("1")
    box.get_by_label("k values").fill("5,10")
    box.get_by_role("button", name="Run an evaluation").click()
    expect(box).to_contain_text("Evaluat")  # "waiting to start" or "Evaluating ..."
    expect(box.get_by_role("button", name="Run an evaluation")).to_have_count(0)
    expect(box).to_contain_text("Best k", timeout=300_000)
    expect(box).to_contain_text("RMSE")
    expect(box).to_contain_text("nDCG@10")
    expect(box).to_contain_text("99,693 ratings")
    expect(box.locator("figure.curve")).to_have_count(2)
    expect(box.get_by_role("button", name="Run an evaluation")).to_be_visible()
    shoot(page, "evaluation", problems)

    assert errors == []
    assert problems == [], "\n".join(problems)
