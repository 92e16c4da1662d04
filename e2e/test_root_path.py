"""The room under ``ROOT_PATH=/queue`` in a real browser: a visitor asked to come back to a page waits in
line and is carried there, on the room's own site and (with the ``sq_pass`` hand-off) to another one.

The operator pauses admission before the visitor arrives and resumes it once the visitor is seen waiting,
so the visitor's turn cannot come early, whatever the machine's load; the fast window then lets them in.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.support import AppProcess, free_port

pytestmark = pytest.mark.e2e

PREFIX = "/queue"
ADMIN = "admin-token-" + "e" * 40
SHOP_PORT = free_port()
SHOP = f"http://127.0.0.1:{SHOP_PORT}"
LONG = 15_000  # ms: a slide of the window and a poll
ROOM_ENV = {
    "WINDOW_INTERVAL": "2",
    "ROOT_PATH": PREFIX,
    "ADMIN_TOKEN": ADMIN,
    "RETURN_ORIGINS": SHOP,
    "SNAPSHOT_REFRESH": "0.05",
}


def call(app: AppProcess, method: str, path: str, token: str | None = None) -> dict[str, Any]:
    """The room's JSON API under its prefix, as an API client or the operator would call it."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(app.url(PREFIX + path), method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own loopback URL
        body: dict[str, Any] = json.load(response)
        return body


def cookie(context: BrowserContext, name: str) -> dict[str, Any]:
    for found in context.cookies():
        if found.get("name") == name:
            return dict(found)
    raise AssertionError(f"the browser holds no {name} cookie")


@pytest.mark.app_env(**ROOM_ENV)
def test_a_visitor_waits_under_the_prefix_and_is_carried_to_the_page_asked_for(
    page: Page, context: BrowserContext, app: AppProcess
) -> None:
    call(app, "POST", "/join")  # someone is already in line, and admitted
    call(app, "POST", "/admin/api/pause", ADMIN)
    target = PREFIX + "/checkout?from=e2e"

    page.goto(f"{PREFIX}/?return_to={quote(target, safe='')}")

    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    expect(page.get_by_test_id("queue-paused")).to_be_visible()
    assert cookie(context, "sq_ticket")["path"] == PREFIX + "/"
    stylesheet = page.locator("link[rel=stylesheet]").first
    expect(stylesheet).to_have_attribute("href", PREFIX + "/static/css/room.css")
    assert page.evaluate("() => typeof window.htmx") == "object"  # the vendor path works under the prefix

    call(app, "POST", "/admin/api/resume", ADMIN)

    expect(page.get_by_test_id("checkout")).to_be_visible(timeout=LONG)
    expect(page).to_have_url(app.url(target))
    assert cookie(context, "sq_pass")["path"] == "/"


@pytest.mark.app_env(**ROOM_ENV)
def test_a_visitor_is_handed_to_another_site_with_a_one_time_pass(page: Page, app: AppProcess) -> None:
    seen: list[str] = []

    def shop(route: Route) -> None:
        """The other site, in place of a real shop: it shows the sale and the URL it was given."""
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body='<main data-testid="sale">The sale is on</main>')

    page.route(f"{SHOP}/**", shop)
    call(app, "POST", "/join")
    call(app, "POST", "/admin/api/pause", ADMIN)
    room = f"http://localhost:{app.port}{PREFIX}/"  # the room on another host name than the shop's
    page.goto(f"{room}?return_to={quote(SHOP + '/item?id=7', safe='')}")
    expect(page.get_by_test_id("queue-position")).to_have_text("2")

    call(app, "POST", "/admin/api/resume", ADMIN)

    expect(page.get_by_test_id("sale")).to_be_visible(timeout=LONG)
    expect(page).to_have_url(re.compile(re.escape(SHOP + "/item?id=7&sq_pass=") + r"[\w.-]+$"))
    handed = parse_qs(urlsplit(seen[-1]).query)["sq_pass"][0]
    assert handed == cookie(page.context, "sq_pass")["value"]  # the pass the room set for itself, handed on


@pytest.mark.app_env(**ROOM_ENV)
def test_a_foreign_return_to_leads_to_the_rooms_own_checkout(page: Page, app: AppProcess) -> None:
    page.goto(f"{PREFIX}/?return_to={quote('https://evil.example/', safe='')}")

    expect(page.get_by_test_id("checkout")).to_be_visible()
    expect(page).to_have_url(app.url(PREFIX + "/checkout"))
