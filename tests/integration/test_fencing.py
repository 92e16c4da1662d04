"""A leader frozen past its lease (SIGSTOP, like a long GC pause) and then resumed cannot slide again
in an interval its successor already slid: the slide script is fenced by the lease."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path

import pytest
import redis

from tests.support import app_process, wait_until_sync
from webapp.queue.keys import queue_keys

KEYS = queue_keys("main")
INTERVAL = 0.5
ENV = {"WINDOW_SIZE": "1", "WINDOW_INTERVAL": str(INTERVAL), "LEADER_LEASE_TTL": "1", "ACTIVE_WINDOW_COUNT": "2"}


def holder(raw: redis.Redis) -> str | None:
    value = raw.get(KEYS.leader)
    return None if value is None else str(value)


def test_a_frozen_leader_cannot_slide_when_it_wakes(
    redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    request.addfinalizer(raw.close)  # closed when the test ends, not whenever the garbage collector gets to it
    raw.flushall()
    servers = [app_process(redis_url, tmp_path / f"app-{i}.log", **ENV).start() for i in range(2)]
    try:
        servers[0].join_many(200)  # plenty of people waiting: every due slide really slides
        wait_until_sync(lambda: holder(raw) is not None, 10, what="a leader taking the lease")
        lease = holder(raw)
        (leader,) = [s for s in servers if f"leadership taken by {lease}" in s.log()]
        (follower,) = [s for s in servers if s is not leader]
        assert leader.process is not None
        leader.process.send_signal(signal.SIGSTOP)
        try:
            # The lease lapses and the follower takes it.
            wait_until_sync(lambda: holder(raw) not in (None, lease), 5, what="the follower taking over", every=0.02)
        finally:
            leader.process.send_signal(signal.SIGCONT)
        # Watch every slide (the Redis time it happened at) until five have happened after the leader resumed.
        slides: list[int] = []

        def five_slides_seen() -> bool:
            last = raw.hget(KEYS.window, "last_slide")
            if last is not None and (not slides or int(last) != slides[-1]):
                slides.append(int(last))
            return len(slides) >= 5

        wait_until_sync(five_slides_seen, 10 + 10 * INTERVAL, what="five slides after the resume", every=0.005)
        gaps = [b - a for a, b in itertools.pairwise(slides)]
        assert len(slides) >= 4
        assert min(gaps) >= INTERVAL * 1000 / 2, f"two slides in one interval: gaps {gaps} ms"
        window = {str(k): int(v) for k, v in raw.hgetall(KEYS.window).items()}
        assert window["window_end"] == 1 + window["slides"], "a slide moved the window by more than its size"
        assert holder(raw) != lease, "the resumed leader took the lease back over a live holder"
        assert "leadership lost" in leader.log() or "leadership taken" in follower.log()
    finally:
        for server in servers:
            server.stop()
        raw.close()
