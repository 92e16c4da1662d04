"""A Redis outage keeps every replica in the Service (issue 15 item 8), judged by the manifests' own
readiness probe: its path, timeout, period and failure threshold."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.support import RedisServer, wait_until_sync
from tests.support.web import ClientFactory

DEPLOYMENT = Path(__file__).resolve().parents[2] / "k8s" / "deployment.yaml"
HTML = {"Accept": "text/html"}


def readiness_probe() -> dict[str, Any]:
    manifests = [m for m in yaml.safe_load_all(DEPLOYMENT.read_text()) if m and m.get("kind") == "Deployment"]
    container = manifests[0]["spec"]["template"]["spec"]["containers"][0]
    probe: dict[str, Any] = container["readinessProbe"]
    return probe


def test_a_whole_redis_outage_leaves_every_replica_ready(make_client: ClientFactory, redis_server: RedisServer) -> None:
    probe = readiness_probe()
    path = probe["httpGet"]["path"]
    period, threshold, timeout = probe["periodSeconds"], probe["failureThreshold"], probe["timeoutSeconds"]
    replicas = [make_client(WINDOW_SIZE="1", SNAPSHOT_REFRESH="0.05", REDIS_TIMEOUT="0.2") for _ in range(2)]
    replicas[0].post("/join")
    token = replicas[0].post("/join").json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for replica in replicas:
        assert replica.get(path).status_code == 200
    redis_server.stop()

    def all_stale() -> bool:
        return all(r.get("/status", headers=bearer).json()["reconnecting"] for r in replicas)

    wait_until_sync(all_stale, 10, what="every replica's window copy marked stale")
    # Kubernetes marks a pod unready after `threshold` failures `period` apart: probe for longer than that.
    deadline = time.monotonic() + threshold * period + 1
    probes = 0
    while time.monotonic() < deadline:
        for replica in replicas:
            started = time.monotonic()
            answer = replica.get(path)
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - started < timeout
            probes += 1
        time.sleep(0.5)
    assert probes >= 2 * threshold
    for replica in replicas:
        # What visitors reach through the Service meanwhile: their place, marked reconnecting.
        status = replica.get("/status", headers=bearer).json()
        assert (status["position"], status["status"], status["reconnecting"]) == (2, "waiting", True)
        replica.cookies.set("sq_ticket", token)
        page = replica.get("/", headers=HTML)
        assert page.status_code == 200
        assert "your place is safe" in page.text
        # The Redis-health signal for monitoring still tells the truth.
        assert replica.get("/readyz").status_code == 503


def test_a_replica_that_never_read_the_window_is_not_ready(
    make_client: ClientFactory, redis_server: RedisServer
) -> None:
    path = readiness_probe()["httpGet"]["path"]
    redis_server.stop()
    replica = make_client(REDIS_TIMEOUT="0.2")
    answer = replica.get(path)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    redis_server.start()
    wait_until_sync(lambda: replica.get(path).status_code == 200, 10, what="ready once Redis answers")
