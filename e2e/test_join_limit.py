"""A rate-limited visitor is told what happened and when, and the page joins by itself afterwards
(issue 15, item 4). The browser's clock is driven by the test, so "retry in N s" costs no real wait."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Page, expect

from e2e.conftest import SLOW
from tests.support import AppProcess
from webapp.queue.keys import queue_keys

pytestmark = pytest.mark.e2e


@pytest.mark.app_env(**SLOW, JOIN_RATE_LIMIT="1")
def test_a_limited_join_explains_itself_and_retries(page: Page, app: AppProcess) -> None:
    app.join()  # this address's one new place this minute (the browser shares it: 127.0.0.1)
    page.clock.install()

    page.goto("/")

    limited = page.get_by_test_id("queue-limited")
    expect(limited).to_be_visible()
    expect(limited).to_contain_text("tries again by itself")
    expect(page.get_by_text("Taking your place in line")).to_have_count(0)
    retry = int(page.get_by_test_id("retry-after").inner_text())
    assert 1 <= retry <= 60

    # The minute passes (for the limiter: its counters go; for the page: its timer fires).
    with redis.Redis.from_url(app.env["REDIS_URL"]) as raw:
        for key in raw.scan_iter(match=queue_keys("main").rate_prefix + "*"):
            raw.delete(key)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/room/join")):
        page.clock.run_for(retry * 1000 + 500)

    expect(page.get_by_test_id("queue-position")).to_have_text("2")
