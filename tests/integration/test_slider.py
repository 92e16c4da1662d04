"""Slider loops with real leases: cadence, one slide per interval whatever the number of sliders, handover."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from tests.support import redis_now_ms, repeat, stop_task, wait_until
from tests.support.stores import make_store
from webapp.queue.keys import QueueKeys
from webapp.queue.leader import Lease, new_instance_id
from webapp.queue.slider import Slider

INTERVAL = 0.5
SIZE = 2
LATE_MS = 250
"""How late (by Redis' clock) after its due time a slide may come on a loaded 2-core machine."""


@dataclass
class Replica:
    slider: Slider
    task: asyncio.Task[None]


@dataclass
class Record:
    """Every slide seen in the window hash: (Redis ms of the slide, window_end after it, slides counter).

    ``due`` holds, for each recorded slide, the time it was due (the schedule before it), and ``next_due``
    the schedule the last sample saw.
    """

    slides: list[tuple[int, int, int]] = field(default_factory=list)
    jumps: list[int] = field(default_factory=list)
    due: list[int | None] = field(default_factory=list)
    next_due: int | None = None


class Cluster:
    """Several replicas' sliders on one Redis, and a sampler that records every slide."""

    def __init__(self, url: str, keys: QueueKeys) -> None:
        self.url = url
        self.keys = keys
        self.clients: list[Redis] = []
        self.replicas: list[Replica] = []
        self.record = Record()
        self._sampler: asyncio.Task[None] | None = None

    def start(self, count: int, lease_ttl: float) -> None:
        for _ in range(count):
            client = Redis.from_url(self.url)
            self.clients.append(client)
            store = make_store(client, window_size=SIZE, interval=INTERVAL)
            slider = Slider(store, Lease(client, self.keys.leader, new_instance_id(), lease_ttl))
            self.replicas.append(Replica(slider, asyncio.create_task(slider.run())))

    async def sample_once(self, client: Redis) -> None:
        raw = await client.hmget(self.keys.window, ["last_slide", "window_end", "slides", "next_due"])
        slides = int(raw[2]) if raw[2] is not None else 0
        seen = self.record.slides[-1][2] if self.record.slides else 0
        if raw[0] is not None and slides != seen:
            self.record.jumps.append(slides - seen)
            self.record.slides.append((int(raw[0]), int(raw[1] or 0), slides))
            self.record.due.append(self.record.next_due)
        self.record.next_due = int(raw[3]) if raw[3] is not None else None

    def start_sampling(self) -> None:
        """Sample the window hash every 10 ms (through the cancellable loop of tests.support), on a client
        of its own that outlives the test's (fixtures close in reverse order)."""
        client = Redis.from_url(self.url)
        self.clients.append(client)
        self._sampler = repeat(lambda: self.sample_once(client), every=0.01, name="slide sampler")

    def leaders(self) -> list[Replica]:
        return [r for r in self.replicas if r.slider.leading and not r.task.done()]

    async def close(self) -> None:
        """Stop every loop (bounded: a lost cancellation fails the test instead of hanging it), then close."""
        tasks = [r.task for r in self.replicas] + ([self._sampler] if self._sampler else [])
        try:
            for task in tasks:
                await stop_task(task)
        finally:
            for replica in self.replicas:
                await replica.slider.stop()
            for client in self.clients:
                await client.aclose()

    def gaps_ms(self) -> list[int]:
        times = [at for at, _, _ in self.record.slides]
        return [b - a for a, b in itertools.pairwise(times)]

    def assert_one_slide_at_a_time(self) -> None:
        """Each sample saw the counter move by one; no slide came before it was due, nor two slides closer
        than half an interval (the slide script's own guarantee), and each moved the window by its size."""
        assert set(self.record.jumps) <= {1}, self.record.jumps
        early = [
            (at, due) for (at, _, _), due in zip(self.record.slides, self.record.due, strict=True) if due and at < due
        ]
        assert not early, early
        assert all(gap >= INTERVAL * 500 for gap in self.gaps_ms()), self.gaps_ms()
        ends = [w for _, w, _ in self.record.slides]
        assert all(b - a == SIZE for a, b in itertools.pairwise(ends)), ends

    def assert_on_schedule(self) -> None:
        """Every slide after the first came at most LATE_MS after it was due (by Redis' clock)."""
        lateness = [at - due for (at, _, _), due in zip(self.record.slides, self.record.due, strict=True) if due]
        assert lateness, "no slide with a known due time was recorded"
        assert all(0 <= late <= LATE_MS for late in lateness), lateness


@pytest.fixture
async def cluster(redis_url: str, keys: QueueKeys) -> AsyncIterator[Cluster]:
    running = Cluster(redis_url, keys)
    try:
        yield running
    finally:
        await running.close()


async def queue_with_waiting(client: Redis, keys: QueueKeys, waiting: int = 1_000_000) -> None:
    """Seed the queue (next slide due one interval from now) with ``waiting`` positions issued."""
    await make_store(client, window_size=SIZE, interval=INTERVAL).join(count=waiting)


async def slides_reach(cluster: Cluster, count: int, within: float) -> None:
    async def reached() -> bool:
        return len(cluster.record.slides) >= count

    await wait_until(reached, within, what=f"{count} slides")


async def test_one_slider_slides_every_interval(cluster: Cluster, client: Redis, keys: QueueKeys) -> None:
    await queue_with_waiting(client, keys)
    cluster.start_sampling()
    cluster.start(1, lease_ttl=1.5)
    await slides_reach(cluster, 5, within=5)
    cluster.assert_on_schedule()
    cluster.assert_one_slide_at_a_time()


async def test_three_sliders_still_slide_once_per_interval(cluster: Cluster, client: Redis, keys: QueueKeys) -> None:
    await queue_with_waiting(client, keys)
    started = await redis_now_ms(client)
    cluster.start_sampling()
    cluster.start(3, lease_ttl=1.5)
    await slides_reach(cluster, 5, within=5)
    elapsed = await redis_now_ms(client) - started
    slides = int(await client.hget(keys.window, "slides") or 0)
    # The first slide is due one interval after seeding; one more every interval after that.
    assert elapsed // (INTERVAL * 1000) - 1 <= slides <= elapsed // (INTERVAL * 1000)
    assert len(cluster.leaders()) == 1
    cluster.assert_one_slide_at_a_time()
    cluster.assert_on_schedule()


async def test_a_stopped_leader_hands_over_at_once(cluster: Cluster, client: Redis, keys: QueueKeys) -> None:
    lease_ttl = 0.9
    await queue_with_waiting(client, keys)
    cluster.start_sampling()
    cluster.start(3, lease_ttl=lease_ttl)
    await slides_reach(cluster, 2, within=3)
    (leader,) = cluster.leaders()
    await stop_task(leader.task)
    await leader.slider.stop()  # graceful shutdown releases the lease
    stopped_at = await redis_now_ms(client)
    # Released, not left to expire: a successor may already hold it, but never the stopped leader.
    holder = await client.get(keys.leader)
    assert holder not in (leader.slider.lease.instance_id, leader.slider.lease.instance_id.encode())
    before = len(cluster.record.slides)
    await slides_reach(cluster, before + 2, within=3)
    first_after = next(at for at, _, _ in cluster.record.slides if at > stopped_at)
    assert first_after - stopped_at <= lease_ttl * 1000
    (successor,) = cluster.leaders()
    assert successor is not leader
    cluster.assert_one_slide_at_a_time()


async def test_a_crashed_leader_is_replaced_within_the_lease_ttl(
    cluster: Cluster, client: Redis, keys: QueueKeys
) -> None:
    lease_ttl = 0.9
    await queue_with_waiting(client, keys)
    cluster.start_sampling()
    cluster.start(3, lease_ttl=lease_ttl)
    await slides_reach(cluster, 2, within=3)
    (leader,) = cluster.leaders()
    crashed_id = leader.slider.lease.instance_id
    await stop_task(leader.task)  # no release: the lease must run out by itself
    crashed_at = await redis_now_ms(client)
    assert await client.get(keys.leader) == crashed_id.encode()

    async def taken_over() -> bool:
        holder = await client.get(keys.leader)
        return holder is not None and holder != crashed_id.encode()

    # The lease lives at most its TTL after the last renewal; the others ask every TTL/3.
    took = await wait_until(taken_over, within=lease_ttl * 1.5 + 0.3, what="takeover")
    assert took <= lease_ttl + lease_ttl / 3 + 0.2
    before = len(cluster.record.slides)
    await slides_reach(cluster, before + 2, within=3)
    first_after = next(at for at, _, _ in cluster.record.slides if at > crashed_at)
    assert first_after - crashed_at <= (lease_ttl + lease_ttl / 3) * 1000 + INTERVAL * 1000
    cluster.assert_one_slide_at_a_time()


async def test_with_nobody_waiting_the_window_stays(cluster: Cluster, client: Redis, keys: QueueKeys) -> None:
    await queue_with_waiting(client, keys, waiting=SIZE)  # everyone issued is inside the window
    first_due = int(await client.hget(keys.window, "next_due") or 0)
    cluster.start(2, lease_ttl=1.5)

    async def three_intervals_passed() -> bool:
        return int(await client.hget(keys.window, "next_due") or 0) >= first_due + 3 * INTERVAL * 1000

    await wait_until(three_intervals_passed, within=4, what="three scheduled slides")
    assert int(await client.hget(keys.window, "window_end") or 0) == SIZE
    assert await client.hget(keys.window, "slides") is None

    await client.incr(keys.counter)  # now one visitor waits beyond the window
    cluster.start_sampling()
    await slides_reach(cluster, 1, within=2 * INTERVAL + 0.5)
    assert int(await client.hget(keys.window, "window_end") or 0) == 2 * SIZE
