"""``python -m webapp`` as shipped: the lane and the framework behind uvicorn, the app's own access lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import redis

from tests.support import app_process


def test_the_api_the_browser_poll_and_the_access_lines_of_the_shipped_entry_point(
    redis_url: str, tmp_path: Path
) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    app = app_process(redis_url, tmp_path / "app.log", LOG_FORMAT="json", WINDOW_SIZE="1", WINDOW_INTERVAL="600")
    app.start()
    try:
        with httpx.Client(base_url=app.base_url, timeout=5) as client:
            client.post("/join")  # position 1 is active; ours waits
            page = client.get("/", headers={"Accept": "text/html"})
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            joined = client.post("/room/join", data={"_csrf_token": csrf.group(1)}, headers={"HX-Request": "true"})
            assert joined.status_code == 200
            token = client.cookies["sq_ticket"]
            answers = [client.get("/status", headers={"Authorization": f"Bearer {token}"}) for _ in range(3)]
            assert {a.status_code for a in answers} == {200}
            assert {a.json()["position"] for a in answers} == {2}
            fragments = [client.get("/room/status", headers={"HX-Request": "true"}) for _ in range(3)]
            assert {f.status_code for f in fragments} == {200}
            assert all('data-testid="queue-position">2<' in f.text for f in fragments)
            assert fragments[-1].headers["vary"] == "Cookie"
            assert client.get("/status").status_code == 401
    finally:
        assert app.stop() == 0  # SIGTERM: a graceful stop
    lines = [json.loads(line) for line in app.log().splitlines() if line.startswith("{")]
    access = [e["message"] for e in lines if e["logger"] == "uvicorn.access"]
    assert any('"POST /join HTTP/1.1" 201' in line for line in access)
    assert any('"GET /status HTTP/1.1" 401' in line for line in access)
    assert not any('"GET /status HTTP/1.1" 200' in line for line in access)  # quiet: no line per poll
