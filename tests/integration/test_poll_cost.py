"""A status poll costs Redis nothing, also with the console's state (pause, pace, message, epoch) in place."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis

from tests.support.web import ClientFactory

ADMIN = "poll-cost-admin-token-" + "p" * 30
BEARER = {"Authorization": f"Bearer {ADMIN}"}
POLLS = 400


def commands_served(raw: redis.Redis) -> int:
    """Every command Redis has executed so far (INFO commandstats), the INFO calls included."""
    stats = raw.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def test_four_hundred_polls_cost_no_redis_command(make_client: ClientFactory, redis_url: str) -> None:
    # Background traffic made rare: one window read every 5 s, the lease renewed every 200 s.
    client = make_client(ADMIN_TOKEN=ADMIN, SNAPSHOT_REFRESH="5", LEADER_LEASE_TTL="600")
    tokens = [client.post("/join").json()["token"] for _ in range(3)]
    client.put("/admin/api/message", headers=BEARER, json={"text": "Doors open at ten"})
    client.put("/admin/api/pace", headers=BEARER, json={"window_size": 1})
    client.post("/admin/api/pause", headers=BEARER)
    with redis.Redis.from_url(redis_url) as raw:
        before = commands_served(raw)
        for i in range(POLLS):
            response = client.get("/status", headers={"Authorization": f"Bearer {tokens[i % 3]}"})
            assert response.status_code == 200
        after = commands_served(raw)
    # The INFO call itself, plus at most a window read and an activity report that fell in the run.
    assert after - before <= 6, f"{after - before} Redis commands for {POLLS} polls"


def test_prequeue_polls_and_draw_reads_cost_no_redis_command(make_client: ClientFactory, redis_url: str) -> None:
    """Before a scheduled sale opens, status polls, the room's fragment and GET /draw read the window copy only."""
    opens = datetime.fromtimestamp(time.time() + 3600, tz=UTC).isoformat()
    client = make_client(SALE_OPENS_AT=opens, SNAPSHOT_REFRESH="5", LEADER_LEASE_TTL="600")
    tokens = [client.post("/join").json()["token"] for _ in range(3)]
    with redis.Redis.from_url(redis_url) as raw:
        before = commands_served(raw)
        for i in range(POLLS):
            response = client.get("/status", headers={"Authorization": f"Bearer {tokens[i % 3]}"})
            assert response.json()["status"] == "prequeue"
            if i % 10 == 0:
                assert client.get("/draw").status_code == 200
        after = commands_served(raw)
    assert after - before <= 6, f"{after - before} Redis commands for {POLLS} pre-queue polls"
