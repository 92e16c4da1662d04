"""Coalesced joins: concurrent joins on one replica share a single ``INCRBY`` round trip.

Group commit without a timer: joins arriving in the same event-loop turn go to Redis together at
once; joins that arrive while that round trip is in flight wait for it and then go together, as one
``INCRBY n``, splitting the range in arrival order. Positions stay unique and contiguous, and nobody waits longer than one extra
round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from webapp.queue.store import IssuedRange

JoinMany = Callable[[int], Awaitable[IssuedRange]]


class JoinBatcher:
    def __init__(self, join_many: JoinMany, max_batch: int = 512) -> None:
        self._join_many = join_many
        self.max_batch = max_batch
        self._pending: list[asyncio.Future[IssuedRange]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self.round_trips = 0

    async def join(self) -> IssuedRange:
        """One position, as ``IssuedRange(first=p, last=p, window_end=...)``."""
        future: asyncio.Future[IssuedRange] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                batch = [f for f in batch if not f.done()]  # callers that gave up (cancelled) take no place
                if not batch:
                    continue
                self.round_trips += 1
                try:
                    issued = await self._join_many(len(batch))
                except Exception as exc:  # handed to every waiting caller
                    for future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for offset, future in enumerate(batch):
                    position = issued.first + offset
                    if not future.done():
                        future.set_result(
                            IssuedRange(position, position, issued.window_end, issued.epoch, issued.prequeue)
                        )
        finally:
            self._flushing = False
