"""The queue's state in Redis: a counter and a small hash per queue, one round trip per operation.

Every read-then-write is a Lua script from ``scripts/``, registered once and called by SHA. The store
also remembers the highest position and window end it has seen, so that if Redis comes back empty
(restart without persistence, failover to an empty replica, FLUSHALL) it re-seeds the queue by
max-merge instead of starting again from zero.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from importlib.resources import files
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from webapp.draw import SEED_BYTES, Draw, DrawError, parse_seed
from webapp.queue.controls import CONTROL_FIELDS, Controls, Pace, controls_from_reply
from webapp.queue.joinlimit import JoinRateLimit
from webapp.queue.keys import QueueKeys
from webapp.redis_client import RedisClient


def load_script(name: str) -> str:
    return files("webapp.queue").joinpath("scripts", f"{name}.lua").read_text(encoding="utf-8")


class SlideOutcome(IntEnum):
    SLID = 1
    SKIPPED = 0
    NOT_DUE = -1
    NOT_LEADER = -2
    NOT_SEEDED = -3
    PAUSED = -4
    MOVED = -5
    PREQUEUE = -6


@dataclass(frozen=True)
class SlideResult:
    outcome: SlideOutcome
    window_end: int
    next_due_ms: int
    redis_now_ms: int


@dataclass(frozen=True)
class Snapshot:
    """The window as Redis held it at ``redis_now_ms``; -1 marks a value Redis did not have."""

    window_end: int
    last_position: int
    next_due_ms: int
    redis_now_ms: int
    last_slide_ms: int
    slides: int
    controls: Controls | None = None
    draw: Draw | None = None
    """The scheduled sale's draw, when the queue has one (its seed is only shown once it is made)."""

    @property
    def seeded(self) -> bool:
        return self.window_end >= 0 and self.last_position >= 0 and self.controls is not None


@dataclass(frozen=True)
class IssuedRange:
    """Positions ``first..last`` issued by one join round trip, with the window_end Redis held then."""

    first: int
    last: int
    window_end: int
    epoch: int = 0
    prequeue: bool = False
    """The numbers are arrival indexes of a pre-queue (the draw is not made yet), not positions."""


@dataclass(frozen=True)
class IssuedBatch:
    """One join round trip for a batch of joins: the positions of those given a place, the waits of the others.

    The joins given a place hold ``first``, ``first + 1``, ... in arrival order; ``waits[i]`` is 0 for them, and
    for a join refused by the join limit the ms until its client may take a new place.
    """

    first: int
    window_end: int
    epoch: int
    prequeue: bool
    waits: tuple[int, ...]


class QueueNotSeededError(RuntimeError):
    """Redis lost the queue and re-seeding did not take (raced with another loss)."""


def _ints(reply: Any) -> list[int]:
    return [int(v) for v in reply]


EVENTS_KEPT = 10_000
"""About how many entries the event stream keeps (``XADD MAXLEN ~``): days of a sale's controls and slides."""


def _snapshot_of(reply: Any) -> Snapshot:
    end, last, due, now, last_slide, slides = _ints(reply[:6])
    tail = 6 + len(CONTROL_FIELDS)
    controls = controls_from_reply(reply[6:tail])
    return Snapshot(end, last, due, now, last_slide, slides, controls, _draw_of(reply[tail:]))


def _draw_of(values: Any) -> Draw | None:
    """The draw from the snapshot script's last five values; None without one (or with a mangled seed)."""
    raw_seed = values[0].decode() if isinstance(values[0], bytes) else str(values[0])
    if not raw_seed:
        return None
    try:
        seed = parse_seed(raw_seed)
    except DrawError:
        return None
    opens_at, drawn_at, size, opened_at = _ints(values[1:5])
    opened = size >= 0
    return Draw(seed, opens_at, drawn_at, size if opened else None, opened_at if opened else None)


def _supersedes(candidate: Draw, known: Draw | None) -> bool:
    """Whether ``candidate`` is the draw to remember over ``known``: the same seed with more known, or an
    earlier-drawn seed (the one whose commitment was published first)."""
    if known is None:
        return True
    if candidate.seed == known.seed:
        return candidate.opened and not known.opened
    return candidate.drawn_at_ms < known.drawn_at_ms


@dataclass(frozen=True)
class DrawPlan:
    """A scheduled sale this replica proposes to a queue that does not exist yet: a fresh seed and its opening."""

    opens_at_ms: int
    seed: bytes = field(default_factory=lambda: secrets.token_bytes(SEED_BYTES), repr=False)


class QueueStore:
    """Redis operations for one queue; safe to share between tasks of one event loop."""

    def __init__(
        self,
        redis: RedisClient,
        keys: QueueKeys,
        window_size: int,
        interval: float,
        pace: Pace | None = None,
        draw_plan: DrawPlan | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.window_size = window_size
        self.interval_ms = max(1, round(interval * 1000))
        # What this replica's environment says; stored only if the queue has no controls yet.
        self.defaults = Controls(pace or Pace(window_size, interval, 2))
        self._join: AsyncScript = redis.register_script(load_script("join"))
        self._seed: AsyncScript = redis.register_script(load_script("seed"))
        self._snapshot: AsyncScript = redis.register_script(load_script("snapshot"))
        self._slide: AsyncScript = redis.register_script(load_script("slide"))
        self._control: AsyncScript = redis.register_script(load_script("control"))
        self.seen_last_position = 0
        # No floor from this replica's own WINDOW_SIZE: a replica started with a larger one must not
        # move a young queue's window (a new queue starts at the stored window_size, see seed.lua).
        self.seen_window_end = 0
        self.seen_controls: Controls | None = None
        self.draw_plan = draw_plan
        # The draw as this replica last saw it in Redis: written back after a data loss, never redrawn.
        self.seen_draw: Draw | None = None

    def observe(
        self, last_position: int = 0, window_end: int = 0, controls: Controls | None = None, draw: Draw | None = None
    ) -> None:
        """Remember values seen in Redis or in a valid ticket, for a later re-seed."""
        self.seen_last_position = max(self.seen_last_position, last_position)
        self.seen_window_end = max(self.seen_window_end, window_end)
        if controls is not None:
            self.seen_controls = controls
        if draw is not None and _supersedes(draw, self.seen_draw):
            self.seen_draw = draw

    @property
    def _keys3(self) -> list[str]:
        return [self.keys.counter, self.keys.window, self.keys.controls, self.keys.draw]

    def _draw_args(self) -> list[Any]:
        """ARGV[9..14] of the seed script: the draw seen (a repair), else the one proposed, else none."""
        seen = self.seen_draw
        if seen is not None:
            size = -1 if seen.size is None else seen.size
            opened = -1 if seen.opened_at_ms is None else seen.opened_at_ms
            return [seen.seed.hex(), seen.opens_at_ms, seen.drawn_at_ms, 1, size, opened]
        if self.draw_plan is not None:
            return [self.draw_plan.seed.hex(), self.draw_plan.opens_at_ms, 0, 0, -1, -1]
        return ["", 0, 0, 0, -1, -1]

    def _behind(self, snap: Snapshot) -> bool:
        """Whether Redis holds less than this replica has seen (a data loss or a failover to a lagging copy)."""
        if snap.last_position < self.seen_last_position or snap.window_end < self.seen_window_end:
            return True
        seen = self.seen_draw
        return seen is not None and (snap.draw is None or _supersedes(seen, snap.draw))

    async def seed(self) -> tuple[int, int]:
        """Create the queue, or repair it from what this replica has seen; never lowers a value."""
        # Controls lost with the rest of Redis come back as this replica last saw them (paused stays paused).
        controls = self.seen_controls or self.defaults
        reply = _ints(
            await self._seed(
                keys=self._keys3,
                args=[self.seen_last_position, self.seen_window_end, *controls.seed_args(), *self._draw_args()],
            )
        )
        self.observe(reply[0], reply[1])
        return reply[0], reply[1]

    async def join(self, count: int = 1) -> IssuedRange:
        """Issue ``count`` consecutive positions in one round trip (two if the queue must be re-seeded)."""
        last, window_end, epoch, prequeue = (await self._join_script([count, 0, 0, 0, 0, ""], []))[:4]
        return IssuedRange(last - count + 1, last, window_end, epoch, prequeue == 1)

    async def join_many(self, clients: Sequence[str], limit: JoinRateLimit) -> IssuedBatch:
        """One join per entry of ``clients`` (its address), in arrival order, in one round trip (two if the
        queue must be re-seeded); with the limit on, only the joins within their client's limit get a place."""
        if not limit.on:
            issued = await self.join(len(clients))
            return IssuedBatch(issued.first, issued.window_end, issued.epoch, issued.prequeue, (0,) * len(clients))
        index: dict[str, int] = {}
        of_join = [index.setdefault(client, len(index) + 1) for client in clients]
        now = limit.now_ms()
        head = [len(clients), 0, 0, limit.per_minute, limit.window_ms, "" if now is None else now]
        reply = await self._join_script([*head, *of_join], [self.keys.join_log(client) for client in index])
        last, window_end, epoch, prequeue, *waits = reply
        return IssuedBatch(last - waits.count(0) + 1, window_end, epoch, prequeue == 1, tuple(waits))

    async def _join_script(self, args: list[Any], logs: list[str]) -> list[int]:
        """join.lua's reply, re-seeding the queue and trying once more if Redis lost it.

        ARGV[2] and ARGV[3] of ``args`` are replaced by this replica's floors at each try.
        """
        for _ in range(2):
            args[1:3] = [self.seen_last_position, self.seen_window_end]
            reply = _ints(await self._join(keys=[*self._keys3, *logs], args=args))
            if reply[0] >= 0:
                self.observe(reply[0], reply[1])
                return reply
            await self.seed()
        raise QueueNotSeededError("the queue could not be seeded")

    async def snapshot(self) -> Snapshot:
        """The window as Redis holds it, repaired first if Redis went back below what we have seen.

        A failover to a replica that missed the last writes leaves an *older* counter and window, not
        missing ones; re-seeding by max-merge on sight keeps the next join from reissuing positions.
        """
        snap = _snapshot_of(await self._snapshot(keys=self._keys3))
        if not snap.seeded:
            return snap
        if self._behind(snap):
            await self.seed()
            snap = _snapshot_of(await self._snapshot(keys=self._keys3))
        self.observe(snap.last_position, snap.window_end, snap.controls, snap.draw)
        return snap

    async def slide(self, instance_id: str, expected_window_end: int | None = None) -> SlideResult:
        """The leader's scheduled slide; with ``expected_window_end``, the operator's slide-now (see slide.lua)."""
        k = self.keys
        reply = _ints(
            await self._slide(
                keys=[k.counter, k.window, k.leader, k.controls, k.events, k.minutes, k.draw],
                args=[
                    instance_id,
                    self.window_size,
                    self.interval_ms,
                    "" if expected_window_end is None else expected_window_end,
                    EVENTS_KEPT,
                ],
            )
        )
        result = SlideResult(SlideOutcome(reply[0]), reply[1], reply[2], reply[3])
        if result.outcome is SlideOutcome.SLID:
            self.observe(window_end=result.window_end)
        return result

    async def control(self, action: str, who: str, address: str, detail: str, *args: str | int) -> tuple[int, int]:
        """Apply an operator control (control.lua) and log it; returns (epoch, window_end), -1s if not seeded."""
        k = self.keys
        epoch, window_end = _ints(
            await self._control(
                keys=[k.controls, k.window, k.events, k.counter, k.draw],
                args=[action, who, address, EVENTS_KEPT, detail, *args],
            )
        )
        return epoch, window_end

    async def claim_admission(self, ticket_id: str, pass_id: str, ttl_seconds: float) -> bool:
        """Mark a ticket as redeemed; true for exactly one caller per ticket while the mark lives."""
        claimed = await self.redis.set(
            self.keys.claim(ticket_id), pass_id, nx=True, px=max(1, round(ttl_seconds * 1000))
        )
        return bool(claimed)

    async def record_order(self, pass_id: str, order: str, ttl_seconds: float) -> str:
        """Keep the first order placed with a pass and return it: a repeated submit gets the same order.

        ``SET NX GET`` decides and reads in one atomic command (no script needed).
        """
        earlier = await self.redis.set(
            self.keys.order(pass_id), order, nx=True, get=True, px=max(1, round(ttl_seconds * 1000))
        )
        if isinstance(earlier, bytes):
            return earlier.decode()
        return order

    async def admission_claimed(self, ticket_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.claim(ticket_id)))

    async def ping(self) -> bool:
        """Whether the Redis holding this queue answers (on Cluster: the node owning its slot only)."""
        if isinstance(self.redis, RedisCluster):
            node = self.redis.get_node_from_key(self.keys.counter)
            return bool(await self.redis.ping(target_nodes=node))
        return bool(await self.redis.ping())
