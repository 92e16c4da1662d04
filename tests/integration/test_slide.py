"""The slide script, judged by Redis TIME: due or not, skip when nobody waits, the lease fence, one per interval.

"Due" is made deterministic by writing ``next_due`` relative to Redis' clock instead of sleeping.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tests.support import redis_now_ms
from tests.support.stores import hget_int, make_store
from webapp.queue.keys import QueueKeys
from webapp.queue.store import QueueStore, SlideOutcome

SIZE = 5
INTERVAL_MS = 10_000
LEADER = "leader-1"


async def seeded(client: Redis, keys: QueueKeys, waiting: bool) -> QueueStore:
    """A queue with window_end 5 and 8 positions issued (3 waiting) or 5 (nobody waiting); LEADER holds the lease."""
    store = make_store(client, window_size=SIZE, interval=INTERVAL_MS / 1000)
    await store.join(count=8 if waiting else 5)
    await client.set(keys.leader, LEADER, px=60_000)
    return store


async def window(client: Redis, keys: QueueKeys) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in (await client.hgetall(keys.window)).items()}


async def test_not_due_changes_nothing(client: Redis, keys: QueueKeys) -> None:
    store = await seeded(client, keys, waiting=True)
    due = await redis_now_ms(client) + 5_000
    await client.hset(keys.window, "next_due", due)
    before = await window(client, keys)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.NOT_DUE
    assert (result.window_end, result.next_due_ms) == (SIZE, due)
    assert result.redis_now_ms < due
    assert await window(client, keys) == before


async def test_due_with_someone_waiting_slides_by_the_size_and_keeps_the_cadence(
    client: Redis, keys: QueueKeys
) -> None:
    store = await seeded(client, keys, waiting=True)
    due = await redis_now_ms(client) - 20  # due 20 ms ago: not behind by a whole interval
    await client.hset(keys.window, "next_due", due)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.SLID
    assert result.window_end == 2 * SIZE
    assert result.next_due_ms == due + INTERVAL_MS  # the schedule's own cadence, not "now + interval"
    state = await window(client, keys)
    assert state["window_end"] == 2 * SIZE
    assert state["next_due"] == due + INTERVAL_MS
    assert state["slides"] == 1
    assert state["last_slide"] == result.redis_now_ms
    assert store.seen_window_end == 2 * SIZE


async def test_a_slide_far_behind_schedule_restarts_it_from_now(client: Redis, keys: QueueKeys) -> None:
    store = await seeded(client, keys, waiting=True)
    await client.hset(keys.window, "next_due", await redis_now_ms(client) - 5 * INTERVAL_MS)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.SLID
    assert result.window_end == 2 * SIZE  # one slide, no burst to catch up
    assert result.next_due_ms == result.redis_now_ms + INTERVAL_MS


async def test_nobody_waiting_skips_the_slide_but_advances_the_schedule(client: Redis, keys: QueueKeys) -> None:
    store = await seeded(client, keys, waiting=False)
    due = await redis_now_ms(client) - 20
    await client.hset(keys.window, "next_due", due)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.SKIPPED
    assert result.window_end == SIZE
    state = await window(client, keys)
    assert state["window_end"] == SIZE
    assert "slides" not in state
    assert "last_slide" not in state
    assert state["next_due"] == due + INTERVAL_MS


async def test_a_caller_without_the_lease_cannot_slide(client: Redis, keys: QueueKeys) -> None:
    store = await seeded(client, keys, waiting=True)
    await client.hset(keys.window, "next_due", await redis_now_ms(client) - 20)
    before = await window(client, keys)
    assert (await store.slide("someone-else")).outcome is SlideOutcome.NOT_LEADER
    await client.delete(keys.leader)
    assert (await store.slide(LEADER)).outcome is SlideOutcome.NOT_LEADER  # a lapsed lease fences too
    assert await window(client, keys) == before


async def test_an_unseeded_queue_is_reported_not_slid(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client, window_size=SIZE)
    await client.set(keys.leader, LEADER)
    assert (await store.slide(LEADER)).outcome is SlideOutcome.NOT_SEEDED
    assert await client.exists(keys.window) == 0


async def test_many_concurrent_slides_at_one_due_time_slide_once(redis_url: str, keys: QueueKeys) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(10)]
    try:
        store = await seeded(clients[0], keys, waiting=True)
        await clients[0].set(keys.counter, 1_000)  # plenty waiting: only the schedule can stop a second slide
        stores = [make_store(c, window_size=SIZE, interval=INTERVAL_MS / 1000) for c in clients]
        for round_ in range(1, 4):
            await clients[0].hset(keys.window, "next_due", await redis_now_ms(clients[0]) - 20)
            results = await asyncio.gather(*(s.slide(LEADER) for s in [*stores, store]))
            outcomes = [r.outcome for r in results]
            assert outcomes.count(SlideOutcome.SLID) == 1
            assert outcomes.count(SlideOutcome.NOT_DUE) == len(outcomes) - 1
            assert await hget_int(clients[0], keys.window, "window_end") == SIZE * (1 + round_)
            assert await hget_int(clients[0], keys.window, "slides") == round_
    finally:
        for c in clients:
            await c.aclose()


async def test_a_slide_a_little_late_keeps_the_cadence(client: Redis, keys: QueueKeys) -> None:
    """A leader on a busy event loop wakes some milliseconds late: the schedule must not drift."""
    store = await seeded(client, keys, waiting=True)
    due = await redis_now_ms(client) - INTERVAL_MS * 4 // 10
    await client.hset(keys.window, "next_due", due)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.SLID
    assert result.next_due_ms == due + INTERVAL_MS


async def test_a_slide_late_by_more_than_half_the_interval_restarts_the_schedule(
    client: Redis, keys: QueueKeys
) -> None:
    """Catching up on a very late slide would put the next one less than half an interval after it."""
    store = await seeded(client, keys, waiting=True)
    due = await redis_now_ms(client) - INTERVAL_MS * 6 // 10
    await client.hset(keys.window, "next_due", due)
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.SLID
    assert result.next_due_ms == result.redis_now_ms + INTERVAL_MS
