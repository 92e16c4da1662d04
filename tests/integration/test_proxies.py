"""The join rate limit counts the client address; X-Forwarded-For is believed only from TRUSTED_PROXIES."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from tests.support import AppProcess, app_process


def join_from(server: AppProcess, forwarded_for: str) -> int:
    headers = {"X-Forwarded-For": forwarded_for}
    return httpx.post(server.url("/join"), headers=headers, timeout=5).status_code


def test_forwarded_addresses_count_separately_behind_a_trusted_proxy(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    server = app_process(redis_url, tmp_path / "app.log", JOIN_RATE_LIMIT="1", TRUSTED_PROXIES="127.0.0.1")
    server.start()
    try:
        assert join_from(server, "203.0.113.1") == 201
        assert join_from(server, "203.0.113.1") == 429
        assert join_from(server, "203.0.113.2") == 201
    finally:
        server.stop()


def test_forwarded_for_is_ignored_from_anyone_else(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    server = app_process(redis_url, tmp_path / "app.log", JOIN_RATE_LIMIT="1")
    server.start()
    try:
        assert join_from(server, "203.0.113.1") == 201
        assert join_from(server, "203.0.113.2") == 429  # a client cannot pick a fresh address per request
    finally:
        server.stop()
