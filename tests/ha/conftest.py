"""Real Redis HA topologies for these tests: Sentinel (master, replica, three sentinels) and Cluster.

The launchers live in :mod:`tests.support.redis_servers`; these fixtures only choose their lifetimes:
a fresh Sentinel setup per test (a test may kill its master), one Cluster per module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ClusterSetup, SentinelSetup, redis_servers


@pytest.fixture
def sentinel_setup() -> Iterator[SentinelSetup]:
    """A fresh master + replica watched by three sentinels (quorum 2); a test may kill the master."""
    with redis_servers.sentinel_setup() as setup:
        yield setup


@pytest.fixture(scope="module")
def cluster_setup() -> Iterator[ClusterSetup]:
    """Three primaries sharing the 16384 slots (no replicas), ready when every node says cluster_state:ok."""
    with redis_servers.cluster_setup() as setup:
        yield setup
