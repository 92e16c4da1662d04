"""What the operator can do to a queue and see of it: the controls, and the overview the console shows.

Every control is one Lua call (control.lua or slide.lua) that changes Redis and logs the change with who
did it; replicas pick it up with their next window snapshot. The overview is read fresh from Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from webapp.queue.activity import ALIVE_SECONDS
from webapp.queue.controls import Controls, Pace, clean_message, updated_pace
from webapp.queue.events import Event, EventLog
from webapp.queue.store import QueueStore, SlideResult

HISTORY_MINUTES = 60


class QueueNotReadyError(RuntimeError):
    """The queue is not in Redis yet (no replica has seeded it): there is nothing to control."""


class PausedError(RuntimeError):
    """A slide-now was asked while admission is paused."""


@dataclass(frozen=True)
class Actor:
    """Who asked for a control: ``token`` (the API) or ``session:<id>`` (the console), from where."""

    who: str
    address: str


@dataclass(frozen=True)
class MinutePoint:
    minute: int
    waiting: int | None
    admitted: int


@dataclass(frozen=True)
class Overview:
    paused: bool
    pace: Pace
    message: str
    epoch: int
    window_end: int
    last_position: int
    waiting: int
    active_first: int
    active_last: int
    admitted_per_minute: int
    seconds_to_clear: float | None
    leader: str | None
    replicas: list[str]
    redis_ms: float
    history: list[MinutePoint]

    def as_dict(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "pace": {
                "window_size": self.pace.window_size,
                "window_interval": self.pace.window_interval,
                "active_window_count": self.pace.active_window_count,
            },
            "message": self.message,
            "epoch": self.epoch,
            "window_end": self.window_end,
            "last_position": self.last_position,
            "waiting": self.waiting,
            "active_range": [self.active_first, self.active_last],
            "admitted_per_minute": self.admitted_per_minute,
            "estimated_seconds_to_clear": self.seconds_to_clear,
            "leader": self.leader,
            "replicas_alive": self.replicas,
            "redis": {"ok": True, "round_trip_ms": round(self.redis_ms, 2)},
            "history": [{"minute": p.minute, "waiting": p.waiting, "admitted": p.admitted} for p in self.history],
        }


def seconds_to_clear(waiting: int, pace: Pace, paused: bool) -> float | None:
    """How long the people waiting now need to be let in at this pace; None while paused."""
    if paused:
        return None
    slides = -(-waiting // pace.window_size)
    return slides * pace.window_interval


def history_of(fields: dict[str, int], this_minute: int, minutes: int = HISTORY_MINUTES) -> list[MinutePoint]:
    """The last ``minutes`` minutes of the statistics hash, oldest first (``w:<m>`` waiting, ``a:<m>`` admitted)."""
    return [
        MinutePoint(m, fields.get(f"w:{m}"), fields.get(f"a:{m}", 0))
        for m in range(this_minute - minutes + 1, this_minute + 1)
    ]


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Operator:
    def __init__(self, store: QueueStore, events: EventLog, queue_name: str) -> None:
        self.store = store
        self.events = events
        self.queue_name = queue_name

    async def _controls(self) -> tuple[Controls, int]:
        snap = await self.store.snapshot()
        if not snap.seeded or snap.controls is None:
            raise QueueNotReadyError("the queue is not in Redis yet")
        return snap.controls, snap.window_end

    async def _apply(self, action: str, actor: Actor, detail: str, *args: str | int) -> None:
        epoch, _ = await self.store.control(action, actor.who, actor.address, detail, *args)
        if epoch < 0:
            raise QueueNotReadyError("the queue is not in Redis yet")

    async def pause(self, actor: Actor) -> None:
        await self._apply("pause", actor, "admission paused; admitted visitors keep their passes")

    async def resume(self, actor: Actor) -> None:
        await self._apply("resume", actor, "admission resumed; the next slide comes one interval from now")

    async def set_pace(self, actor: Actor, changes: dict[str, Any]) -> Pace:
        """Validate and store a new pace (raises ``PaceError`` naming the field)."""
        controls, _ = await self._controls()
        old, new = controls.pace, updated_pace(controls.pace, changes)
        detail = (
            f"{old.window_size} every {old.window_interval:g} s, {old.active_window_count} active"
            f" → {new.window_size} every {new.window_interval:g} s, {new.active_window_count} active"
        )
        await self._apply("pace", actor, detail, new.window_size, new.interval_ms, new.active_window_count)
        return new

    async def set_message(self, actor: Actor, text: Any) -> str:
        message = clean_message(text)
        await self._apply("message", actor, f"message set: {message}", message)
        return message

    async def clear_message(self, actor: Actor) -> None:
        await self._apply("message", actor, "message cleared", "")

    async def reset(self, actor: Actor) -> int:
        """Start a new epoch; returns it. The caller has checked the confirmation."""
        epoch, _ = await self.store.control("reset", actor.who, actor.address, "queue reset: earlier tickets refused")
        if epoch < 0:
            raise QueueNotReadyError("the queue is not in Redis yet")
        return epoch

    async def slide_now(self, actor: Actor) -> SlideResult:
        """One slide now, once: fenced on the window end just read, so a repeated request does not slide twice."""
        controls, window_end = await self._controls()
        if controls.paused:
            raise PausedError("admission is paused; resume before sliding")
        return await self.store.slide(actor.who, expected_window_end=window_end)

    async def overview(self) -> Overview:
        redis = self.store.redis
        keys = self.store.keys
        started = time.perf_counter()
        snap = await self.store.snapshot()
        redis_ms = (time.perf_counter() - started) * 1000
        if not snap.seeded or snap.controls is None:
            raise QueueNotReadyError("the queue is not in Redis yet")
        controls = snap.controls
        now_ms = snap.redis_now_ms
        leader = await redis.get(keys.leader)
        alive = await redis.zrangebyscore(keys.replicas, now_ms - ALIVE_SECONDS * 1000, "+inf")
        raw = await redis.hgetall(keys.minutes)
        fields = {_decode(k): int(v) for k, v in raw.items()}
        this_minute = now_ms // 60_000
        history = history_of(fields, this_minute)
        pace = controls.pace
        waiting = max(0, snap.last_position - snap.window_end)
        first = max(1, snap.window_end - pace.window_size * pace.active_window_count + 1)
        return Overview(
            paused=controls.paused,
            pace=pace,
            message=controls.message,
            epoch=controls.epoch,
            window_end=snap.window_end,
            last_position=snap.last_position,
            waiting=waiting,
            active_first=first,
            active_last=snap.window_end,
            admitted_per_minute=history[-2].admitted if len(history) > 1 else 0,
            seconds_to_clear=seconds_to_clear(waiting, pace, controls.paused),
            leader=None if leader is None else _decode(leader),
            replicas=sorted(_decode(r) for r in alive),
            redis_ms=redis_ms,
            history=history,
        )

    async def latest_events(self, count: int = 12) -> list[Event]:
        return await self.events.latest(count)
