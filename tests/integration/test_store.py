"""QueueStore against a real Redis: unique positions under concurrency, max-merge re-seeding, claims."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tests.support import redis_now_ms
from tests.support.stores import hget_int, make_store
from webapp.queue.keys import QueueKeys, queue_keys
from webapp.queue.store import QueueStore


async def test_concurrent_joins_from_many_clients_issue_each_position_once(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(8)]
    try:
        stores = [make_store(c) for c in clients]  # eight replicas, none has seen the queue yet

        async def join_many(store: QueueStore) -> list[int]:
            issued = await asyncio.gather(*(store.join() for _ in range(25)))
            return [r.first for r in issued]

        per_store = await asyncio.gather(*(join_many(s) for s in stores))
        positions = sorted(p for ps in per_store for p in ps)
        assert positions == list(range(1, 201))
        assert int(await clients[0].get(stores[0].keys.counter) or 0) == 200
    finally:
        for c in clients:
            await c.aclose()


async def test_join_with_a_count_returns_a_contiguous_range(client: Redis) -> None:
    store = make_store(client, window_size=3)
    first = await store.join(count=5)
    assert (first.first, first.last, first.window_end) == (1, 5, 3)
    second = await store.join(count=4)
    assert (second.first, second.last) == (6, 9)
    single = await store.join()
    assert single.first == single.last == 10


async def test_first_join_seeds_the_window_at_its_size(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client, window_size=7, interval=30)
    before = await redis_now_ms(client)
    issued = await store.join()
    assert (issued.first, issued.window_end) == (1, 7)
    assert await hget_int(client, keys.window, "window_end") == 7
    next_due = await hget_int(client, keys.window, "next_due")
    assert next_due is not None
    assert before + 30_000 <= next_due <= before + 31_000


async def test_join_after_redis_lost_its_data_continues_after_the_highest_position_seen(
    client: Redis, keys: QueueKeys
) -> None:
    store = make_store(client, window_size=10)
    await store.join(count=50)
    await client.hset(keys.window, "window_end", 30)
    await store.snapshot()  # the replica sees window_end 30
    await client.flushall()
    issued = await store.join()
    assert issued.first == 51
    assert issued.window_end == 30
    assert int(await client.get(keys.counter) or 0) == 51


async def test_join_never_reissues_a_position_when_another_replica_reseeded_lower(
    redis_url: str, keys: QueueKeys
) -> None:
    """A replica that lagged (saw 40 of the 50 issued) re-seeds first; the one that issued 50 must not go back."""
    a_client, b_client = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a, b = make_store(a_client), make_store(b_client)
        await a.join(count=40)
        await b.snapshot()  # b saw 40
        await a.join(count=10)  # a issued up to 50
        await a_client.flushall()
        assert await b.seed() == (40, 10)
        issued = await a.join()
        assert issued.first == 51
        later = await b.join()
        assert later.first == 52
    finally:
        await a_client.aclose()
        await b_client.aclose()


async def test_seed_never_lowers_the_counter_or_the_window(client: Redis, keys: QueueKeys) -> None:
    await client.set(keys.counter, 100)
    await client.hset(keys.window, mapping={"window_end": 70, "next_due": 123})
    store = make_store(client, window_size=10)
    store.observe(last_position=20, window_end=40)
    assert await store.seed() == (100, 70)
    assert int(await client.get(keys.counter) or 0) == 100
    assert await hget_int(client, keys.window, "window_end") == 70
    assert await hget_int(client, keys.window, "next_due") == 123  # an existing schedule is kept
    assert (store.seen_last_position, store.seen_window_end) == (100, 70)


async def test_seed_raises_values_below_what_the_replica_has_seen(client: Redis, keys: QueueKeys) -> None:
    await client.set(keys.counter, 5)
    await client.hset(keys.window, "window_end", 10)
    store = make_store(client, window_size=10)
    store.observe(last_position=80, window_end=60)
    assert await store.seed() == (80, 60)
    assert int(await client.get(keys.counter) or 0) == 80
    assert await hget_int(client, keys.window, "window_end") == 60


async def test_snapshot_reports_the_window_and_redis_time(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client, window_size=4, interval=2)
    empty = await store.snapshot()
    assert not empty.seeded
    assert (empty.window_end, empty.last_position, empty.slides) == (-1, -1, -1)

    await store.join(count=6)
    await client.hset(keys.window, mapping={"last_slide": 1_000, "slides": 3})
    before = await redis_now_ms(client)
    snap = await store.snapshot()
    after = await redis_now_ms(client)
    assert snap.seeded
    assert (snap.window_end, snap.last_position, snap.last_slide_ms, snap.slides) == (4, 6, 1_000, 3)
    assert before <= snap.redis_now_ms <= after
    assert snap.redis_now_ms < snap.next_due_ms <= snap.redis_now_ms + 2_000


async def test_exactly_one_of_many_concurrent_claims_of_a_ticket_wins(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    results = await asyncio.gather(*(store.claim_admission("ticket-1", f"pass-{i}", 600) for i in range(50)))
    assert results.count(True) == 1
    winner = f"pass-{results.index(True)}"
    assert (await client.get(keys.claim("ticket-1"))) == winner.encode()
    ttl_ms = await client.pttl(keys.claim("ticket-1"))
    assert 0 < ttl_ms <= 600_000
    assert await store.claim_admission("ticket-2", "pass-x", 600) is True


async def test_a_snapshot_repairs_a_counter_that_went_back(redis_url: str) -> None:
    """A failover to a replica that missed recent writes: older values, not missing ones."""
    client = Redis.from_url(redis_url)
    try:
        keys = queue_keys("rollback")
        issuer, other = QueueStore(client, keys, 10, 1.0), QueueStore(client, keys, 10, 1.0)
        await issuer.join(5)
        await client.set(keys.counter, 2)  # the promoted replica had only seen positions 1..2
        assert (await issuer.snapshot()).last_position == 5  # the replica that saw 5 repairs on its next read
        issued = await other.join(3)
        assert issued.first == 6
    finally:
        await client.aclose()
