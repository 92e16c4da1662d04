"""The queue on a real 3-node Redis Cluster, through the client ``connect()`` builds from a redis+cluster URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio.cluster import RedisCluster

from tests.ha.checks import check_queue_works
from tests.support import ClusterSetup
from webapp.queue.keys import queue_keys
from webapp.redis_client import connect

QUEUE_NAMES = ["main", "spring-sale", "tour:2026", "a", "{odd}", "späti"]


@pytest.fixture
async def cluster(cluster_setup: ClusterSetup) -> AsyncIterator[RedisCluster]:
    client = connect(cluster_setup.url, timeout=1.0)
    assert isinstance(client, RedisCluster)
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_queue_works_on_cluster(cluster: RedisCluster) -> None:
    await check_queue_works(cluster, "cluster-main")


async def test_queues_spread_over_the_nodes_and_each_keeps_to_its_own(cluster: RedisCluster) -> None:
    """Many queues land on different primaries; each one's scripts still run, on its single slot."""
    owners = set()
    for index in range(12):
        queue = f"spread-{index}"
        await check_queue_works(cluster, queue)
        slot = await cluster.cluster_keyslot(queue_keys(queue).counter)
        owners.add(cluster.nodes_manager.get_node_from_slot(slot).name)
        assert await cluster.cluster_countkeysinslot(slot) >= 2
    assert len(owners) == 3, f"12 queues all landed on {owners}"


@pytest.mark.parametrize("queue", QUEUE_NAMES)
async def test_all_keys_of_a_queue_share_one_slot(cluster: RedisCluster, queue: str) -> None:
    keys = queue_keys(queue)
    names = [
        keys.counter,
        keys.window,
        keys.leader,
        keys.claim("some-ticket"),
        keys.join_log("203.0.113.9"),
        keys.join_log("2001:db8::/64"),
    ]
    slots = {await cluster.cluster_keyslot(name) for name in names}
    assert len(slots) == 1
    assert slots == {await cluster.cluster_keyslot(keys.tag)}
