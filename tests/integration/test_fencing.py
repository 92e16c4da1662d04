"""A leader frozen past its lease (SIGSTOP, like a long GC pause) and then resumed cannot slide again
in an interval its successor already slid: the slide script is fenced by the lease."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import redis

from e2e.launch import AppServer
from webapp.queue.keys import queue_keys

KEYS = queue_keys("main")
INTERVAL = 0.5
ENV = {"WINDOW_SIZE": "1", "WINDOW_INTERVAL": str(INTERVAL), "LEADER_LEASE_TTL": "1", "ACTIVE_WINDOW_COUNT": "2"}


def holder(raw: redis.Redis) -> str | None:
    value = raw.get(KEYS.leader)
    return None if value is None else str(value)


def test_a_frozen_leader_cannot_slide_when_it_wakes(redis_url: str, tmp_path: Path) -> None:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.flushall()
    servers = [AppServer(redis_url, tmp_path / f"app-{i}.log", ENV).start() for i in range(2)]
    try:
        servers[0].join_many(200)  # plenty of people waiting: every due slide really slides
        deadline = time.monotonic() + 10
        while (lease := holder(raw)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (leader,) = [s for s in servers if f"leadership taken by {lease}" in s.log()]
        (follower,) = [s for s in servers if s is not leader]
        assert leader.process is not None
        leader.process.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 5
            while holder(raw) in (None, lease):  # the lease lapses and the follower takes it
                assert time.monotonic() < deadline, "nobody took over from the frozen leader"
                time.sleep(0.02)
        finally:
            leader.process.send_signal(signal.SIGCONT)
        # Watch every slide for a few intervals after the frozen leader resumes.
        slides: list[int] = []
        deadline = time.monotonic() + 6 * INTERVAL
        while time.monotonic() < deadline:
            last = raw.hget(KEYS.window, "last_slide")
            if last is not None and (not slides or int(last) != slides[-1]):
                slides.append(int(last))
            time.sleep(0.005)
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
