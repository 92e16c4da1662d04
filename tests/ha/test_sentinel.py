"""The queue behind Redis Sentinel, through the client ``connect()`` builds from a redis+sentinel URL.

The failover test kills the master with SIGKILL while joins are running and checks invariant 1 of the
product: no position is issued twice, and every position issued after the failover is above every
position issued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.exceptions import RedisError

from tests.ha.checks import check_queue_works
from tests.support import SentinelSetup, background, wait_until
from webapp.queue.keys import queue_keys
from webapp.queue.store import QueueStore
from webapp.redis_client import RedisClient, SentinelMaster, connect

JOINERS = 4
JOINS_BEFORE_KILL = 300
JOINS_AFTER_FAILOVER = 200
FAILOVER_BUDGET = 20.0


@pytest.fixture
async def master(sentinel_setup: SentinelSetup) -> AsyncIterator[RedisClient]:
    client = connect(sentinel_setup.url, timeout=0.5)
    assert isinstance(client, SentinelMaster)
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_queue_works_on_sentinel(master: RedisClient, sentinel_setup: SentinelSetup) -> None:
    await check_queue_works(master, "sentinel-main")
    info = await master.info("server")
    assert int(info["tcp_port"]) == sentinel_setup.master.port


@dataclass
class JoinLog:
    """Positions acknowledged to the joiners, with when (monotonic) each reply arrived."""

    issued: list[tuple[float, int]] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)

    def after(self, moment: float) -> list[int]:
        return [position for at, position in self.issued if at > moment]

    def before(self, moment: float) -> list[int]:
        return [position for at, position in self.issued if at <= moment]


def visitor(store: QueueStore, log: JoinLog) -> Callable[[], Awaitable[None]]:
    """One join, logged; a failed join is a 503 the visitor retries a moment later.

    Run in a loop by :func:`tests.support.background`, whose cancellation guard stops it even when
    redis-py loses the ``Task.cancel()`` (Python 3.11's ``asyncio.wait_for`` can swallow one that lands
    as the I/O completes). The position is logged in the same step as the reply arrives, so a cancelled
    turn never leaves an acknowledged position out of the log.
    """

    async def join_once() -> None:
        try:
            issued = await store.join()
        except RedisError as exc:
            log.errors.append((time.monotonic(), type(exc).__name__))
            await asyncio.sleep(0.02)
        else:
            log.issued.append((time.monotonic(), issued.last))

    return join_once


async def test_sigkill_of_the_master_never_issues_a_position_twice(
    master: RedisClient, sentinel_setup: SentinelSetup
) -> None:
    store = QueueStore(master, queue_keys("failover"), 10, 30)
    await store.seed()
    log = JoinLog()
    async with contextlib.AsyncExitStack() as joiners:
        for index in range(JOINERS):
            await joiners.enter_async_context(background(visitor(store, log), name=f"joiner-{index}"))
        await wait_until(lambda: len(log.issued) >= JOINS_BEFORE_KILL, 10, what="joins before the kill")
        sentinel_setup.master.kill()
        killed_at = time.monotonic()

        promoted_at = 0.0

        def promoted() -> bool:
            nonlocal promoted_at
            if sentinel_setup.master_port_seen_by(sentinel_setup.sentinels[0]) == sentinel_setup.replica.port:
                promoted_at = promoted_at or time.monotonic()
            return bool(promoted_at) and len(log.after(killed_at)) >= JOINS_AFTER_FAILOVER

        await wait_until(promoted, FAILOVER_BUDGET, what="promotion of the replica and joins on it")

    assert isinstance(master, SentinelMaster)
    assert master.sentinels is not None
    assert len({id(client) for client in master.sentinels.sentinels}) == 3, "a sentinel fell out of the rotation"
    before, after = log.before(killed_at), log.after(killed_at)
    positions = [position for _, position in log.issued]
    assert len(positions) == len(set(positions)), "a position was issued twice"
    assert min(after) > max(before)
    errors = [(at, name) for at, name in log.errors if at > killed_at]
    # Replies already on their way when the master died arrive just after the kill: skip past the outage.
    first_join_after = min(at for at, _ in log.issued if at > errors[0][0])
    print(
        f"\nsentinel failover: promotion seen {promoted_at - killed_at:.2f} s after SIGKILL, "
        f"first join on the new master {first_join_after - killed_at:.2f} s after; "
        f"{len(before)} joins before, {len(after)} after, {len(errors)} failed joins meanwhile "
        f"({', '.join(sorted({name for _, name in errors}))}); positions resumed at {min(after)} after {max(before)}"
    )

    # A promoted replica that comes up empty (no persistence, restarted) is re-seeded by max-merge
    # from what this process observed, so the counter still does not go back.
    with sentinel_setup.replica.client() as replica:
        replica.flushall()
        assert (await store.join()).last == max(positions) + 1
        # One that kept an older counter (acknowledged joins lost with the old master): the join
        # carries this process's high-water mark as a floor.
        replica.set(store.keys.counter, min(after))
        assert (await store.join()).last == max(positions) + 2
