"""Three replicas on one Redis, started with different environments, steered through the admin API.

The stored pace wins: the first replica seeds it, later ones follow it, and every control reaches all
three through their window copies within one WINDOW_INTERVAL.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import AppProcess, app_process, wait_until_sync
from webapp.queue.keys import queue_keys

ADMIN = "fleet-admin-token-" + "f" * 32
INTERVAL = 2.0


def admin(server: AppProcess, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        server.url(path),
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer: dict[str, Any] = json.load(response)
        return answer


def checkout_status(server: AppProcess, ticket: str) -> int:
    """What a browser holding ``ticket`` gets from /checkout (redirects not followed)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/checkout", headers={"Cookie": f"sq_ticket={ticket}"})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def fleet(redis_url: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    """Replica 0 seeds the queue (1 place every 2 s, 2 windows); 1 and 2 start with other values."""
    envs = [
        {"WINDOW_SIZE": "1", "ACTIVE_WINDOW_COUNT": "2"},
        {"WINDOW_SIZE": "3", "ACTIVE_WINDOW_COUNT": "6"},
        {"WINDOW_SIZE": "50", "ACTIVE_WINDOW_COUNT": "1"},
    ]
    servers: list[AppProcess] = []
    try:
        for i, env in enumerate(envs):
            server = app_process(
                redis_url, tmp_path / f"replica-{i}.log", ADMIN_TOKEN=ADMIN, WINDOW_INTERVAL=str(INTERVAL), **env
            )
            servers.append(server.start())
        yield servers
    finally:
        for server in servers:
            server.stop()


def within_interval(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` holds; fails past one WINDOW_INTERVAL."""
    start = time.monotonic()
    wait_until_sync(condition, INTERVAL, what=what)
    return time.monotonic() - start


def test_a_mixed_fleet_agrees_and_every_control_reaches_all_replicas(
    fleet: list[AppProcess], redis_url: str, tmp_path: Path
) -> None:
    first = fleet[0]
    tickets = [fleet[i % 3].join()["token"] for i in range(8)]

    if admin(first, "GET", "/admin/api/queue")["window_end"] < 2:
        admin(first, "POST", "/admin/api/slide")
    admin(first, "POST", "/admin/api/pause")
    paused_at = admin(first, "GET", "/admin/api/queue")["window_end"]
    assert 2 <= paused_at < 8
    within_interval(lambda: all(s.status(tickets[-1])["paused"] for s in fleet), "every replica paused")
    last = tickets[-1]
    # Every replica answers every ticket alike, with the stored pace: the window was not raised to 50.
    answers = [[(s.status(t)["status"], s.status(t)["window_end"]) for t in tickets] for s in fleet]
    assert answers[0] == answers[1] == answers[2]
    assert {end for _, end in answers[0]} == {paused_at}
    assert "differ from the queue's stored pace" in fleet[2].log()
    # Nobody is let in while paused, on any replica: not even the tickets inside the window.
    inside = tickets[paused_at - 1]
    assert {s.status(inside)["status"] for s in fleet} == {"active"}
    assert {checkout_status(s, inside) for s in fleet} == {303}
    time.sleep(INTERVAL * 1.5)  # the claim is that nothing moves for longer than an interval
    assert admin(fleet[1], "GET", "/admin/api/queue")["window_end"] == paused_at
    with redis.Redis.from_url(redis_url) as raw:
        assert not raw.keys(f"{queue_keys('main').tag}:claim:*")

    admin(fleet[2], "PUT", "/admin/api/message", {"text": "Doors open at ten"})
    within_interval(lambda: {s.status(last)["message"] for s in fleet} == {"Doors open at ten"}, "message everywhere")

    # The stored pace (1 place, 2 active windows) decides on every replica, whatever each one's environment
    # says: the ticket just behind the newest window is active everywhere (replica 2 alone would say expired),
    # and once the pace is changed through replica 1 to a single active window, expired everywhere.
    behind = tickets[paused_at - 2]
    assert {s.status(behind)["status"] for s in fleet} == {"active"}
    admin(fleet[1], "PUT", "/admin/api/pace", {"active_window_count": 1})
    within_interval(lambda: {s.status(behind)["status"] for s in fleet} == {"expired"}, "the new pace everywhere")
    admin(fleet[0], "PUT", "/admin/api/pace", {"window_size": 2})

    admin(fleet[2], "POST", "/admin/api/resume")
    within_interval(lambda: not any(s.status(last)["paused"] for s in fleet), "every replica resumed")
    # After the resume the window moves again, 2 places per slide (the new size), on every replica.
    moved = paused_at + 2
    wait_until_sync(lambda: all(s.status(last)["window_end"] >= moved for s in fleet), 3 * INTERVAL, what="slides")
    assert (admin(fleet[2], "GET", "/admin/api/queue")["window_end"] - paused_at) % 2 == 0
    with redis.Redis.from_url(redis_url) as raw:
        events = [fields[b"kind"].decode() for _, fields in raw.xrange(queue_keys("main").events)]
    for kind in ("pause", "message", "pace", "resume", "slid"):
        assert kind in events
