"""The join limit inside the join's own round trip (issue 13, item 4): join.lua counts each client of a batch.

Exact counts against a real Redis: refused joins take no position, the others stay contiguous in arrival order,
the window slides with the clock the limit is given, and a batch costs one script call whatever the limit.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
import redis
from redis.asyncio import Redis

from tests.support import AppProcess, app_process, redis_now_ms, settings_for
from tests.support.stores import make_store
from webapp.app import build_room
from webapp.queue.batcher import JoinBatcher
from webapp.queue.joinlimit import JoinLimited, JoinRateLimit
from webapp.queue.keys import QueueKeys, queue_keys
from webapp.queue.store import DrawPlan, IssuedRange, QueueStore, load_script

T0 = 1_800_000_000_000
"""The injected clock's start, in ms (the limit is judged by it instead of Redis TIME)."""


class Clock:
    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def placed(batch_waits: tuple[int, ...]) -> int:
    return batch_waits.count(0)


async def counter_of(client: Redis, keys: QueueKeys) -> int:
    return int(await client.get(keys.counter) or 0)


async def test_within_the_limit_every_join_gets_a_contiguous_unique_position(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    limit = JoinRateLimit(5, Clock())
    clients = [f"203.0.113.{i % 4}" for i in range(20)]  # four addresses, five joins each: all within
    batch = await store.join_many(clients, limit)
    assert batch.waits == (0,) * 20
    assert (batch.first, await counter_of(client, keys)) == (1, 20)
    again = await store.join_many(["198.51.100.1", "198.51.100.2"], limit)
    assert (again.first, again.waits) == (21, (0, 0))


async def test_over_the_limit_a_join_takes_no_position_and_is_told_when_to_retry(
    client: Redis, keys: QueueKeys
) -> None:
    store = make_store(client)
    clock = Clock()
    limit = JoinRateLimit(3, clock)
    assert placed((await store.join_many(["203.0.113.5"] * 3, limit)).waits) == 3
    clock.now_ms += 12_500
    refused = await store.join_many(["203.0.113.5"] * 4, limit)
    assert refused.waits == (47_500,) * 4  # the first place leaves the window 60 s after it was taken
    assert await counter_of(client, keys) == 3  # the counter did not move for them
    assert await client.zcard(keys.join_log("203.0.113.5")) == 3
    batcher = JoinBatcher(lambda clients: store.join_many(clients, limit))
    with pytest.raises(JoinLimited) as over:
        await batcher.join("203.0.113.5")
    assert over.value.retry_after == 48  # whole seconds, rounded up
    assert 1 <= over.value.retry_after <= 60


async def test_one_batch_mixes_limited_and_free_clients_in_arrival_order(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    limit = JoinRateLimit(2, Clock())
    await store.join_many(["203.0.113.9", "203.0.113.9"], limit)  # .9 has used its budget
    batcher = JoinBatcher(lambda clients: store.join_many(clients, limit))
    arrivals = ["203.0.113.1", "203.0.113.9", "203.0.113.2", "203.0.113.1", "203.0.113.9", "203.0.113.1"]
    results = await asyncio.gather(*(batcher.join(c) for c in arrivals), return_exceptions=True)
    assert batcher.round_trips == 1
    outcome = [r.first if isinstance(r, IssuedRange) else type(r) for r in results]
    # .1's third join is over its limit of 2 as well: the others hold 3, 4, 5 in the order they came.
    assert outcome == [3, JoinLimited, 4, 5, JoinLimited, JoinLimited]
    assert await counter_of(client, keys) == 5


async def test_the_window_slides_with_the_injected_clock(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    clock = Clock()
    limit = JoinRateLimit(2, clock)
    address = "203.0.113.7"
    assert (await store.join_many([address], limit)).waits == (0,)
    clock.now_ms += 20_000
    assert (await store.join_many([address], limit)).waits == (0,)
    clock.now_ms += 39_999  # 59.999 s after the first place: still inside the window
    assert (await store.join_many([address], limit)).waits == (1,)
    clock.now_ms += 1  # the first place leaves; the second (taken at +20 s) stays until +80 s
    assert (await store.join_many([address, address], limit)).waits == (0, 20_000)
    clock.now_ms += 20_000
    assert (await store.join_many([address], limit)).waits == (0,)
    assert await counter_of(client, keys) == 4


async def test_a_log_expires_with_its_newest_place_and_stays_within_the_limit(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    address = "2001:db8:1:2::/64"
    await store.join_many([address] * 4, JoinRateLimit(4))  # Redis' own clock
    ttl = await client.pttl(keys.join_log(address))
    assert 0 < ttl <= 60_000
    stamps = await client.zmscore(keys.join_log(address), ["1", "2", "3", "4"])  # position -> Redis ms
    now = await redis_now_ms(client)
    assert all(stamp is not None and now - 5_000 <= stamp <= now for stamp in stamps), stamps
    # An operator who lowers the limit (a restart with a smaller JOIN_RATE_LIMIT): the log keeps only the newest.
    lowered = await store.join_many([address], JoinRateLimit(2))
    assert lowered.waits[0] > 0
    assert await client.zcard(keys.join_log(address)) == 2


async def test_limit_zero_counts_nobody(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    batch = await store.join_many(["203.0.113.5"] * 50, JoinRateLimit(0))
    assert (batch.first, batch.waits) == (1, (0,) * 50)
    assert await client.keys(keys.rate_prefix + "*") == []


async def test_a_lost_queue_is_seeded_and_the_retry_counts_each_join_once(client: Redis, keys: QueueKeys) -> None:
    store = make_store(client)
    limit = JoinRateLimit(3, Clock())
    await store.join_many(["203.0.113.5"] * 2, limit)
    await client.delete(keys.counter, keys.window)  # Redis lost the queue but not the log
    batch = await store.join_many(["203.0.113.5"] * 2, limit)
    assert batch.waits == (0, 60_000)  # the not-seeded reply counted nobody: one place left, not none
    assert batch.first == 3  # re-seeded from the highest position this replica had seen
    assert await client.zcard(keys.join_log("203.0.113.5")) == 3


async def test_pre_queue_joins_are_limited_the_same_way(client: Redis, keys: QueueKeys) -> None:
    store = QueueStore(client, queue_keys("main"), 2, 0.2, draw_plan=DrawPlan(await redis_now_ms(client) + 60_000))
    await store.seed()
    batch = await store.join_many(["203.0.113.5"] * 3, JoinRateLimit(2))
    assert batch.prequeue
    assert (batch.first, placed(batch.waits)) == (1, 2)


JOIN_SCRIPT_COMMANDS = {name.lower() for name in re.findall(r"redis\.call\('(\w+)'", load_script("join"))}


async def test_a_batch_of_limited_joins_is_one_script_call_and_nothing_else(client: Redis, redis_url: str) -> None:
    room, _ = build_room(settings_for(redis_url, JOIN_RATE_LIMIT="2"), client)
    await room.watcher.refresh_once()
    await room.join(None, "198.51.100.1")  # the script is loaded and the queue seeded before counting
    before = await client.info("commandstats")
    trips = room.batcher.round_trips
    clients = ["203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.3", "203.0.113.1", "203.0.113.2"]
    results = await asyncio.gather(*(room.join(None, c) for c in clients), return_exceptions=True)
    after = await client.info("commandstats")
    assert [type(r).__name__ for r in results].count("JoinLimited") == 1
    calls = {
        name.removeprefix("cmdstat_"): stat["calls"] - before.get(name, {"calls": 0})["calls"]
        for name, stat in after.items()
        if stat["calls"] != before.get(name, {"calls": 0})["calls"]
    }
    calls.pop("info")
    assert calls.pop("evalsha") == 1 == room.batcher.round_trips - trips
    assert set(calls) <= JOIN_SCRIPT_COMMANDS  # everything else ran inside that one script
    assert calls["exists"] == 1  # ... once
    assert calls["zadd"] == 3  # one log per address


LIMIT = 7
HAMMER = 60
"""Joins fired at once from one address, spread over three replicas."""


def test_three_replicas_give_one_address_exactly_its_limit(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    env = {"JOIN_RATE_LIMIT": str(LIMIT), "TRUSTED_PROXIES": "127.0.0.1"}
    replicas: list[AppProcess] = []
    try:
        for index in range(3):
            replicas.append(app_process(redis_url, tmp_path / f"app-{index}.log", **env).start())
        answers = asyncio.run(hammer(replicas, "203.0.113.77"))
    finally:
        for replica in replicas:
            replica.stop()
    created = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code == 429]
    assert len(created) == LIMIT, [a.status_code for a in answers]
    assert len(refused) == HAMMER - LIMIT
    assert sorted(a.json()["position"] for a in created) == list(range(1, LIMIT + 1))
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)
    with redis.Redis.from_url(redis_url) as raw:
        assert int(raw.get(queue_keys("main").counter) or 0) == LIMIT
        assert 0 < raw.pttl(queue_keys("main").join_log("203.0.113.77")) <= 60_000


async def hammer(replicas: list[AppProcess], address: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=HAMMER)
    headers = {"X-Forwarded-For": address, "Accept": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=20, headers=headers) as http:
        return await asyncio.gather(*(http.post(replicas[i % 3].url("/join")) for i in range(HAMMER)))
