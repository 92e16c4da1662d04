"""The leader lease on a real Redis: one holder among contenders, fenced renew/release, takeover on expiry."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from tests.support import wait_until
from tests.support.stores import make_store
from webapp.queue.keys import QueueKeys
from webapp.queue.leader import Lease, new_instance_id
from webapp.queue.slider import Slider


def leases(client: Redis, keys: QueueKeys, count: int, ttl: float) -> list[Lease]:
    return [Lease(client, keys.leader, new_instance_id(), ttl) for _ in range(count)]


async def test_exactly_one_of_five_contenders_acquires(redis_url: str, keys: QueueKeys) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(5)]
    try:
        contenders = [Lease(c, keys.leader, new_instance_id(), 5) for c in clients]
        won = await asyncio.gather(*(lease.acquire() for lease in contenders))
        assert won.count(True) == 1
        holder = contenders[won.index(True)]
        assert await clients[0].get(keys.leader) == holder.instance_id.encode()
        assert 0 < await clients[0].pttl(keys.leader) <= 5_000
    finally:
        for c in clients:
            await c.aclose()


async def test_instance_ids_are_unique_and_name_the_host() -> None:
    ids = {new_instance_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(":" in i and len(i.rsplit(":", 1)[1]) == 12 for i in ids)


async def test_renew_by_the_holder_extends_the_ttl(client: Redis, keys: QueueKeys) -> None:
    holder, _ = leases(client, keys, 2, ttl=10)
    assert await holder.acquire()
    await client.pexpire(keys.leader, 100)  # as if most of the lease had run out
    assert await holder.acquire()
    assert await client.pttl(keys.leader) > 9_000


async def test_a_non_holder_can_neither_renew_nor_release(client: Redis, keys: QueueKeys) -> None:
    holder, other = leases(client, keys, 2, ttl=10)
    assert await holder.acquire()
    await client.pexpire(keys.leader, 2_000)
    assert not await other.acquire()
    assert await client.pttl(keys.leader) <= 2_000  # not extended by the non-holder
    assert not await other.release()
    assert await client.get(keys.leader) == holder.instance_id.encode()


async def test_another_acquires_after_the_holder_lease_expires(client: Redis, keys: QueueKeys) -> None:
    holder, other = leases(client, keys, 2, ttl=0.3)
    assert await holder.acquire()
    acquired_at = time.monotonic()
    assert not await other.acquire()
    await wait_until(other.acquire, within=2.0, what="takeover after expiry")
    assert time.monotonic() - acquired_at >= 0.25  # not before the holder's TTL ran out
    assert await client.get(keys.leader) == other.instance_id.encode()
    assert not await holder.acquire()  # the former holder cannot take it back while it lives
    assert not await holder.release()


async def test_release_lets_another_acquire_at_once(client: Redis, keys: QueueKeys) -> None:
    holder, other = leases(client, keys, 2, ttl=30)
    assert await holder.acquire()
    assert not await other.acquire()
    assert await holder.release()
    assert await client.exists(keys.leader) == 0
    assert await other.acquire()
    assert not await holder.release()  # releasing twice does not touch the successor's lease
    assert await client.get(keys.leader) == other.instance_id.encode()


async def test_stop_releases_a_lease_the_slider_stopped_believing_in(client: Redis, keys: QueueKeys) -> None:
    """A Redis error clears ``leading`` while the lease is still ours; shutdown must still hand it back,
    and a follower's shutdown must leave the leader's lease alone."""
    store = make_store(client)
    ours, theirs = (Slider(store, lease) for lease in leases(client, keys, 2, ttl=10))
    assert await ours.lease.acquire()
    ours.leading = False  # what a failed renewal leaves behind
    await theirs.stop()
    assert await client.get(keys.leader) == ours.lease.instance_id.encode()
    await ours.stop()
    assert await client.exists(keys.leader) == 0
