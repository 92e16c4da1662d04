"""The queue's operations exercised through any client ``connect()`` builds: the same checks on every topology."""

from __future__ import annotations

import asyncio

from tests.support import wait_until
from webapp.queue.keys import queue_keys
from webapp.queue.leader import Lease
from webapp.queue.store import QueueStore, SlideOutcome, SlideResult
from webapp.redis_client import RedisClient

WINDOW_SIZE = 10
INTERVAL = 0.1


async def check_queue_works(redis: RedisClient, queue: str) -> None:
    """Ping, 100 concurrent joins with exact positions, a leased slide, and a consistent snapshot."""
    assert await redis.ping()
    keys = queue_keys(queue)
    store = QueueStore(redis, keys, WINDOW_SIZE, INTERVAL)
    assert await store.seed() == (0, WINDOW_SIZE)

    issued = await asyncio.gather(*(store.join() for _ in range(100)))
    assert sorted(r.last for r in issued) == list(range(1, 101))
    assert all(r.first == r.last for r in issued)

    lease = Lease(redis, keys.leader, f"ha-test-{queue}", ttl=5)
    assert await lease.acquire()
    assert not await Lease(redis, keys.leader, "someone-else", ttl=5).acquire()
    tried: list[SlideResult] = []

    async def came_due() -> bool:
        tried.append(await store.slide(lease.instance_id))
        return tried[-1].outcome is not SlideOutcome.NOT_DUE

    await wait_until(came_due, 5, what="the first slide coming due")
    result = tried[-1]
    assert result.outcome is SlideOutcome.SLID
    assert result.window_end == 2 * WINDOW_SIZE

    snap = await store.snapshot()
    assert (snap.window_end, snap.last_position, snap.slides) == (2 * WINDOW_SIZE, 100, 1)
    assert snap.next_due_ms > snap.redis_now_ms - 1000
    assert await store.claim_admission("ticket-1", "pass-1", ttl_seconds=5)
    assert not await store.claim_admission("ticket-1", "pass-2", ttl_seconds=5)
    assert await lease.release()
