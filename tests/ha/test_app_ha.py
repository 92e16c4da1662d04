"""The whole app (create_app: lifespan, probes, joins, rate limit, statuses) over Sentinel and Cluster URLs."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from tests.support import TEST_SECRET, ClusterSetup, SentinelSetup
from webapp.app import create_app
from webapp.settings import Settings


def exercise(url: str) -> None:
    env = {"REDIS_URL": url, "JWT_SECRET": TEST_SECRET, "WINDOW_SIZE": "2", "JOIN_RATE_LIMIT": "4", "QUEUE_NAME": "hq"}
    with TestClient[Litestar](create_app(Settings.from_env(env)), base_url="http://room.test") as client:
        assert client.get("/readyz").status_code == 200
        joins = [client.post("/join") for _ in range(4)]
        assert [j.status_code for j in joins] == [201] * 4
        assert [j.json()["position"] for j in joins] == [1, 2, 3, 4]
        assert client.post("/join").status_code == 429  # the limiter's keys live on the same Redis
        statuses = [
            client.get("/status", headers={"Authorization": f"Bearer {j.json()['token']}"}).json()["status"]
            for j in joins
        ]
        assert statuses == ["active", "active", "waiting", "waiting"]


def test_the_app_serves_the_queue_over_cluster(cluster_setup: ClusterSetup) -> None:
    cluster_setup.flushall()
    exercise(cluster_setup.url)


def test_the_app_serves_the_queue_over_sentinel(sentinel_setup: SentinelSetup) -> None:
    exercise(sentinel_setup.url)


def test_three_replicas_on_cluster_behave_as_one_fair_queue(cluster_setup: ClusterSetup) -> None:
    cluster_setup.flushall()
    env = {"REDIS_URL": cluster_setup.url, "JWT_SECRET": TEST_SECRET, "WINDOW_SIZE": "3", "JOIN_RATE_LIMIT": "0"}
    apps = [create_app(Settings.from_env({**env, "QUEUE_NAME": "three"})) for _ in range(3)]
    clients = [TestClient[Litestar](app, base_url="http://room.test") for app in apps]
    for client in clients:
        client.__enter__()
    try:
        joined = [clients[i % 3].post("/join").json() for i in range(12)]  # round robin over replicas
        assert [j["position"] for j in joined] == list(range(1, 13))
        for client in clients:  # every replica reads every ticket the same way
            statuses = [
                client.get("/status", headers={"Authorization": f"Bearer {j['token']}"}).json()["status"]
                for j in joined
            ]
            assert statuses == ["active"] * 3 + ["waiting"] * 9
    finally:
        for client in clients:
            client.__exit__(None, None, None)
