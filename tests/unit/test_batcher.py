"""Coalesced joins: concurrent callers share round trips and get contiguous positions in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from webapp.queue.batcher import JoinBatcher
from webapp.queue.store import IssuedRange


class Counter:
    """Stands in for the INCRBY round trip (the Redis side is tested in tests/integration)."""

    def __init__(self) -> None:
        self.last = 0
        self.calls: list[int] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def join_many(self, count: int) -> IssuedRange:
        self.calls.append(count)
        self.entered.set()
        await self.gate.wait()
        first, self.last = self.last + 1, self.last + count
        return IssuedRange(first, self.last, window_end=10)


async def test_callers_waiting_on_one_round_trip_share_the_next() -> None:
    counter = Counter()
    batcher = JoinBatcher(counter.join_many)
    early = [asyncio.create_task(batcher.join()) for _ in range(10)]
    await counter.entered.wait()  # the first round trip is now in flight, held at the gate
    late = [asyncio.create_task(batcher.join()) for _ in range(90)]
    await asyncio.sleep(0)
    counter.gate.set()
    issued = await asyncio.gather(*early, *late)
    assert [r.first for r in issued] == list(range(1, 101))  # arrival order, contiguous
    assert all(r.first == r.last for r in issued)
    assert counter.calls == [10, 90]
    assert batcher.round_trips == 2


async def test_batches_are_capped() -> None:
    counter = Counter()
    counter.gate.set()
    batcher = JoinBatcher(counter.join_many, max_batch=10)
    issued = await asyncio.gather(*(batcher.join() for _ in range(35)))
    assert sorted(r.first for r in issued) == list(range(1, 36))
    assert max(counter.calls) <= 10


async def test_a_failed_round_trip_fails_its_callers_only() -> None:
    attempts = 0

    async def flaky(count: int) -> IssuedRange:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("redis went away")
        return IssuedRange(1, count, window_end=10)

    batcher = JoinBatcher(flaky)
    with pytest.raises(ConnectionError):
        await batcher.join()
    assert (await batcher.join()).first == 1
