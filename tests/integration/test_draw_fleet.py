"""A scheduled sale on real app processes: three replicas agree on every drawn position, and a Redis
restart without persistence during the pre-queue neither reissues an arrival index nor redraws the seed."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from tests.support import AppProcess, RedisServer, app_process, wait_until_sync
from webapp import draw
from webapp.queue.keys import queue_keys


def opening_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, tz=UTC).isoformat(timespec="milliseconds")


def published(server: AppProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.url("/draw"), timeout=5) as response:  # noqa: S310 - our own loopback URL
        body: dict[str, Any] = json.load(response)
        return body


def wait_for_draw(server: AppProcess, timeout: float = 30) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def made() -> bool:
        seen.update(published(server))
        return seen["seed"] is not None

    wait_until_sync(made, timeout, what="the draw at opening", ignore=(OSError,))
    return seen


OPENS_IN = 12.0


@pytest.fixture
def fleet(redis_url: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    """Three replicas of one scheduled sale opening OPENS_IN s from now, one place let in every hour."""
    opens = opening_in(OPENS_IN)
    servers: list[AppProcess] = []
    try:
        for i in range(3):
            server = app_process(redis_url, tmp_path / f"replica-{i}.log", SALE_OPENS_AT=opens, WINDOW_INTERVAL="3600")
            servers.append(server.start())
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.timeout(90)
def test_three_replicas_agree_on_every_drawn_position(fleet: list[AppProcess]) -> None:
    tickets = [fleet[i % 3].join() for i in range(9)]
    assert all(t["status"] == "prequeue" for t in tickets)
    assert sorted(t["arrival_index"] for t in tickets) == list(range(1, 10))
    commitments = {published(server)["commitment"] for server in fleet}
    assert len(commitments) == 1
    for server in fleet:
        assert server.status(tickets[0]["token"])["status"] == "prequeue"
    revealed = wait_for_draw(fleet[0])
    assert revealed["commitment"] in commitments
    assert revealed["size"] == 9
    seed = draw.parse_seed(revealed["seed"])
    assert draw.commitment(seed) == revealed["commitment"]
    for server in fleet:
        assert wait_for_draw(server) == revealed
    for ticket in tickets:
        answers = [server.status(ticket["token"]) for server in fleet]
        positions = {a["position"] for a in answers}
        assert positions == {draw.position(seed, 9, ticket["arrival_index"])}, answers
    assert sorted(fleet[0].status(t["token"])["position"] for t in tickets) == list(range(1, 10))
    later = fleet[1].join()
    assert later["position"] == 10


@pytest.mark.timeout(90)
def test_joins_racing_the_opening_get_an_index_up_to_n_or_a_position_above_it(fleet: list[AppProcess]) -> None:
    """Three clients hammer three replicas across the opening instant: every join is an arrival index in
    1..N or a position in N+1..M, the two sets together are exactly 1..M (none twice, none missing)."""
    opens_at = datetime.fromisoformat(published(fleet[0])["opens_at"]).timestamp()
    wait_until_sync(lambda: time.time() > opens_at - 1.5, OPENS_IN + 5, what="the opening drawing near")
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()
    drawn = threading.Event()

    def hammer(server: AppProcess) -> None:
        after = 0
        while after < 15:
            answer = server.join()
            with lock:
                answers.append(answer)
            after += drawn.is_set()

    def watch() -> None:
        wait_for_draw(fleet[0])
        drawn.set()

    threads = [threading.Thread(target=hammer, args=(s,)) for s in fleet] + [threading.Thread(target=watch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    assert not any(thread.is_alive() for thread in threads)
    size = published(fleet[0])["size"]
    arrivals = sorted(a["arrival_index"] for a in answers if a["status"] == "prequeue")
    positions = sorted(a["position"] for a in answers if a["status"] != "prequeue")
    assert arrivals == list(range(1, size + 1))
    assert positions == list(range(size + 1, len(answers) + 1))
    assert arrivals
    assert positions


@pytest.mark.timeout(90)
def test_a_redis_restart_without_persistence_during_the_prequeue(
    redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    server = app_process(redis_url, tmp_path / "replica.log", SALE_OPENS_AT=opening_in(8), WINDOW_INTERVAL="3600")
    server.start()
    try:
        before = [server.join() for _ in range(4)]
        commitment = published(server)["commitment"]
        with redis_server.client() as raw:
            old_run = raw.info("server")["run_id"]
        redis_server.stop()
        redis_server.start()  # a new process that keeps nothing (--save "" --appendonly no): it starts empty
        with redis_server.client() as raw:
            # Not dbsize() == 0: the replica may already have written the queue back by the time we look.
            assert raw.info("server")["run_id"] != old_run

        keys = queue_keys("main")

        def repaired() -> bool:  # the replica writes back what it saw: the counter, the seed
            with redis_server.client() as raw:
                seed = raw.hget(keys.draw, "seed")
                return (
                    raw.get(keys.counter) == b"4"
                    and seed is not None
                    and draw.commitment(bytes.fromhex(seed.decode())) == commitment
                )

        wait_until_sync(repaired, 15, what="the queue repaired after the restart")
        joined: list[dict[str, Any]] = []

        # A join that meets a connection the restart broke answers 503 (Retry-After) and issues nothing.
        def join() -> bool:
            joined.append(server.join())
            return True

        wait_until_sync(join, 10, what="a join", ignore=(HTTPError,))
        after = joined[0]
        assert after["status"] == "prequeue"
        assert after["arrival_index"] == 5  # never 1 again: the counter was re-seeded from what was seen
        revealed = wait_for_draw(server)
        assert revealed["commitment"] == commitment  # the seed was not redrawn
        assert revealed["size"] == 5
        seed = draw.parse_seed(revealed["seed"])
        positions = [server.status(t["token"])["position"] for t in [*before, after]]
        assert positions == [draw.position(seed, 5, i) for i in range(1, 6)]
        assert sorted(positions) == [1, 2, 3, 4, 5]
    finally:
        server.stop()
