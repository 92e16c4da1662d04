"""A scheduled sale in real browsers: two visitors wait in the pre-queue with a live countdown, the draw
orders them at opening, they are admitted in that order, and the verifier CLI reproduces both places."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import StartApp
from tests.support import ROOT, wait_until_sync

pytestmark = pytest.mark.e2e

OPENS_IN = 15.0  # seconds after the app starts: long enough for two browsers on a loaded machine to arrive first
INTERVAL = 3  # seconds between slides: the second drawn place comes in one interval after the first


def draw_of(base_url: str) -> dict[str, object]:
    with urllib.request.urlopen(base_url + "/draw", timeout=5) as response:  # noqa: S310 - our own loopback URL
        body: dict[str, object] = json.load(response)
        return body


@pytest.mark.timeout(90)
def test_two_browsers_are_drawn_admitted_in_order_and_verified(browser: Browser, start_app: StartApp) -> None:
    opens = datetime.fromtimestamp(time.time() + OPENS_IN, tz=UTC).isoformat(timespec="milliseconds")
    app = start_app(SALE_OPENS_AT=opens, WINDOW_SIZE="1", WINDOW_INTERVAL=str(INTERVAL), ACTIVE_WINDOW_COUNT="2")
    contexts = [browser.new_context(base_url=app.base_url) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        arrivals: list[int] = []
        for page in pages:
            page.goto("/")
            expect(page.get_by_test_id("queue-prequeue")).to_be_visible()
            expect(page.get_by_test_id("queue-fairness")).to_contain_text("changes nothing")
            arrivals.append(int(page.get_by_test_id("queue-arrival").inner_text()))
        assert sorted(arrivals) == [1, 2]
        commitment = str(draw_of(app.base_url)["commitment"])
        for page in pages:
            expect(page.get_by_test_id("draw-commitment")).to_have_text(commitment)
            countdown = page.get_by_test_id("queue-countdown")
            shown = countdown.inner_text()
            expect(countdown).not_to_have_text(shown, timeout=3_000)  # it counts down live

        revealed: dict[str, object] = {}

        def made() -> bool:
            revealed.update(draw_of(app.base_url))
            return revealed["seed"] is not None

        wait_until_sync(made, OPENS_IN + 15, what="the draw at opening")
        assert revealed["size"] == 2
        positions = [_verified_position(str(revealed["seed"]), arrival, commitment) for arrival in arrivals]
        assert sorted(positions) == [1, 2]
        first, second = (pages[positions.index(1)], pages[positions.index(2)])

        expect(first).to_have_url(re.compile(r"/checkout$"), timeout=10_000)
        expect(first.get_by_test_id("checkout")).to_be_visible()
        # The second drawn place is still waiting, next in line, while the first is in the sale.
        assert not second.url.endswith("/checkout")
        expect(second.get_by_test_id("queue-position")).to_have_text("2", timeout=5_000)
        expect(second).to_have_url(re.compile(r"/checkout$"), timeout=(INTERVAL + 10) * 1000)
    finally:
        for context in contexts:
            context.close()


def _verified_position(seed: str, arrival: int, commitment: str) -> int:
    """The position ``python -m webapp.draw verify`` gives, checking the commitment on the way."""
    command = [sys.executable, "-m", "webapp.draw", "verify", "--seed", seed, "--size", "2"]
    done = subprocess.run(
        [*command, "--index", str(arrival), "--commitment", commitment],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "commitment matches" in done.stdout
    found = re.search(r"-> position (\d+)", done.stdout)
    assert found, done.stdout
    return int(found.group(1))
