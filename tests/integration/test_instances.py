"""Three ``python -m webapp`` processes on one Redis: shared positions, consistent statuses, one slider.

The processes are real servers on loopback ports, logging to files; the test reads the queue's state
straight from Redis to judge what the instances answer.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support import TEST_SECRET, AppProcess, redis_now_ms, repeat, stop_task, wait_until
from webapp.queue.keys import queue_keys
from webapp.queue.window import Status, status_of

SIZE = 2
INTERVAL = 0.5
COUNT = 2
LEASE_TTL = 1.0
LATE_MS = 250
"""How late after its due time (by Redis' clock) a slide may come on a loaded 2-core machine."""
KEYS = queue_keys("main")


def start_instance(redis_url: str, directory: Path, index: int) -> AppProcess:
    return AppProcess(
        {
            "REDIS_URL": redis_url,
            "JWT_SECRET": TEST_SECRET,
            "WINDOW_SIZE": str(SIZE),
            "WINDOW_INTERVAL": str(INTERVAL),
            "ACTIVE_WINDOW_COUNT": str(COUNT),
            "LEADER_LEASE_TTL": str(LEASE_TTL),
            "JOIN_RATE_LIMIT": "0",
        },
        directory / f"instance-{index}.log",
    )


@pytest.fixture
def instances(redis_url: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    try:
        for index in range(3):
            started.append(start_instance(redis_url, tmp_path, index).start())
        yield started
    finally:
        for instance in started:
            instance.stop()


@dataclass
class SlideLog:
    """Every slide seen in the window hash, as (Redis ms of the slide, slides counter, when it was due)."""

    seen: list[tuple[int, int, int | None]]
    next_due: int | None = None

    def gaps_ms(self) -> list[int]:
        return [b[0] - a[0] for a, b in itertools.pairwise(self.seen)]

    def counters_step_by_one(self) -> bool:
        return all(b[1] - a[1] == 1 for a, b in itertools.pairwise(self.seen))

    def lateness_ms(self) -> list[int]:
        return [at - due for at, _, due in self.seen if due is not None]


async def record_slides(redis: Redis, into: SlideLog) -> None:
    at, slides, due = await redis.hmget(KEYS.window, ["last_slide", "slides", "next_due"])
    if at is not None and slides is not None and (not into.seen or into.seen[-1][1] != int(slides)):
        into.seen.append((int(at), int(slides), into.next_due))
    into.next_due = None if due is None else int(due)


async def lease_holder(redis: Redis) -> str:
    raw = await redis.get(KEYS.leader)
    return raw.decode() if isinstance(raw, bytes) else (raw or "")


async def window_end(redis: Redis) -> int:
    return int(await redis.hget(KEYS.window, "window_end") or 0)


async def test_three_instances_share_one_queue_and_one_slider(instances: list[AppProcess], redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    slides = SlideLog([])
    recorder = repeat(lambda: record_slides(redis, slides), every=0.01, name="slide recorder")
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            # Interleaved joins across the three instances, all in flight at once.
            targets = [instances[i % 3] for i in range(12)]
            responses = await asyncio.gather(*(http.post(f"{t.base_url}/join") for t in targets))
            assert [r.status_code for r in responses] == [201] * 12
            positions = sorted(r.json()["position"] for r in responses)
            assert positions == list(range(1, 13))
            tokens = {r.json()["position"]: r.json()["token"] for r in responses}

            # Statuses from every instance follow the formula while window_end advances.
            statuses_seen: set[str] = set()
            window_ends_seen: set[int] = set()
            pairs = itertools.cycle(itertools.product(instances, sorted(tokens)))
            deadline = time.monotonic() + 10
            while await window_end(redis) < 12:
                assert time.monotonic() < deadline, "the window did not reach 12 in time"
                instance, position = next(pairs)
                before = await window_end(redis)
                response = await http.get(
                    f"{instance.base_url}/status", headers={"Authorization": f"Bearer {tokens[position]}"}
                )
                after = await window_end(redis)
                assert response.status_code == 200
                body = response.json()
                assert body["position"] == position
                # The instance's copy lags Redis by at most one refresh, far less than an interval.
                assert before - SIZE <= body["window_end"] <= after
                assert body["status"] == status_of(position, body["window_end"], SIZE, COUNT).value
                statuses_seen.add(body["status"])
                window_ends_seen.add(body["window_end"])
            assert statuses_seen == {s.value for s in Status} - {Status.PREQUEUE.value}  # no sale is scheduled here
            assert len(window_ends_seen) >= 4

            # Nobody waits any more: the window stays at 12 after exactly five slides at the configured pace.
            await wait_until(lambda: _has(slides, 5), within=2, what="five slides recorded")
            assert int(await redis.hget(KEYS.window, "slides") or 0) == 5
            assert slides.counters_step_by_one(), slides.seen
            # At the configured pace: never before the slide was due, never far behind it (Redis' clock).
            assert all(0 <= late <= LATE_MS for late in slides.lateness_ms()), slides.seen

            # Kill the leader without warning; another instance must take over the schedule.
            holder = await lease_holder(redis)
            assert holder
            (leader,) = [i for i in instances if f"leadership taken by {holder}" in i.log()]
            survivors = [i for i in instances if i is not leader]
            more = await asyncio.gather(*(http.post(f"{survivors[n % 2].base_url}/join") for n in range(8)))
            assert sorted(r.json()["position"] for r in more) == list(range(13, 21))
            leader.kill()
            killed_at = await redis_now_ms(redis)

            async def taken_over() -> bool:
                return await lease_holder(redis) not in ("", holder)

            took = await wait_until(taken_over, within=LEASE_TTL * 2 + 1, what="a new leader")
            # The lease outlives its holder by at most its TTL; the others ask every TTL/3.
            assert took <= LEASE_TTL + LEASE_TTL / 3 + 0.3
            new_holder = await lease_holder(redis)

            async def logged_by_a_survivor() -> bool:
                return any(f"leadership taken by {new_holder}" in s.log() for s in survivors)

            await wait_until(logged_by_a_survivor, within=2, what="the new leader's log line")

            async def window_reached_20() -> bool:
                return await window_end(redis) >= 20

            await wait_until(window_reached_20, within=6, what="window_end 20 after the handover")
            await wait_until(lambda: _has(slides, 9), within=1, what="nine slides recorded")
            first_after = next(at for at, _, _ in slides.seen if at > killed_at)
            assert first_after - killed_at <= (LEASE_TTL + LEASE_TTL / 3 + INTERVAL) * 1000 + 200
            assert int(await redis.hget(KEYS.window, "slides") or 0) == 9
            assert slides.counters_step_by_one(), slides.seen
            # A handover restarts the schedule, so two slides never come less than half an interval apart.
            assert all(gap >= INTERVAL * 500 for gap in slides.gaps_ms()), slides.gaps_ms()

            # The survivors still answer by the formula after the handover.
            for survivor in survivors:
                response = await http.get(
                    f"{survivor.base_url}/status", headers={"Authorization": f"Bearer {tokens[12]}"}
                )
                body = response.json()
                assert body["status"] == status_of(12, body["window_end"], SIZE, COUNT).value
    finally:
        await stop_task(recorder)
        await redis.aclose()


async def _has(slides: SlideLog, count: int) -> bool:
    return len(slides.seen) >= count
