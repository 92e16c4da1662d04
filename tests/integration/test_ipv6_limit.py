"""Behind a trusted proxy, IPv6 visitors share a join budget per /64, not per address."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from tests.support import AppProcess, app_process


def join_from(server: AppProcess, forwarded_for: str) -> int:
    return httpx.post(server.url("/join"), headers={"X-Forwarded-For": forwarded_for}, timeout=5).status_code


def test_an_ipv6_64_is_one_client(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    server = app_process(redis_url, tmp_path / "app.log", JOIN_RATE_LIMIT="1", TRUSTED_PROXIES="127.0.0.1")
    server.start()
    try:
        assert join_from(server, "2001:db8:1:2::1") == 201
        assert join_from(server, "2001:db8:1:2::2") == 429  # a fresh address of the same /64
        assert join_from(server, "2001:db8:1:2:8000::1") == 429
        assert join_from(server, "2001:db8:1:3::1") == 201  # the next /64 is someone else
    finally:
        server.stop()
