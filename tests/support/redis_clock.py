"""Redis' own clock: every script judges time by it, so tests that reason about time read it too."""

from __future__ import annotations

from redis.asyncio import Redis


async def redis_now_ms(client: Redis) -> int:
    """``TIME`` on the server, in milliseconds."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000
