"""The background loop that keeps the lease and slides the window while this replica leads."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from webapp import metrics
from webapp.queue.events import EventLog
from webapp.queue.leader import Lease
from webapp.queue.loops import Sleep, stop_if_cancelled
from webapp.queue.store import QueueStore, SlideOutcome

log = logging.getLogger("webapp.slider")


class Slider:
    """Runs in every replica; only the lease holder's slides take effect.

    The leader sleeps until the slide is due by Redis' clock (as the slide script reports it), but never
    longer than a third of the lease TTL, so the lease is renewed well before it lapses. Followers try
    for the lease every tenth of the TTL, so a dead leader is replaced within about 1.1 times the TTL.
    """

    def __init__(
        self, store: QueueStore, lease: Lease, sleep: Sleep = asyncio.sleep, events: EventLog | None = None
    ) -> None:
        self.store = store
        self.lease = lease
        self.sleep = sleep
        self.events = events
        self.leading = False
        self.renew_every = lease.ttl_ms / 3000
        self.follow_every = lease.ttl_ms / 10000

    async def step(self) -> float:
        """Renew or take the lease, slide if due; return how long to sleep before the next step."""
        leading = await self.lease.acquire()
        if leading != self.leading:
            self.leading = leading
            log.info("leadership %s by %s", "taken" if leading else "lost", self.lease.instance_id)
            if leading and self.events is not None:
                await self.events.record("leader", "leadership taken", who=self.lease.instance_id)
        if not leading:
            return self.follow_every
        result = await self.store.slide(self.lease.instance_id)
        if result.outcome is SlideOutcome.NOT_LEADER:
            self.leading = False
            log.info("leadership lost by %s before sliding", self.lease.instance_id)
            return self.follow_every
        if result.outcome is SlideOutcome.NOT_SEEDED:
            await self.store.seed()
            return 0.0
        if result.outcome is SlideOutcome.SLID:
            metrics.SLIDES.inc()
            log.info("window slid to %d", result.window_end)
        elif result.outcome is SlideOutcome.SKIPPED:
            log.debug("slide skipped: nobody is waiting beyond %d", result.window_end)
        elif result.outcome is SlideOutcome.PREQUEUE:
            log.debug("slide held: the scheduled sale is not open yet")
        elif result.outcome is SlideOutcome.PAUSED:
            log.debug("slide held: admission is paused")
        until_due = max(0.0, (result.next_due_ms - result.redis_now_ms) / 1000)
        return min(until_due, self.renew_every)

    async def run(self) -> None:
        """Step forever; Redis errors drop leadership and back off instead of killing the loop."""
        backoff = 0.1
        while True:
            try:
                delay = await self.step()
                backoff = 0.1
            except RedisError as exc:
                stop_if_cancelled()  # still leading: stop() must release the lease
                if self.leading:
                    log.warning("leadership lost by %s: %s", self.lease.instance_id, exc)
                self.leading = False
                delay, backoff = backoff, min(backoff * 2, self.renew_every)
                log.debug("slider cannot reach Redis: %s", exc)
            stop_if_cancelled()
            await self.sleep(delay)

    async def stop(self) -> None:
        """Release the lease on graceful shutdown so a successor leads immediately.

        Tried even when this replica no longer believes it leads: a Redis error (or a cancellation
        redis-py turned into one) clears ``leading`` while the lease may still be ours, and the release
        script deletes it only if it is, so asking costs one round trip and can never unseat another.
        """
        try:
            if await self.lease.release():
                log.info("leadership released by %s", self.lease.instance_id)
        except RedisError as exc:
            log.warning("could not release the lease: %s", exc)
        self.leading = False
