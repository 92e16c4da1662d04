"""Helpers of the integration suite: stores on a client, Redis' clock, polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from webapp.queue.keys import queue_keys
from webapp.queue.store import QueueStore
from webapp.redis_client import RedisClient


def make_store(client: RedisClient, window_size: int = 10, interval: float = 30.0) -> QueueStore:
    return QueueStore(client, queue_keys("main"), window_size, interval)


async def redis_now_ms(client: Redis) -> int:
    """Redis' own clock in milliseconds, the one every script judges time by."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def hget_int(client: Redis, key: str, field: str) -> int | None:
    raw = await client.hget(key, field)
    return None if raw is None else int(raw)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], within: float, every: float = 0.01, what: str = "condition"
) -> float:
    """Poll ``condition`` until it holds; return the seconds it took, fail after ``within`` seconds."""
    start = time.monotonic()
    deadline = start + within
    while True:
        if await condition():
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        await asyncio.sleep(every)
