"""``GET /auth`` sits on every request a proxy protects: it costs Redis nothing and keeps working without it.

``POST /pass`` needs Redis (the one-time admission claim): while Redis is away it answers 503 with
``Retry-After``, and nobody is admitted.
"""

from __future__ import annotations

import redis

from tests.integration.test_poll_cost import commands_served
from tests.support import RedisServer
from tests.support.web import Client, ClientFactory

CALLS = 400


def _pass(client: Client) -> str:
    """A pass for a new, active ticket, through the API."""
    ticket = client.post("/join").json()["token"]
    response = client.post("/pass", headers={"Authorization": f"Bearer {ticket}"})
    assert response.status_code == 201, response.text
    return str(response.json()["pass"])


def test_four_hundred_auth_calls_cost_no_redis_command(make_client: ClientFactory, redis_url: str) -> None:
    # Background traffic made rare, as in the poll-cost test: one window read every 5 s, rare lease renewals.
    client = make_client(SNAPSHOT_REFRESH="5", LEADER_LEASE_TTL="600", WINDOW_SIZE="5")
    passes = [_pass(client) for _ in range(3)]
    client.cookies.clear()
    with redis.Redis.from_url(redis_url) as raw:
        before = commands_served(raw)
        for i in range(CALLS):
            headers = {"Cookie": f"sq_pass={passes[i % 3]}"} if i % 2 else {"Authorization": f"Bearer {passes[i % 3]}"}
            response = client.get("/auth", headers=headers)
            assert response.status_code == 200
        for _ in range(50):  # denials are free too
            assert client.get("/auth", headers={"Cookie": "sq_pass=a.b.c"}).status_code == 401
            assert client.get("/auth?deny=redirect", follow_redirects=False).status_code == 302
        after = commands_served(raw)
    # The INFO call itself, plus at most a window read and an activity report that fell in the run.
    assert after - before <= 6, f"{after - before} Redis commands for {CALLS + 100} /auth calls"


def test_without_redis_auth_still_admits_passes_and_post_pass_is_503(
    make_client: ClientFactory, redis_server: RedisServer
) -> None:
    client = make_client(WINDOW_SIZE="5")
    issued = _pass(client)
    ticket = client.post("/join").json()["token"]  # active, not yet exchanged
    redis_server.stop()
    try:
        allowed = client.get("/auth", headers={"Authorization": f"Bearer {issued}"})
        assert allowed.status_code == 200
        refused = client.post("/pass", headers={"Authorization": f"Bearer {ticket}"})
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert "pass" not in refused.json()
    finally:
        redis_server.start()
