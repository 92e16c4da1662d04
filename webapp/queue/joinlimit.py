"""The join rate limit per client address, shared by all replicas through Redis.

Counting is done by the ``limits`` library (a sliding-window counter, atomic in Redis); only joins
that would take a *new* position count, so reloads and extra tabs of a visitor who already holds a
ticket are free. The waiting room holds the limit (``WaitingRoom.join``): over it, the room raises
:class:`JoinLimited`, a domain error the web layer maps to 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from webapp.queue.keys import QueueKeys
from webapp.redis_client import RedisClient, parse_cluster_url


class JoinLimited(Exception):
    """This client has asked for too many new places; it may try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many new places requested from this address; retry in {retry_after} s")
        self.retry_after = retry_after


def _storage(redis: RedisClient, redis_url: str, prefix: str, timeout: float) -> Storage:
    if isinstance(redis, RedisCluster):
        # limits builds its own cluster client: give it the same nodes, TLS, credentials, timeouts and
        # no re-sends (a re-sent hit after a timeout would count twice).
        target = parse_cluster_url(redis_url)
        hosts = ",".join(f"{host}:{port}" for host, port in target.nodes)
        options: dict[str, Any] = {
            "ssl": target.ssl,
            "username": target.username,
            "password": target.password,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), retries=0),
        }
        return RedisClusterStorage(
            f"async+redis+cluster://{hosts}", implementation="redispy", key_prefix=prefix, **options
        )
    # Share the app's connection pool (its timeouts, no retries) instead of opening another.
    shared: dict[str, Any] = {"connection_pool": redis.connection_pool}
    return RedisStorage("async+redis://", implementation="redispy", key_prefix=prefix, **shared)


class JoinRateLimit:
    def __init__(
        self, redis: RedisClient, redis_url: str, keys: QueueKeys, per_minute: int, timeout: float = 1.0
    ) -> None:
        self.item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self.storage = _storage(redis, redis_url, keys.rate_prefix, timeout)
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.owns_client = isinstance(redis, RedisCluster)

    async def aclose(self) -> None:
        """Close the cluster client limits built for itself (it offers no close of its own)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if self.owns_client and client is not None:
            await client.aclose()

    async def hit(self, client: str) -> None:
        """Count one new position for ``client``; :class:`JoinLimited` when over the limit."""
        if self.item is None:
            return
        if await self.limiter.hit(self.item, client):
            return
        stats = await self.limiter.get_window_stats(self.item, client)
        raise JoinLimited(max(1, math.ceil(stats.reset_time - time.time())))
