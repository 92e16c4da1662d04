"""A visitor's journey through the waiting room, in a real browser against the real server and Redis.

Queue timing is made deterministic without sleeps: a slow window (``SLOW``) never slides during a test,
and fast-window tests first wait (through the JSON API) for a slide to happen, so they know the next one
is a whole interval away when their visitor joins.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_playwright import CreateContextCallback

from e2e.conftest import SLOW, RedisControl
from tests.support import AppProcess

pytestmark = pytest.mark.e2e

LONG = 15_000  # ms: waits that span a few slides of the window


def ticket_of(context: BrowserContext) -> str:
    """The visitor's ticket, read from the browser's (HttpOnly) cookie jar."""
    for cookie in context.cookies():
        if cookie.get("name") == "sq_ticket":
            return cookie.get("value", "")
    raise AssertionError("the browser holds no sq_ticket cookie")


def position_of(page: Page) -> int:
    return int(page.get_by_test_id("queue-position").inner_text())


def just_after_a_slide(app: AppProcess) -> None:
    """Return right after the window slides, with nobody left waiting: the next slide is a full interval away."""
    first, second = app.join_many(2)
    assert first["status"] == "active"
    app.wait_for_status(second["token"], "active")


@pytest.mark.app_env(**SLOW)
def test_visitor_is_placed_in_line_without_clicking(page: Page, app: AppProcess) -> None:
    app.join()  # someone is already in line, and admitted

    page.goto("/")

    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    expect(page.get_by_test_id("queue-ahead")).to_be_visible()
    expect(page.get_by_test_id("queue-eta")).to_be_visible()


@pytest.mark.app_env(**SLOW)
def test_status_region_is_a_polite_live_region(page: Page, app: AppProcess) -> None:
    app.join()
    page.goto("/")

    status = page.get_by_test_id("queue-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status.get_by_test_id("queue-position")).to_have_text("2")


@pytest.mark.app_env(WINDOW_INTERVAL="2")
def test_visitor_is_carried_into_checkout_when_their_turn_comes(page: Page, app: AppProcess) -> None:
    just_after_a_slide(app)

    page.goto("/")
    expect(page.get_by_test_id("queue-position")).to_have_text("3")

    expect(page.get_by_test_id("checkout")).to_be_visible(timeout=LONG)
    expect(page).to_have_url(app.url("/checkout"))


@pytest.mark.app_env(**SLOW)
def test_second_visitor_gets_the_next_position(page: Page, new_context: CreateContextCallback, app: AppProcess) -> None:
    app.join()
    page.goto("/")
    expect(page.get_by_test_id("queue-position")).to_have_text("2")

    other = new_context().new_page()
    other.goto("/")

    expect(other.get_by_test_id("queue-position")).to_have_text("3")


@pytest.mark.app_env(**SLOW)
def test_checkout_refuses_visitors_who_were_not_admitted(page: Page, app: AppProcess) -> None:
    app.join()

    page.goto("/checkout")  # a fresh browser, no ticket
    expect(page).to_have_url(app.url("/"))
    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    expect(page.get_by_test_id("checkout")).to_have_count(0)

    page.goto("/checkout")  # now holding a ticket that is still waiting
    expect(page).to_have_url(app.url("/"))
    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    expect(page.get_by_test_id("checkout")).to_have_count(0)


@pytest.mark.app_env(**SLOW)
def test_another_tab_and_a_reload_keep_the_same_place(page: Page, context: BrowserContext, app: AppProcess) -> None:
    app.join()
    page.goto("/")
    expect(page.get_by_test_id("queue-position")).to_have_text("2")

    tab = context.new_page()
    tab.goto("/")
    expect(tab.get_by_test_id("queue-position")).to_have_text("2")
    tab.reload()
    expect(tab.get_by_test_id("queue-position")).to_have_text("2")
    page.reload()
    expect(page.get_by_test_id("queue-position")).to_have_text("2")

    assert app.join()["position"] == 3  # neither the tab nor the reloads took another place


@pytest.mark.app_env(WINDOW_INTERVAL="2")
def test_works_without_javascript(new_context: CreateContextCallback, app: AppProcess) -> None:
    page = new_context(java_script_enabled=False).new_page()
    just_after_a_slide(app)

    page.goto("/")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.get_by_test_id("queue-position")).to_have_text("3")

    # Nothing is touched from here: the page refreshes itself until it is let in.
    expect(page.get_by_test_id("checkout")).to_be_visible(timeout=LONG)
    expect(page).to_have_url(app.url("/checkout"))


@pytest.mark.app_env(WINDOW_INTERVAL="0.5", ACTIVE_WINDOW_COUNT="1")
def test_missed_turn_shows_expired_and_rejoin_goes_to_the_back(
    new_context: CreateContextCallback, app: AppProcess
) -> None:
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    just_after_a_slide(app)
    app.join_many(3)  # positions 3-5: the visitor's turn is at least three slides away

    page.goto("/")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.get_by_test_id("queue-position")).to_have_text("6")
    page.goto("about:blank")  # the visitor closes the page and misses their turn
    ticket = ticket_of(context)
    app.join_many(2)  # people behind keep the window sliding past the visitor
    app.wait_for_status(ticket, "expired")

    page.goto("/")
    expect(page.get_by_test_id("queue-expired")).to_be_visible()
    app.join_many(4)  # more people joined meanwhile: the visitor's new turn is several slides away
    page.get_by_role("button", name="Rejoin the queue").click()

    expect(page.get_by_test_id("queue-position")).to_have_text(re.compile(r"^\s*\d+\s*$"))
    assert position_of(page) > 6 + 2 + 4
    assert ticket_of(context) != ticket


@pytest.mark.app_env(WINDOW_INTERVAL="0.5", ACTIVE_WINDOW_COUNT="1")
def test_access_pass_survives_the_window_sliding_past(page: Page, context: BrowserContext, app: AppProcess) -> None:
    page.goto("/")  # first in line: admitted at once
    expect(page.get_by_test_id("checkout")).to_be_visible()
    ticket = ticket_of(context)

    app.join_many(2)
    app.wait_for_status(ticket, "expired")
    page.reload()

    expect(page).to_have_url(app.url("/checkout"))
    expect(page.get_by_test_id("checkout")).to_be_visible()


@pytest.mark.app_env(**SLOW)
def test_buying_completes_with_an_order_confirmation(page: Page, app: AppProcess) -> None:
    page.goto("/")
    expect(page.get_by_test_id("checkout")).to_be_visible()

    page.get_by_role("combobox").select_option("2")
    page.get_by_role("button", name="Buy now").click()

    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page.get_by_test_id("order-confirmation")).to_contain_text("2 tickets")


@pytest.mark.app_env(WINDOW_INTERVAL="1")
def test_room_reconnects_after_redis_comes_back(page: Page, app: AppProcess, redis_server: RedisControl) -> None:
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    just_after_a_slide(app)
    app.join_many(3)  # the visitor's turn is at least three slides away

    page.goto("/")
    position = page.get_by_test_id("queue-position")
    status = page.get_by_test_id("queue-status")
    expect(position).to_have_text("6")

    redis_server.stop()
    try:
        expect(status).to_contain_text("Reconnecting", timeout=LONG)
        expect(position).to_have_text("6")
    finally:
        redis_server.start()

    expect(status).not_to_contain_text("Reconnecting", timeout=LONG)
    expect(position).to_have_text("6")
    expect(page.get_by_test_id("checkout")).to_be_visible(timeout=LONG)
    assert navigations == [app.url("/"), app.url("/checkout")]  # carried in by the page itself, never reloaded


@pytest.mark.app_env(**SLOW)
def test_unknown_page_is_a_404(page: Page, app: AppProcess) -> None:
    response = page.goto("/nope")

    assert response is not None
    assert response.status == 404
    expect(page.get_by_test_id("error-page")).to_be_visible()
