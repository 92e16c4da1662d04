"""The leader lease: one replica at a time holds a Redis key with a TTL and slides the window.

Acquire is ``SET NX PX`` with a random instance id; renew and release compare the holder inside Lua,
so a replica whose lease lapsed (paused, partitioned) cannot extend or delete a successor's lease.
"""

from __future__ import annotations

import secrets
import socket

from redis.commands.core import AsyncScript

from webapp.queue.store import load_script
from webapp.redis_client import RedisClient


def new_instance_id() -> str:
    """A lease holder name: readable in logs, unique across restarts."""
    return f"{socket.gethostname()}:{secrets.token_hex(6)}"


class Lease:
    """One replica's claim on the leader key."""

    def __init__(self, redis: RedisClient, key: str, instance_id: str, ttl: float) -> None:
        self.key = key
        self.instance_id = instance_id
        self.ttl_ms = max(1, round(ttl * 1000))
        self._acquire: AsyncScript = redis.register_script(load_script("lease_acquire"))
        self._release: AsyncScript = redis.register_script(load_script("lease_release"))

    async def acquire(self) -> bool:
        """Take the lease if free, renew it if ours; true while we lead."""
        return bool(await self._acquire(keys=[self.key], args=[self.instance_id, self.ttl_ms]))

    async def release(self) -> bool:
        """Hand the lease back so another replica leads at once instead of after the TTL."""
        return bool(await self._release(keys=[self.key], args=[self.instance_id]))
