"""The background loops stop when cancelled, wherever the cancellation lands (app shutdown depends on it).

On Python 3.11, ``asyncio.wait_for`` inside redis-py can lose a cancellation that arrives as a
command completes; a loop that then carries on never ends, and the lifespan's shutdown hangs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from tests.support import wait_until
from tests.support.stores import make_store
from webapp.queue.keys import queue_keys
from webapp.queue.leader import Lease, new_instance_id
from webapp.queue.slider import Slider
from webapp.queue.watcher import WindowWatcher
from webapp.redis_client import connect


async def cancel_at_random_moments(redis_url: str, loop_of: str, rounds: int) -> list[str]:
    """Start the loop, cancel it after a random delay, and report those still running a second later."""
    rng = random.Random(20261129)
    still_running: list[str] = []
    for round_ in range(rounds):
        client = connect(redis_url, 0.5)
        store = make_store(client, window_size=2, interval=0.1)
        if loop_of == "watcher":
            task = asyncio.create_task(WindowWatcher(store, refresh=0.0, stale_after=1.0).run())
        else:
            slider = Slider(store, Lease(client, queue_keys("main").leader, new_instance_id(), 0.3))
            task = asyncio.create_task(slider.run())
        await asyncio.sleep(rng.uniform(0.0, 0.01))
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1.0)
        if not done:
            still_running.append(f"round {round_}: {task!r}")
            task.cancel()
            await asyncio.wait([task], timeout=1.0)
        await client.aclose()
    return still_running


def leading(slider: Slider) -> Callable[[], bool]:
    return lambda: slider.leading


@pytest.mark.parametrize("loop_of", ["watcher", "slider"])
async def test_a_cancelled_loop_always_stops(redis_url: str, loop_of: str) -> None:
    assert await cancel_at_random_moments(redis_url, loop_of, rounds=100) == []


async def test_a_leader_cancelled_anywhere_still_releases_the_lease_on_stop(redis_url: str) -> None:
    rng = random.Random(1129)
    keys = queue_keys("main")
    kept: list[int] = []
    for round_ in range(60):
        client = connect(redis_url, 0.5)
        store = make_store(client, window_size=2, interval=0.1)
        await store.join(count=1_000)  # always someone waiting: the leader keeps sliding
        slider = Slider(store, Lease(client, keys.leader, new_instance_id(), 5.0), sleep=lambda _: asyncio.sleep(0))
        task = asyncio.create_task(slider.run())
        await wait_until(leading(slider), within=5, what=f"round {round_}: the only slider leading")
        await asyncio.sleep(rng.uniform(0.0, 0.01))  # the cancellation lands at a random moment of its lead
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1.0)
        assert done, f"round {round_}: the slider did not stop"
        await slider.stop()
        if await client.exists(keys.leader):
            kept.append(round_)
        await client.flushall()
        await client.aclose()
    assert kept == []
