"""Parsing of the Sentinel and Cluster forms of REDIS_URL (pure, no server)."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError

from webapp.redis_client import (
    ClusterTarget,
    SentinelMaster,
    SentinelTarget,
    connect,
    parse_cluster_url,
    parse_sentinel_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster",
            SentinelTarget(sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380)), service_name="mymaster"),
        ),
        (
            "redis+sentinel://s1,s2,s3/queue/3",
            SentinelTarget(sentinels=(("s1", 26379), ("s2", 26379), ("s3", 26379)), service_name="queue", db=3),
        ),
        (
            "rediss+sentinel://app:p%40ss%3Aword@s1:5000/mymaster/",
            SentinelTarget(
                sentinels=(("s1", 5000),), service_name="mymaster", username="app", password="p@ss:word", ssl=True
            ),
        ),
        (
            "redis+sentinel://:secret@[::1]:26379,[fd00::2]/m?sentinel_password=s%26p&sentinel_username=watch",
            SentinelTarget(
                sentinels=(("::1", 26379), ("fd00::2", 26379)),
                service_name="m",
                password="secret",
                sentinel_username="watch",
                sentinel_password="s&p",
            ),
        ),
    ],
)
def test_sentinel_urls(url: str, expected: SentinelTarget) -> None:
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+cluster://n1:7000,n2:7001,n3:7002",
            ClusterTarget(nodes=(("n1", 7000), ("n2", 7001), ("n3", 7002))),
        ),
        ("redis+cluster://n1/0", ClusterTarget(nodes=(("n1", 6379),))),
        (
            "rediss+cluster://default:pw@n1:7000",
            ClusterTarget(nodes=(("n1", 7000),), username="default", password="pw", ssl=True),
        ),
    ],
)
def test_cluster_urls(url: str, expected: ClusterTarget) -> None:
    assert parse_cluster_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel://s1:26379/", "service name"),
        ("redis+sentinel://s1:26379/m/1/2", "service name"),
        ("redis+sentinel://s1:26379/m/one", "database must be a number"),
        ("redis+sentinel:///m", "host:port"),
        ("redis+sentinel://s1,,s2/m", "host:port"),
        ("redis+sentinel://s1:port/m", "bad port"),
        ("redis+sentinel://s1:70000/m", "bad port"),
        ("redis+sentinel://:1/m", "missing host"),
        ("redis+sentinel://[::1/m", "IPv6"),
        ("redis+sentinel://s1/m?sentinel_pasword=x", "unknown option 'sentinel_pasword'"),
        ("redis+sentinel://s1/m#x", "fragment"),
        ("redis+cluster://n1/m", "expected a redis+sentinel"),
    ],
)
def test_bad_sentinel_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as raised:
        parse_sentinel_url(url)
    assert message.lower() in str(raised.value).lower()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis+cluster://n1:7000?read_from_replicas=yes", "no options"),
        ("redis+cluster://", "host:port"),
        ("redis+sentinel://s1/m", "expected a redis+cluster"),
    ],
)
def test_bad_cluster_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as raised:
        parse_cluster_url(url)
    assert message in str(raised.value)


def test_errors_do_not_repeat_the_password() -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as raised:
        parse_sentinel_url("redis+sentinel://app:hunter2-very-secret@s1:26379")
    assert "hunter2" not in str(raised.value)
    assert "app:***@s1:26379" in str(raised.value)


async def test_connect_builds_the_client_each_form_needs() -> None:
    """No connection is made until the first command, so unreachable addresses are fine here."""
    plain = connect("redis://127.0.0.1:1/0", 0.5)
    sentinel = connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/m/2", 0.5)
    cluster = connect("redis+cluster://127.0.0.1:1", 0.5)
    try:
        assert type(plain) is Redis
        assert isinstance(sentinel, SentinelMaster)
        assert sentinel.connection_pool.connection_kwargs["db"] == 2
        retry = sentinel.get_retry()
        assert retry is not None
        assert retry.get_retries() == 0
        assert isinstance(cluster, RedisCluster)
        assert cluster.retry.get_retries() == 0
        for client in (plain, sentinel):
            kwargs = client.connection_pool.connection_kwargs
            assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    finally:
        for opened in (plain, sentinel, cluster):
            await opened.aclose()


async def test_no_sentinel_answering_is_a_prompt_connection_error() -> None:
    """The 503 path: MasterNotFoundError is a ConnectionError, raised after one pass over the sentinels."""
    client = connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/m", 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionError, match="No master found for 'm'"):
            await client.ping()
    finally:
        await client.aclose()
    assert time.monotonic() - started < 2
