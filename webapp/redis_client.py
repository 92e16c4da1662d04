"""Build the Redis client from ``REDIS_URL``, with bounded timeouts on every call."""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

RedisClient: TypeAlias = Redis | RedisCluster


def connect(url: str, timeout: float) -> RedisClient:
    """A client whose calls fail within ``timeout`` seconds instead of hanging while Redis is away.

    No automatic retries: a join retried after a lost reply would take a second position. The caller
    answers 503 instead, and the loops (watcher, slider) retry on their own schedule.
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=30,
    )
