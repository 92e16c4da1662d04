"""The operator's controls of one queue: pause, pace, message and epoch, as Redis holds them.

They live in one hash beside the window (``{sq:<queue>}:controls``) and travel to every replica in the
same snapshot script reply as the window, so a control costs visitors' polls nothing and reaches all
replicas within one snapshot refresh.

Which pace wins: the first replica that creates the queue stores its environment's ``WINDOW_SIZE``,
``WINDOW_INTERVAL`` and ``ACTIVE_WINDOW_COUNT`` (``HSETNX``, inside the seed script); from then on only
``PUT /admin/api/pace`` changes them. A replica started later with other values serves the stored pace
and logs the difference, so a fleet in the middle of a rolling restart answers every ticket alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from webapp.settings import Settings, SettingsError, _seconds, _whole

MAX_MESSAGE_LENGTH = 280


@dataclass(frozen=True)
class Pace:
    """How fast the window moves: ``window_size`` places every ``window_interval`` seconds."""

    window_size: int
    window_interval: float
    active_window_count: int

    @property
    def interval_ms(self) -> int:
        return max(1, round(self.window_interval * 1000))

    @property
    def per_minute(self) -> float:
        """Places let in per minute at this pace."""
        return self.window_size * 60 / self.window_interval

    @classmethod
    def of(cls, settings: Settings) -> Pace:
        return cls(settings.window_size, settings.window_interval, settings.active_window_count)


@dataclass(frozen=True)
class Controls:
    """What the operator has set; ``epoch`` grows by one with every reset."""

    pace: Pace
    paused: bool = False
    message: str = ""
    epoch: int = 0

    def seed_args(self) -> list[Any]:
        """ARGV[4..9] of the seed script (the values to store when Redis holds none)."""
        return [
            self.pace.window_size,
            self.pace.interval_ms,
            self.pace.active_window_count,
            int(self.paused),
            self.epoch,
            self.message,
        ]


CONTROL_FIELDS = ("window_size", "interval_ms", "active_window_count", "paused", "epoch", "message")
"""The hash fields, in the order the snapshot and seed scripts use them."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def controls_from_reply(values: Sequence[Any]) -> Controls | None:
    """Controls from the snapshot script's tail (``CONTROL_FIELDS`` order); None when Redis holds none."""
    size, interval_ms, count, paused, epoch, message = values
    if int(size) < 1 or int(interval_ms) < 1 or int(count) < 1:
        return None
    return Controls(
        pace=Pace(int(size), int(interval_ms) / 1000, int(count)),
        paused=int(paused) == 1,
        message=_text(message),
        epoch=max(0, int(epoch)),
    )


class PaceError(ValueError):
    """A pace field the environment would refuse too; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_RULES: dict[str, Callable[[str], int | float]] = {
    "window_size": lambda raw: _whole("window_size", raw, 1, 10_000_000),
    "window_interval": lambda raw: _seconds("window_interval", raw, 0.1, 86_400),
    "active_window_count": lambda raw: _whole("active_window_count", raw, 1, 1000),
}


def updated_pace(pace: Pace, changes: Mapping[str, Any]) -> Pace:
    """``pace`` with ``changes`` applied, each validated by the rule its environment variable follows."""
    unknown = sorted(set(changes) - set(_RULES))
    if unknown:
        raise PaceError(unknown[0], f"unknown field; expected any of {', '.join(_RULES)}")
    if not changes:
        raise PaceError("window_size", "give at least one of window_size, window_interval, active_window_count")
    values: dict[str, Any] = {}
    for name, raw in changes.items():
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise PaceError(name, f"expected a number, got {raw!r}")
        try:
            values[name] = _RULES[name](str(raw))
        except SettingsError as exc:
            raise PaceError(name, str(exc).partition(": ")[2]) from None
    return replace(pace, **values)


def clean_message(text: Any) -> str:
    """An operator message as stored: one short line of plain text (escaped when rendered)."""
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError("text must not be empty (DELETE the message to remove it)")
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        raise ValueError(f"text must be at most {MAX_MESSAGE_LENGTH} characters")
    return cleaned
