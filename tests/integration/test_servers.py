"""``SERVER``: ``python -m webapp`` under uvicorn (the default) or granian serves the same room, alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import AppProcess, app_process
from webapp.settings import Settings, SettingsError

SERVERS = ["uvicorn", "granian"]


def started(redis_url: str, tmp_path: Path, server: str, **env: str) -> AppProcess:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    return app_process(redis_url, tmp_path / f"{server}.log", SERVER=server, LOG_FORMAT="json", **env).start()


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_serves_the_api_the_browser_poll_and_its_log_alike(
    redis_url: str, tmp_path: Path, server: str
) -> None:
    app = started(redis_url, tmp_path, server, WINDOW_SIZE="1", WINDOW_INTERVAL="600")
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


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_believes_forwarded_for_only_from_trusted_proxies(
    redis_url: str, tmp_path: Path, server: str
) -> None:
    app = started(redis_url, tmp_path, server, JOIN_RATE_LIMIT="1", TRUSTED_PROXIES="127.0.0.1")
    try:

        def join_from(address: str) -> int:
            return httpx.post(app.url("/join"), headers={"X-Forwarded-For": address}, timeout=5).status_code

        assert join_from("203.0.113.1") == 201
        assert join_from("203.0.113.1") == 429
        assert join_from("203.0.113.2") == 201
    finally:
        app.stop()


def test_server_is_validated() -> None:
    base = {"REDIS_URL": "redis://127.0.0.1:1", "JWT_SECRET": "s" * 40}
    assert Settings.from_env(base).server == "uvicorn"
    assert Settings.from_env({**base, "SERVER": " Granian "}).server == "granian"
    with pytest.raises(SettingsError, match="SERVER"):
        Settings.from_env({**base, "SERVER": "gunicorn"})
