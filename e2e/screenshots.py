"""Write docs/screenshots/waiting-room.png, checkout.png and console.png (1280x800, light) from the real app.

Run it through ``scripts/screenshots [output-dir]``. It starts its own Redis and ``python -m webapp`` (through
the test-support launchers the e2e suite uses), and sets the queue's two integers directly so the pictures show a believable crowd
without joining a thousand times.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import redis
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from tests.support import ROOT, AppProcess, RedisServer, app_process
from tests.support.browser import launch_args
from webapp.queue.keys import queue_keys

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ENV = {
    "WINDOW_SIZE": "50",
    "WINDOW_INTERVAL": "30",
    "ACTIVE_WINDOW_COUNT": "2",
    "SESSION_DURATION": "600",
    "EVENT_NAME": "Aurora Live — Summer Tour",
    "ADMIN_TOKEN": "screenshots-admin-token-not-a-secret-0123456789",
}
AHEAD_OF_VISITOR = 1283  # people who joined before our visitor
WINDOW_END_AT_JOIN = 610


def set_window(client: redis.Redis, window_end: int, last_position: int | None = None) -> None:
    """Put the queue where the picture needs it; the next slide is a full interval away."""
    keys = queue_keys("main")
    if last_position is not None:
        client.set(keys.counter, last_position)
    next_due = int(time.time() * 1000) + int(float(ENV["WINDOW_INTERVAL"]) * 1000)
    client.hset(keys.window, mapping={"window_end": window_end, "next_due": next_due})


def fill_history(client: redis.Redis) -> None:
    """An hour of a sale in the console's per-minute statistics: the crowd builds up, then drains at the pace."""
    minute = int(time.time()) // 60
    fields: dict[str, int] = {}
    for ago in range(60, 0, -1):
        elapsed = 60 - ago
        fields[f"w:{minute - ago}"] = 45 * elapsed if elapsed < 20 else max(0, 900 - 14 * (elapsed - 20))
        fields[f"a:{minute - ago}"] = 0 if elapsed < 3 else 80 + (elapsed * 37) % 25
    client.hset(queue_keys("main").minutes, mapping=fields)  # type: ignore[arg-type]


def shoot(page: Page, path: Path) -> None:
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sq-screenshots-") as scratch:
        store = RedisServer(directory=Path(scratch) / "redis").start()
        app: AppProcess | None = None
        try:
            with redis.Redis.from_url(store.url) as client:
                set_window(client, WINDOW_END_AT_JOIN, AHEAD_OF_VISITOR)
                app = app_process(store.url, Path(scratch) / "app.log", **ENV).start()
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(**launch_args())
                    context = browser.new_context(
                        base_url=app.base_url, viewport=VIEWPORT, color_scheme="light", device_scale_factor=1
                    )
                    page = context.new_page()
                    page.goto("/")
                    expect(page.get_by_test_id("queue-position")).to_have_text(str(AHEAD_OF_VISITOR + 1))
                    # The line has moved on a little since the visitor joined: the progress bar shows it.
                    ticket = next(c.get("value", "") for c in context.cookies() if c.get("name") == "sq_ticket")
                    set_window(client, WINDOW_END_AT_JOIN + 4 * 50)
                    app.wait_for_window(ticket, WINDOW_END_AT_JOIN + 4 * 50)
                    page.reload()
                    expect(page.get_by_test_id("queue-ahead")).to_have_text(
                        str(AHEAD_OF_VISITOR + 1 - (WINDOW_END_AT_JOIN + 200) - 1)
                    )
                    shoot(page, out / "waiting-room.png")

                    set_window(client, AHEAD_OF_VISITOR + 20)
                    app.wait_for_status(ticket, "active")
                    page.goto("/checkout")
                    expect(page.get_by_test_id("checkout")).to_be_visible()
                    shoot(page, out / "checkout.png")

                    fill_history(client)
                    page.goto("/admin")
                    page.get_by_label("Admin token").fill(ENV["ADMIN_TOKEN"])
                    page.get_by_role("button", name="Log in").click()
                    expect(page.get_by_test_id("admin-panel")).to_be_visible()
                    shoot(page, out / "console.png")
                    context.close()
                    browser.close()
        finally:
            if app is not None:
                app.stop()
            store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
