"""The room capacity ramp at tiny scale against the real app and Redis: it passes when every poll is the
visitor's waiting fragment, and fails (exit 1) when the server stops answering that (bench/room_capacity.py)."""

from __future__ import annotations

import asyncio
import re

import pytest
from redis.asyncio import Redis

from bench import room_capacity, simulate_sale
from tests.support import wait_until
from webapp.queue.keys import QueueKeys
from webapp.queue.store import QueueStore

# Admission paused with a 2 s interval: the server asks for a poll every second, and nobody moves. A loaded
# 2-core machine is the norm here: the p99 limit is lifted so that only correctness decides the outcome.
SMOKE = ["--pause", "2", "--hold", "1.5", "--ceiling-seconds", "0.5", "--no-pin", "--connections", "16"]
SMOKE += ["--p99-limit", "5000"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("connections", [[], ["--fresh-connections"]], ids=["keep-alive", "fresh"])
def test_a_tiny_ramp_passes_with_every_poll_a_waiting_fragment(
    redis_url: str, capsys: pytest.CaptureFixture[str], connections: list[str]
) -> None:
    args = ["--browsers", "--steps", "100,200", "--real-joins", "20", "--redis-url", redis_url, *SMOKE, *connections]
    code = simulate_sale.main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "20 real joins (GET /, then htmx's POST /room/join); 180 positions taken with one INCRBY" in out
    assert "unique: yes" in out
    assert "all behind window_end 10: yes" in out
    assert "hx-trigger load delay 1 s" in out  # the server's pace, read from the fragment
    rows = {int(row[0]): row for row in (line.split() for line in out.splitlines()) if row and row[0].isdigit()}
    assert sorted(rows) == [100, 200]
    for browsers, row in rows.items():
        polls, due, errors, non_200, not_waiting = float(row[1]), float(row[2]), row[9], row[10], row[11]
        assert due == browsers  # one poll per browser per 1 s period
        assert 0.7 * due <= polls <= 1.3 * due, row  # the browsers kept the server's pace
        assert (errors, non_200, not_waiting) == ("0", "0", "0"), row
    assert re.search(r"client ceiling .*: \d+ polls/s", out)
    assert re.search(r"one core holds 200 waiting browsers \(p99 \d+ ms, 0 errors\)", out)


@pytest.mark.timeout(60)
async def test_the_ramp_exits_1_when_the_visitors_are_no_longer_waiting(
    redis_url: str, client: Redis, keys: QueueKeys, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--steps", "200", "--real-joins", "0", "--redis-url", redis_url, *SMOKE]
    run = asyncio.create_task(asyncio.to_thread(room_capacity.main, args))
    taken = 10 + 200  # the window's 10 places, then the browsers' positions

    async def tickets_taken() -> bool:
        counter = await client.get(keys.counter)
        return counter is not None and int(counter) >= taken

    try:
        await wait_until(tickets_taken, 30, what="the ramp taking its positions")
        # The operator restarts the queue: every ticket of the earlier epoch is refused from now on.
        store = QueueStore(client, keys, 10, 2.0)
        await store.control("reset", "test", "127.0.0.1", "a reset in the middle of the ramp")
    finally:
        code = await asyncio.wait_for(run, 45)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "room_capacity: FAIL" in out
