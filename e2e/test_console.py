"""The operator's sale day in a real browser: log in, watch a crowd arrive, pause, resume, re-pace, export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import AppProcess

pytestmark = pytest.mark.e2e

ADMIN = "e2e-admin-token-" + "c" * 32
LIVE = 10_000  # ms: the console refreshes every 2 s, the window slides every second


@pytest.mark.app_env(ADMIN_TOKEN=ADMIN, WINDOW_SIZE="1", WINDOW_INTERVAL="1", ACTIVE_WINDOW_COUNT="30")
def test_the_operators_walk_through(page: Page, browser: Browser, app: AppProcess, tmp_path: Path) -> None:
    page.goto("/admin")
    page.get_by_label("Admin token").fill("not the token at all, but long enough to try")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("admin-login-error")).to_be_visible()
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("admin-panel")).to_be_visible()
    expect(page.get_by_test_id("admin-state")).to_have_text("Admitting")

    # A scripted crowd joins; the numbers and the chart follow without a reload.
    app.join_many(8)
    expect(page.get_by_test_id("admin-last")).to_have_text("8", timeout=LIVE)
    expect(page.get_by_test_id("admin-waiting-chart").locator("polyline")).to_have_count(1, timeout=LIVE)

    page.get_by_test_id("admin-pause").click()
    expect(page.get_by_test_id("admin-state")).to_have_text("Admission is paused")
    expect(page.get_by_text("Visitors already admitted keep their passes").first).to_be_visible()
    held_at = page.get_by_test_id("admin-window-end").inner_text()

    # A visitor arriving now keeps a place and is told admission is paused; nobody moves.
    visitor_context = browser.new_context(base_url=app.base_url)
    visitor = visitor_context.new_page()
    visitor.goto("/")
    expect(visitor.get_by_test_id("queue-paused")).to_be_visible(timeout=LIVE)
    expect(visitor.get_by_test_id("queue-position")).to_have_text("9")
    expect(visitor.get_by_test_id("queue-eta")).to_have_text("none while paused")
    page.wait_for_timeout(2500)  # longer than two slide intervals: the claim is that nothing moves
    expect(page.get_by_test_id("admin-window-end")).to_have_text(held_at)
    expect(visitor.get_by_test_id("queue-paused")).to_be_visible()

    # The operator's message reaches the visitor, escaped.
    page.get_by_test_id("admin-message-text").fill("<b>Back</b> in a moment")
    with page.expect_response(lambda response: "/admin/panel" in response.url, timeout=LIVE):
        pass  # the live panel refreshes while the operator types ...
    expect(page.get_by_test_id("admin-message-text")).to_have_value("<b>Back</b> in a moment")  # ... and keeps it
    page.get_by_test_id("admin-message-save").click()
    expect(page.get_by_test_id("admin-message")).to_have_text("<b>Back</b> in a moment")
    expect(visitor.get_by_test_id("queue-message")).to_contain_text("<b>Back</b> in a moment", timeout=LIVE)

    # A faster pace, then resume: the visitor is let in and the admissions chart shows it.
    page.get_by_test_id("admin-pace-size").fill("5")
    page.get_by_test_id("admin-pace-save").click()
    expect(page.get_by_test_id("admin-state")).to_have_text("Admission is paused")
    page.get_by_test_id("admin-resume").click()
    expect(page.get_by_test_id("admin-state")).to_have_text("Admitting")
    expect(page.get_by_text(re.compile(r"5 places every second"))).to_be_visible()
    expect(visitor.get_by_test_id("checkout")).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("admin-admitted-chart").locator("rect")).not_to_have_count(0, timeout=LIVE)
    visitor_context.close()

    # The event log, exported for the post-sale report.
    with page.expect_download() as download:
        page.get_by_test_id("admin-csv").click()
    report = Path(download.value.path()).read_text()
    kinds = [line.split(",")[2] for line in report.splitlines()[1:]]
    for kind in ("login", "pause", "message", "pace", "resume", "slid"):
        assert kind in kinds


@pytest.mark.app_env(ADMIN_TOKEN=ADMIN, WINDOW_INTERVAL="60")
def test_the_console_fits_a_phone(browser: Browser, app: AppProcess) -> None:
    phone = browser.new_context(base_url=app.base_url, viewport={"width": 375, "height": 740}, is_mobile=True)
    page = phone.new_page()
    page.goto("/admin")
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("admin-pause")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the console is {overflow} px wider than the phone"
    box = page.get_by_test_id("admin-pause").bounding_box()
    assert box is not None
    assert box["height"] >= 32  # a tappable button
    phone.close()
