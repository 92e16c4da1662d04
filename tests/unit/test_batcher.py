"""Coalesced joins: concurrent callers share round trips and get contiguous positions in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from webapp.queue.batcher import JoinBatcher
from webapp.queue.joinlimit import JoinLimited
from webapp.queue.store import IssuedBatch


class Counter:
    """Stands in for the join.lua round trip (the Redis side is tested in tests/integration): clients named
    in ``refused`` are over their limit and wait ``refused[client]`` ms."""

    def __init__(self, refused: dict[str, int] | None = None) -> None:
        self.last = 0
        self.calls: list[int] = []
        self.clients: list[list[str]] = []
        self.refused = refused or {}
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def join_many(self, clients: Sequence[str]) -> IssuedBatch:
        self.calls.append(len(clients))
        self.clients.append(list(clients))
        self.entered.set()
        await self.gate.wait()
        waits = tuple(self.refused.get(client, 0) for client in clients)
        first = self.last + 1
        self.last += waits.count(0)
        return IssuedBatch(first, window_end=10, epoch=0, prequeue=False, waits=waits)


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

    async def flaky(clients: Sequence[str]) -> IssuedBatch:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("redis went away")
        return IssuedBatch(1, window_end=10, epoch=0, prequeue=False, waits=(0,) * len(clients))

    batcher = JoinBatcher(flaky)
    with pytest.raises(ConnectionError):
        await batcher.join()
    assert (await batcher.join()).first == 1


async def test_refused_joins_take_no_position_and_the_others_stay_contiguous_in_arrival_order() -> None:
    counter = Counter(refused={"203.0.113.9": 12_345})
    counter.gate.set()
    batcher = JoinBatcher(counter.join_many)
    clients = ["203.0.113.1", "203.0.113.9", "203.0.113.2", "203.0.113.9", "203.0.113.3"]
    results = await asyncio.gather(*(batcher.join(c) for c in clients), return_exceptions=True)
    assert counter.clients == [clients]  # one round trip carries every join's client, in arrival order
    placed = [r for r in results if not isinstance(r, BaseException)]
    assert [(r.first, r.last) for r in placed] == [(1, 1), (2, 2), (3, 3)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert [type(r) for r in refused] == [JoinLimited, JoinLimited]
    assert [r.retry_after for r in refused if isinstance(r, JoinLimited)] == [13, 13]  # 12.345 s, rounded up


async def test_a_caller_cancelled_in_flight_keeps_the_positions_of_the_others_unique() -> None:
    counter = Counter()
    batcher = JoinBatcher(counter.join_many)
    first = asyncio.create_task(batcher.join("a"))
    gone = asyncio.create_task(batcher.join("b"))
    last = asyncio.create_task(batcher.join("c"))
    await counter.entered.wait()
    gone.cancel()
    counter.gate.set()
    assert [(await first).first, (await last).first] == [1, 3]  # position 2 was issued to the caller who left
    assert counter.calls == [3]
