"""Queue stores on a test's Redis client, and small readers of what the scripts wrote."""

from __future__ import annotations

from redis.asyncio import Redis

from webapp.queue.keys import queue_keys
from webapp.queue.store import QueueStore
from webapp.redis_client import RedisClient


def make_store(client: RedisClient, window_size: int = 10, interval: float = 30.0) -> QueueStore:
    """The store of queue ``main`` with a window of ``window_size`` sliding every ``interval`` seconds."""
    return QueueStore(client, queue_keys("main"), window_size, interval)


async def hget_int(client: Redis, key: str, field: str) -> int | None:
    raw = await client.hget(key, field)
    return None if raw is None else int(raw)
