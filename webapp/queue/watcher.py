"""Each replica's in-memory copy of the window, refreshed in the background.

Status polls read this copy instead of Redis, so a waiting visitor costs nothing in Redis. The copy
may lag Redis by one refresh but never leads it (``window_end`` only grows), so nobody is admitted
early; when Redis is unreachable the last copy stays in use and is reported as stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from redis.exceptions import RedisError

from webapp.draw import Draw
from webapp.queue.controls import Controls
from webapp.queue.loops import Sleep, stop_if_cancelled
from webapp.queue.store import QueueStore, Snapshot

log = logging.getLogger("webapp.watcher")

Clock = Callable[[], float]


class WindowView(NamedTuple):
    """The window as this replica knows it at a given moment of its own monotonic clock.

    A named tuple, not a dataclass: a poll asks for the view several times, and a frozen dataclass
    costs about five times as much to build.
    """

    window_end: int
    last_position: int
    seconds_to_next_slide: float
    stale: bool
    controls: Controls
    draw: Draw | None = None


class WindowWatcher:
    def __init__(
        self,
        store: QueueStore,
        refresh: float,
        stale_after: float,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.refresh = refresh
        self.stale_after = stale_after
        self.clock = clock
        self.sleep = sleep
        self.snapshot: Snapshot | None = None
        self.fetched_at = 0.0
        self.reachable = False

    async def refresh_once(self) -> Snapshot:
        """Read the window from Redis, seeding the queue first if Redis does not hold it."""
        snap = await self.store.snapshot()
        if not snap.seeded:
            await self.store.seed()
            snap = await self.store.snapshot()
        self.snapshot, self.fetched_at = snap, self.clock()
        return snap

    async def run(self) -> None:
        while True:
            try:
                await self.refresh_once()
                if not self.reachable:
                    log.info("window watcher connected to Redis")
                self.reachable = True
            except RedisError as exc:
                stop_if_cancelled()  # a shutdown, not an outage: say nothing
                if self.reachable:
                    log.warning("window watcher lost Redis, serving the last known window: %s", exc)
                self.reachable = False
            stop_if_cancelled()
            await self.sleep(self.refresh)

    def view(self) -> WindowView | None:
        """The window now, or None before the first successful read."""
        snap = self.snapshot
        if snap is None or snap.controls is None:
            return None
        age = self.clock() - self.fetched_at
        to_next = (snap.next_due_ms - snap.redis_now_ms) / 1000 - age
        return WindowView(
            window_end=snap.window_end,
            last_position=snap.last_position,
            seconds_to_next_slide=max(0.0, to_next),
            stale=age > self.stale_after,
            controls=snap.controls,
            draw=snap.draw,
        )
