"""Coalesced joins: concurrent joins on one replica share a single ``join.lua`` round trip.

Group commit without a timer: joins arriving in the same event-loop turn go to Redis together at
once; joins that arrive while that round trip is in flight wait for it and then go together, as one
batch, splitting the range issued in arrival order. Each join carries its client address, and the same
round trip holds the join limit (see ``joinlimit``): a join over its client's limit takes no position and
its caller gets :class:`JoinLimited`. Positions stay unique and contiguous, and nobody waits longer than
one extra round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from webapp.queue.joinlimit import JoinLimited, retry_after
from webapp.queue.store import IssuedBatch, IssuedRange

JoinMany = Callable[[Sequence[str]], Awaitable[IssuedBatch]]
"""One round trip for a batch of joins, given each join's client address in arrival order."""


class JoinBatcher:
    def __init__(self, join_many: JoinMany, max_batch: int = 512) -> None:
        self._join_many = join_many
        self.max_batch = max_batch
        self._pending: list[tuple[asyncio.Future[IssuedRange], str]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None
        self.round_trips = 0

    async def join(self, client: str = "") -> IssuedRange:
        """One position for ``client``, as ``IssuedRange(first=p, last=p, window_end=...)``.

        :class:`JoinLimited` when ``client`` is over its join limit (it then took no position).
        """
        future: asyncio.Future[IssuedRange] = asyncio.get_running_loop().create_future()
        self._pending.append((future, client))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                batch = [entry for entry in batch if not entry[0].done()]  # callers that gave up take no place
                if not batch:
                    continue
                self.round_trips += 1
                try:
                    issued = await self._join_many([client for _, client in batch])
                except Exception as exc:  # handed to every waiting caller
                    for future, _ in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                position = issued.first
                for (future, _), wait in zip(batch, issued.waits, strict=True):
                    if wait:
                        if not future.done():
                            future.set_exception(JoinLimited(retry_after(wait)))
                        continue
                    if not future.done():  # a caller cancelled during the round trip still used its position
                        future.set_result(
                            IssuedRange(position, position, issued.window_end, issued.epoch, issued.prequeue)
                        )
                    position += 1
        finally:
            self._flushing = False
