"""A rolling restart of three replicas on one Redis: nobody loses their place, the pace holds."""

from __future__ import annotations

import itertools
from pathlib import Path

import redis

from tests.support import AppProcess, app_process
from webapp.queue.keys import queue_keys

RANK = {"waiting": 0, "active": 1, "expired": 2}
ENV = {"WINDOW_SIZE": "2", "WINDOW_INTERVAL": "0.5", "ACTIVE_WINDOW_COUNT": "50", "LEADER_LEASE_TTL": "1"}


def test_a_rolling_restart_of_three_replicas_loses_nobody(redis_url: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(redis_url) as raw:
        raw.flushall()
    servers = [app_process(redis_url, tmp_path / f"app-{i}.log", **ENV).start() for i in range(3)]
    try:
        round_robin = itertools.cycle(range(3))
        tickets = [servers[next(round_robin)].join() for _ in range(30)]
        assert [t["position"] for t in tickets] == list(range(1, 31))
        # Per replica: each replica's own copy of the window is read every 0.1 s, so two replicas may stand
        # a slide apart for that long (one says active while another still says waiting), but one replica's
        # answers for a ticket never go backwards, and no replica ever moves a ticket's place.
        seen: dict[tuple[int, str], str] = {}

        def check_everyone(server: AppProcess) -> None:
            for ticket in tickets:
                body = server.status(ticket["token"])
                assert body["position"] == ticket["position"], "a visitor's place changed"
                key = (id(server), ticket["token"])
                assert RANK[body["status"]] >= RANK[seen.get(key, "waiting")], "a status went backwards"
                seen[key] = body["status"]

        for i in range(3):  # replace one replica at a time, as a Deployment with maxUnavailable 0 does
            replacement = app_process(redis_url, tmp_path / f"app-{i}-new.log", **ENV).start()
            servers[i].stop()  # SIGTERM: graceful, the lease is released if it was the leader
            servers[i] = replacement
            for server in servers:
                check_everyone(server)
            tickets.append(servers[i].join())
        assert [t["position"] for t in tickets[30:]] == [31, 32, 33], "positions after the rollout continue"
        last = tickets[-1]
        servers[0].wait_for_status(last["token"], "active", timeout=20)
        with redis.Redis.from_url(redis_url) as raw:
            window = {k.decode(): int(v) for k, v in raw.hgetall(queue_keys("main").window).items()}
        assert window["window_end"] == 2 + 2 * window["slides"], "a slide skipped or doubled its size"
        for server in servers:
            check_everyone(server)
    finally:
        for server in servers:
            server.stop()
