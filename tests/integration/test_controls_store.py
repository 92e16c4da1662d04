"""The operator's controls in Redis: seeding, pause, pace, slide-now, reset, message, and their events."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tests.support import redis_now_ms
from tests.support.stores import hget_int
from webapp.queue.controls import Pace
from webapp.queue.events import EventLog
from webapp.queue.keys import QueueKeys
from webapp.queue.leader import Lease
from webapp.queue.store import QueueStore, SlideOutcome
from webapp.queue.watcher import WindowWatcher

LEADER = "replica-a"


def store_with(client: Redis, keys: QueueKeys, size: int, interval: float, count: int = 2) -> QueueStore:
    return QueueStore(client, keys, size, interval, Pace(size, interval, count))


async def lead(client: Redis, keys: QueueKeys) -> None:
    assert await Lease(client, keys.leader, LEADER, 60).acquire()


async def kinds(client: Redis, keys: QueueKeys) -> list[str]:
    return [e.kind for e in await EventLog(client, keys).after("0")]


async def test_the_first_replica_seeds_the_pace_and_later_ones_follow_it(client: Redis, keys: QueueKeys) -> None:
    first = store_with(client, keys, size=10, interval=30, count=2)
    await first.seed()
    later = store_with(client, keys, size=50, interval=5, count=4)
    snap = await WindowWatcher(later, refresh=1, stale_after=5).refresh_once()
    assert snap.controls is not None
    assert snap.controls.pace == Pace(10, 30.0, 2)
    assert snap.window_end == 10  # the larger WINDOW_SIZE of the later replica did not move a young queue
    await later.join(3)
    assert await hget_int(client, keys.window, "window_end") == 10


async def test_a_paused_queue_does_not_slide_and_resumes_one_interval_later(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=2, interval=0.2)
    await store.seed()
    await store.join(10)
    await lead(client, keys)
    await store.control("pause", "token", "127.0.0.1", "paused")
    await client.hset(keys.window, "next_due", 0)  # long overdue
    for _ in range(3):
        result = await store.slide(LEADER)
        assert result.outcome is SlideOutcome.PAUSED
        assert result.next_due_ms > result.redis_now_ms  # the leader sleeps instead of spinning
    assert await hget_int(client, keys.window, "window_end") == 2
    before = await redis_now_ms(client)
    await store.control("resume", "token", "127.0.0.1", "resumed")
    due = await hget_int(client, keys.window, "next_due")
    assert due is not None
    assert due >= before + 200
    assert (await store.slide(LEADER)).outcome is SlideOutcome.NOT_DUE
    await client.hset(keys.window, "next_due", 0)
    assert (await store.slide(LEADER)).outcome is SlideOutcome.SLID
    assert await hget_int(client, keys.window, "window_end") == 4
    assert await kinds(client, keys) == ["pause", "resume", "slid"]


async def test_a_new_pace_is_what_slides_use_and_snapshots_carry(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=2, interval=30)
    await store.seed()
    await store.join(20)
    await lead(client, keys)
    before = await redis_now_ms(client)
    await store.control("pace", "token", "127.0.0.1", "size 2 → 5", 5, 1000, 3)
    due = await hget_int(client, keys.window, "next_due")
    assert due is not None
    assert due <= before + 1000 + 50
    await client.hset(keys.window, "next_due", 0)
    assert (await store.slide(LEADER)).window_end == 7
    snap = await store.snapshot()
    assert snap.controls is not None
    assert snap.controls.pace == Pace(5, 1.0, 3)


async def test_slide_now_happens_once_however_often_it_is_asked(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=3, interval=3600)
    await store.seed()
    await store.join(30)
    others = [store_with(client, keys, size=3, interval=3600) for _ in range(5)]
    results = await asyncio.gather(*(s.slide("operator", expected_window_end=3) for s in [store, *others]))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(SlideOutcome.SLID) == 1
    assert outcomes.count(SlideOutcome.MOVED) == 5
    assert await hget_int(client, keys.window, "window_end") == 6
    due = await hget_int(client, keys.window, "next_due")
    assert due is not None
    assert due > await redis_now_ms(client) + 3_000_000


async def test_reset_starts_a_new_epoch_after_the_last_position(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=4, interval=30)
    await store.seed()
    issued = await store.join(9)
    assert issued.epoch == 0
    assert await store.control("reset", "session:ab12", "10.0.0.1", "reset") == (1, 13)
    after = await store.join()
    assert (after.last, after.epoch, after.window_end) == (10, 1, 13)  # no position is ever issued twice
    events = await EventLog(client, keys).after("0")
    assert [(e.kind, e.who, e.addr) for e in events] == [("reset", "session:ab12", "10.0.0.1")]


async def test_controls_lost_with_redis_come_back_as_last_seen(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=4, interval=30)
    await store.seed()
    await store.control("pause", "token", "127.0.0.1", "paused")
    await store.control("message", "token", "127.0.0.1", "message set", "Back soon")
    await store.control("reset", "token", "127.0.0.1", "reset")
    watcher = WindowWatcher(store, refresh=1, stale_after=5)
    await watcher.refresh_once()
    await client.flushall()
    snap = await watcher.refresh_once()
    assert snap.controls is not None
    assert (snap.controls.paused, snap.controls.message, snap.controls.epoch) == (True, "Back soon", 1)


async def test_controls_on_a_queue_not_yet_seeded_change_nothing(client: Redis, keys: QueueKeys) -> None:
    store = store_with(client, keys, size=4, interval=30)
    assert await store.control("pause", "token", "127.0.0.1", "paused") == (-1, -1)
    assert await client.exists(keys.controls, keys.events) == 0
