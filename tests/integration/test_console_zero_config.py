"""A zero-config run (no Redis, no tokens configured) logs how to reach the console, once, with a token that works."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import AppProcess


def queue_status(server: AppProcess, token: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        server.url("/admin/api/queue"), headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            json.load(response)
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_log_shows_the_console_and_its_token(tmp_path: Path) -> None:
    server = AppProcess({"WEB_CONCURRENCY": "2", "JOIN_RATE_LIMIT": "0"}, tmp_path / "app.log", new_session=True)
    server.start()
    try:
        log = server.log()
        found = re.findall(rf"the operator console is on http://localhost:{server.port}/admin — log in with (\S+)", log)
        assert len(found) == 1, log[-2000:]  # logged once, by the entry point, not by every worker
        token = found[0]
        assert len(token.encode()) >= 32
        # Every request may reach either worker: both were given the same token.
        assert {queue_status(server, token) for _ in range(8)} == {200}
        assert queue_status(server, "x" * 43) == 401
    finally:
        server.stop()
