"""The draw's Redis side: created with a new queue, frozen at opening in one step, repaired after a data loss."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tests.support import redis_now_ms, wait_until
from webapp.queue.keys import QueueKeys, queue_keys
from webapp.queue.store import DrawPlan, IssuedRange, QueueStore, SlideOutcome

LEADER = "leader-1"


def store_for(client: Redis, opens_at_ms: int | None, size: int = 2) -> QueueStore:
    plan = None if opens_at_ms is None else DrawPlan(opens_at_ms)
    return QueueStore(client, queue_keys("main"), size, 0.2, draw_plan=plan)


async def scheduled(client: Redis, keys: QueueKeys, in_ms: int = 60_000) -> QueueStore:
    """A new queue whose sale opens ``in_ms`` after Redis' now; LEADER holds the lease."""
    store = store_for(client, await redis_now_ms(client) + in_ms)
    await store.seed()
    await store.snapshot()
    await client.set(keys.leader, LEADER, px=60_000)
    return store


async def test_a_new_scheduled_queue_commits_a_seed_and_lets_nobody_in(client: Redis, keys: QueueKeys) -> None:
    store = await scheduled(client, keys)
    snap = await store.snapshot()
    assert snap.draw is not None
    assert store.draw_plan is not None
    assert snap.draw.seed == store.draw_plan.seed
    assert not snap.draw.opened
    assert snap.window_end == 0
    issued = [await store.join() for _ in range(3)]
    assert [(r.last, r.prequeue) for r in issued] == [(1, True), (2, True), (3, True)]
    result = await store.slide(LEADER)
    assert result.outcome is SlideOutcome.PREQUEUE
    assert result.next_due_ms == snap.draw.opens_at_ms
    assert (await store.snapshot()).window_end == 0


async def test_every_replica_uses_the_first_replicas_seed(client: Redis, keys: QueueKeys) -> None:
    opens = await redis_now_ms(client) + 60_000
    first, second = store_for(client, opens), store_for(client, opens + 5)
    await first.seed()
    await second.seed()
    a, b = await first.snapshot(), await second.snapshot()
    assert a.draw == b.draw
    assert a.draw is not None
    assert first.draw_plan is not None
    assert a.draw.seed == first.draw_plan.seed


async def test_a_queue_that_already_issued_places_gets_no_draw(client: Redis, keys: QueueKeys) -> None:
    await store_for(client, None).join(count=4)
    late = store_for(client, await redis_now_ms(client) + 60_000)
    await late.seed()
    snap = await late.snapshot()
    assert snap.draw is None
    assert not (await late.join()).prequeue


async def test_opening_freezes_n_and_later_joins_come_after_it(client: Redis, keys: QueueKeys) -> None:
    store = await scheduled(client, keys, in_ms=300)
    await store.join(count=5)
    await wait_until(lambda: _slid(store), 10, what="the opening slide", every=0.02)
    snap = await store.snapshot()
    assert snap.draw is not None
    assert snap.draw.size == 5
    assert snap.draw.opened_at_ms is not None
    assert snap.draw.opened_at_ms >= snap.draw.opens_at_ms
    assert snap.window_end == 2  # the opening is the first slide
    later = await store.join(count=2)
    assert (later.first, later.last, later.prequeue) == (6, 7, False)
    events = await client.xrange(keys.events) or []
    assert any((fields or {}).get(b"kind") == b"opened" for _, fields in events)


async def _slid(store: QueueStore) -> bool:
    return (await store.slide(LEADER)).outcome is SlideOutcome.SLID


async def test_an_operator_slide_cannot_open_the_sale(client: Redis, keys: QueueKeys) -> None:
    store = await scheduled(client, keys, in_ms=60_000)
    await store.join(count=3)
    result = await store.slide("operator", expected_window_end=0)
    assert result.outcome is SlideOutcome.PREQUEUE
    snap = await store.snapshot()
    assert snap.draw is not None
    assert not snap.draw.opened


async def test_joins_racing_the_opening_are_on_exactly_one_side_of_it(client: Redis, keys: QueueKeys) -> None:
    """Three replicas join as fast as they can while the leader opens: arrival indexes are exactly 1..N,
    positions exactly N+1..M; none is both, none is lost."""
    store = await scheduled(client, keys, in_ms=400)
    replicas = [store, *(store_for(client, 0) for _ in range(2))]
    for replica in replicas[1:]:
        await replica.snapshot()
    results: list[IssuedRange] = []
    opened = asyncio.Event()

    async def joiner(replica: QueueStore) -> None:
        extra = 0
        while extra < 20:  # keep joining until 20 joins after the opening
            results.append(await replica.join())
            extra += opened.is_set()

    async def made() -> bool:
        return (await store.slide(LEADER)).outcome is not SlideOutcome.PREQUEUE

    async def leader() -> None:
        await wait_until(lambda: len(results) >= 3, 10, what="joins before the opening")
        await wait_until(made, 10, what="the opening", every=0.005)
        opened.set()

    await asyncio.wait_for(asyncio.gather(leader(), *(joiner(r) for r in replicas)), 20)
    snap = await store.snapshot()
    assert snap.draw is not None
    assert snap.draw.size is not None
    n = snap.draw.size
    arrivals = sorted(r.last for r in results if r.prequeue)
    positions = sorted(r.last for r in results if not r.prequeue)
    assert arrivals == list(range(1, n + 1)), (n, arrivals[-5:], positions[:5])
    assert positions == list(range(n + 1, len(results) + 1))
    assert n >= 3
    assert len(positions) >= 20


async def test_a_data_loss_during_the_prequeue_reissues_no_index_and_keeps_the_seed(
    client: Redis, keys: QueueKeys
) -> None:
    store = await scheduled(client, keys)
    await store.join(count=7)
    before = await store.snapshot()
    assert before.draw is not None
    await client.flushall()
    # A replica started after the loss proposes a seed of its own; it must not win.
    newcomer = store_for(client, await redis_now_ms(client) + 1_000)
    await newcomer.seed()
    after = await store.snapshot()  # the replica that saw the draw repairs it
    assert after.draw is not None
    assert (after.draw.seed, after.draw.opens_at_ms, after.draw.drawn_at_ms) == (
        before.draw.seed,
        before.draw.opens_at_ms,
        before.draw.drawn_at_ms,
    )
    assert after.last_position == 7
    assert after.window_end == 0
    assert (await store.join()).last == 8
    assert (await newcomer.snapshot()).draw == after.draw
    nxt = await newcomer.join()
    assert (nxt.last, nxt.prequeue) == (9, True)


async def test_a_data_loss_after_opening_restores_n(client: Redis, keys: QueueKeys) -> None:
    store = await scheduled(client, keys, in_ms=100)
    await store.join(count=4)
    await wait_until(lambda: _slid(store), 10, what="the opening", every=0.02)
    opened = (await store.snapshot()).draw
    await client.flushall()
    repaired = await store.snapshot()
    if not repaired.seeded:  # the watcher seeds an empty Redis: do what it does
        await store.seed()
        repaired = await store.snapshot()
    assert repaired.draw == opened
    later = await store.join()
    assert (later.last, later.prequeue) == (5, False)


async def test_a_reset_during_the_prequeue_keeps_the_draw_and_the_window_shut(client: Redis, keys: QueueKeys) -> None:
    store = await scheduled(client, keys)
    await store.join(count=3)
    committed = (await store.snapshot()).draw
    epoch, window_end = await store.control("reset", "token", "127.0.0.1", "reset")
    assert (epoch, window_end) == (1, 0)
    after = await store.snapshot()
    assert after.draw == committed
    assert after.window_end == 0
    nxt = await store.join()
    assert (nxt.last, nxt.prequeue, nxt.epoch) == (4, True, 1)
