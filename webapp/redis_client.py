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

from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

RedisClient: TypeAlias = Redis | RedisCluster

DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379
_SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password"})

Address: TypeAlias = tuple[str, int]


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are and which master service they watch."""

    sentinels: tuple[Address, ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


@dataclass(frozen=True)
class ClusterTarget:
    """The nodes a cluster client learns the slot map from."""

    nodes: tuple[Address, ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False


MAX_CONNECTIONS = 512
"""Connections one process may open to Redis (per node on Cluster)."""


def _invalid(url: str, why: str) -> ValueError:
    return ValueError(f"REDIS_URL: {why} (got {_redacted(url)!r})")


def _redacted(url: str) -> str:
    """The URL with any password replaced, so it can go into an error message or a log."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{hosts}"


def _address(url: str, item: str, default_port: int) -> Address:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if item.startswith("["):
        host, bracket, rest = item[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _invalid(url, f"bad IPv6 address {item!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise _invalid(url, f"missing host in {item!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _invalid(url, f"bad port in {item!r}")
    return host, int(port_text)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    """``user:password``, ``:password`` or ``user``, percent-decoded; empty parts are None."""
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) or None) if colon else None


def _split(
    url: str, schemes: tuple[str, str], default_port: int
) -> tuple[SplitResult, tuple[Address, ...], str | None, str | None]:
    """Scheme check, then the credentials and the host list that ``urlsplit`` cannot read (several hosts)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise _invalid(url, str(exc)) from None
    if parts.scheme not in schemes:
        raise _invalid(url, f"expected a {' or '.join(schemes)} URL")
    if parts.fragment:
        raise _invalid(url, "a fragment has no meaning here")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    items = [item.strip() for item in hosts.split(",")]
    if not hosts or any(not item for item in items):
        raise _invalid(url, "expected a comma-separated list of host:port")
    addresses = tuple(_address(url, item, default_port) for item in items)
    username, password = _credentials(userinfo)
    return parts, addresses, username, password


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Read ``redis+sentinel://[user:password@]host:port,.../<service>[/<db>][?sentinel_password=...]``."""
    parts, sentinels, username, password = _split(url, ("redis+sentinel", "rediss+sentinel"), DEFAULT_SENTINEL_PORT)
    segments = [unquote(s) for s in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    if not segments or len(segments) > 2:
        raise _invalid(url, "expected the master's service name as the path: /<service>[/<db>]")
    service_name = segments[0]
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise _invalid(url, f"the database must be a number, got {segments[1]!r}")
        db = int(segments[1])
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)):
        if name not in _SENTINEL_OPTIONS:
            raise _invalid(url, f"unknown option {name!r}; known: {', '.join(sorted(_SENTINEL_OPTIONS))}")
        options[name] = value
    return SentinelTarget(
        sentinels=sentinels,
        service_name=service_name,
        db=db,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        ssl=parts.scheme.startswith("rediss"),
    )


def parse_cluster_url(url: str) -> ClusterTarget:
    """Read ``redis+cluster://[user:password@]host:port,host:port``: any node will do, the rest is discovered."""
    parts, nodes, username, password = _split(url, ("redis+cluster", "rediss+cluster"), DEFAULT_REDIS_PORT)
    if parts.path.strip("/") not in ("", "0"):
        raise _invalid(url, "Redis Cluster has only database 0")
    if parts.query:
        raise _invalid(url, "a cluster URL takes no options")
    return ClusterTarget(nodes=nodes, username=username, password=password, ssl=parts.scheme.startswith("rediss"))


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
    sentinel = _Sentinels(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
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
    scheme = url.partition("://")[0].lower()
    if scheme.endswith("+sentinel"):
        return _sentinel_client(parse_sentinel_url(url), timeout)
    if scheme.endswith("+cluster"):
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
