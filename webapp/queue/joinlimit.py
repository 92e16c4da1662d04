"""The join rate limit per client address, shared by all replicas through Redis.

Redis decides it inside the join's own round trip: ``join.lua`` counts each client of a coalesced batch of
joins (``JoinBatcher``) and issues positions only to the joins within their client's limit, so the limit
costs no round trip of its own and is exact across replicas. Only joins that would take a *new* position
count, so reloads and extra tabs of a visitor who already holds a ticket are free (``WaitingRoom.join``
decides that). Over the limit, the batcher raises :class:`JoinLimited`, which the web layer maps to 429 with
``Retry-After``.

The window is an exact sliding log: per client, a sorted set of the places taken in the last minute (position
→ time), capped at the limit and expiring a minute after its newest place. Chosen over the two-fixed-windows
weighted counter because that counter only estimates the last minute (it can let nearly twice the limit
through in 60 s, and with a small limit makes a refused client wait up to two minutes), while the log is
exact, its ``Retry-After`` is exactly when the oldest place leaves the window (1..60 s), and it costs at most
``JOIN_RATE_LIMIT`` entries per client address, gone a minute after its last join.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_MS = 60_000
"""The limit counts new places in any window of this length (a minute)."""


class JoinLimited(Exception):
    """This client has asked for too many new places; it may try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many new places requested from this address; retry in {retry_after} s")
        self.retry_after = retry_after


def retry_after(wait_ms: int) -> int:
    """The whole seconds a refused client is told to wait (``Retry-After``): rounded up, at least 1."""
    return max(1, math.ceil(wait_ms / 1000))


@dataclass(frozen=True)
class JoinRateLimit:
    """At most ``per_minute`` new places per client address in any minute; 0 turns the limit off.

    ``clock_ms`` is the time the limit is judged by, in ms; None (the default) means Redis' own clock
    (``TIME`` in the script), the one clock every replica shares. Tests pass their own.
    """

    per_minute: int
    clock_ms: Callable[[], int] | None = None
    window_ms: int = WINDOW_MS

    @property
    def on(self) -> bool:
        return self.per_minute > 0

    def now_ms(self) -> int | None:
        return None if self.clock_ms is None else self.clock_ms()
