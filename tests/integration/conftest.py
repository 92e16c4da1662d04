"""Fixtures of the integration suite: an async client of the session's flushed Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from webapp.queue.keys import QueueKeys, queue_keys


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the flushed test database, closed after the test."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def keys() -> QueueKeys:
    return queue_keys("main")
