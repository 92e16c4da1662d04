"""Build the Redis client from ``REDIS_URL``, with bounded timeouts on every call and no blind retries.

Three deployments are understood:

- one server: ``redis://``, ``rediss://``, ``unix://`` (redis-py's own URL forms);
- Sentinel: ``redis+sentinel://[user:password@]host1:port1,host2:port2/<service>[/<db>]``, optional
  ``?sentinel_username=...&sentinel_password=...`` for sentinels that require their own credentials;
- Cluster: ``redis+cluster://[user:password@]host1:port1,host2:port2``.

The ``rediss+`` forms use TLS for every connection (sentinels included).

No automatic retries anywhere: a join re-sent after a lost reply would take a second position. The
caller answers 503 instead, and the loops (watcher, slider) retry on their own schedule. What is still
re-sent is safe by construction: on Cluster, a MOVED/ASK/TRYAGAIN redirect is followed (the node
refused the command, so it did not run), and a script unknown to a new master is loaded and called
again (NOSCRIPT: it did not run either).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

from webapp.redis_url import Address, ClusterTarget, SentinelTarget, parse_cluster_url, parse_sentinel_url, url_kind

__all__ = [
    "ClusterTarget",
    "RedisClient",
    "SentinelMaster",
    "SentinelTarget",
    "connect",
    "parse_cluster_url",
    "parse_sentinel_url",
]

RedisClient: TypeAlias = Redis | RedisCluster

MAX_CONNECTIONS = 512
"""Connections one process may open to Redis (per node on Cluster)."""


def _no_retry() -> Retry:
    return Retry(NoBackoff(), retries=0)


class _Sentinels(Sentinel):
    """redis-py's Sentinel, with a master lookup that is safe when several run at once.

    redis-py moves the sentinel that answered to the front of its list by *index*, after an await;
    concurrent lookups (every request reconnecting after a failover) interleave those swaps, so one
    sentinel ends up listed twice and another is dropped for good (and its connections leak). Seen in
    tests/ha/test_sentinel.py with four concurrent joiners. Here the list is rebuilt by identity.
    """

    async def discover_master(self, service_name: str) -> Address:
        errors = []
        for sentinel in tuple(self.sentinels):
            try:
                masters = await sentinel.sentinel_masters()
            except (ConnectionError, TimeoutError) as exc:
                errors.append(f"{sentinel} - {exc!r}")
                continue
            state = masters.get(service_name) if isinstance(masters, dict) else None
            if state and self.check_master_state(state, service_name):
                self.sentinels = [sentinel, *(other for other in self.sentinels if other is not sentinel)]
                return state["ip"], int(state["port"])
        detail = f" : {', '.join(errors)}" if errors else ""
        raise MasterNotFoundError(f"No master found for {service_name!r}{detail}")


class SentinelMaster(Redis):
    """The current master of a Sentinel service; closing it also closes the connections to the sentinels."""

    sentinels: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            if self.sentinels is not None:
                await self.sentinels.aclose()


def _sentinel_client(target: SentinelTarget, timeout: float) -> SentinelMaster:
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        # Asking a sentinel is read-only, but one attempt per sentinel keeps a lookup bounded.
        "retry": _no_retry(),
        "username": target.sentinel_username,
        "password": target.sentinel_password,
    }
    if target.ssl:
        sentinel_kwargs["ssl"] = True
    sentinel = _Sentinels(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call,unused-ignore]
    master_kwargs: dict[str, Any] = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": _no_retry(),
        "health_check_interval": 30,
        "max_connections": MAX_CONNECTIONS,
    }
    if target.ssl:
        master_kwargs["ssl"] = True
    client = sentinel.master_for(target.service_name, redis_class=SentinelMaster, **master_kwargs)
    assert isinstance(client, SentinelMaster)
    client.sentinels = sentinel
    return client


def _cluster_client(target: ClusterTarget, timeout: float) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # retries=0 turns off the cluster-level re-send after a connection error or timeout (the
        # default re-sends up to 3 times); redirects (MOVED/ASK/TRYAGAIN) are still followed.
        retry=_no_retry(),
        health_check_interval=30,
        max_connections=MAX_CONNECTIONS,
    )


def connect(url: str, timeout: float) -> RedisClient:
    """A client whose calls fail within about ``timeout`` seconds instead of hanging while Redis is away."""
    kind = url_kind(url)
    if kind == "sentinel":
        return _sentinel_client(parse_sentinel_url(url), timeout)
    if kind == "cluster":
        return _cluster_client(parse_cluster_url(url), timeout)
    # A burst of concurrent joins must queue for a connection (bounded by ``timeout``), not fail:
    # redis-py's default pool raises "Too many connections" past 100.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(),
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
