"""What visitors did through this replica, reported without costing Redis a command per visitor.

Joins are counted in memory and reported every ``REPORT_SECONDS`` as one aggregated event (with the
replica's heartbeat, in one script call); an admission, already a Redis write, adds one counter
increment per minute bucket for the console's chart. Prometheus counters are bumped here too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from webapp import metrics
from webapp.queue.keys import QueueKeys
from webapp.queue.loops import Sleep, stop_if_cancelled
from webapp.queue.store import EVENTS_KEPT, load_script
from webapp.redis_client import RedisClient

log = logging.getLogger("webapp.activity")

REPORT_SECONDS = 5.0
ALIVE_SECONDS = 3 * REPORT_SECONDS
"""A replica whose last report is older than this is no longer counted as alive."""


class Activity:
    def __init__(
        self,
        redis: RedisClient,
        keys: QueueKeys,
        instance_id: str,
        every: float = REPORT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.keys = keys
        self.instance_id = instance_id
        self.every = every
        self.clock = clock
        self.sleep = sleep
        self.unreported_joins = 0
        self.reported_at = clock()
        self._heartbeat: AsyncScript = redis.register_script(load_script("heartbeat"))
        self._admitted: AsyncScript = redis.register_script(load_script("admitted"))

    def joined(self, count: int = 1) -> None:
        self.unreported_joins += count
        metrics.JOINS.inc(count)

    async def admitted(self) -> None:
        """Count an admission; a Redis error here must not undo or fail the admission itself."""
        metrics.ADMISSIONS.inc()
        try:
            await self._admitted(keys=[self.keys.minutes])
        except RedisError as exc:
            log.debug("admission not counted in Redis: %s", exc)

    async def report(self) -> None:
        now = self.clock()
        joins, seconds = self.unreported_joins, max(0.001, now - self.reported_at)
        await self._heartbeat(
            keys=[self.keys.replicas, self.keys.events],
            args=[self.instance_id, joins, f"{seconds:.1f}", EVENTS_KEPT],
        )
        self.unreported_joins -= joins
        self.reported_at = now

    async def run(self) -> None:
        while True:
            try:
                await self.report()
            except RedisError as exc:
                stop_if_cancelled()
                log.debug("activity report failed: %s", exc)
            stop_if_cancelled()
            await self.sleep(self.every)
