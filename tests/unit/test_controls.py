"""Each operator control's effect on what a ticket is told, and the validation of the controls."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.support import TEST_SECRET
from webapp.queue.controls import MAX_MESSAGE_LENGTH, Controls, Pace, PaceError, clean_message, updated_pace
from webapp.queue.joinlimit import JoinRateLimit
from webapp.queue.keys import queue_keys
from webapp.queue.store import QueueStore, Snapshot
from webapp.queue.watcher import WindowWatcher
from webapp.queue.window import Status
from webapp.room import EarlierEpochError, WaitingRoom
from webapp.settings import Settings
from webapp.tokens import TokenCodec

NOW = 1_700_000_000


def room_with(controls: Controls, window_end: int = 10, last: int = 100) -> WaitingRoom:
    """A room whose window copy holds ``controls``; Redis is never called (no server is running)."""
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1", "JWT_SECRET": TEST_SECRET})
    store = QueueStore(Redis(port=1), queue_keys("main"), 10, 30)
    watcher = WindowWatcher(store, refresh=1, stale_after=1e9, clock=lambda: 0.0)
    watcher.snapshot = Snapshot(window_end, last, 30_000, 0, -1, 0, controls)
    no_limit = JoinRateLimit(0)
    return WaitingRoom(settings, TokenCodec(TEST_SECRET.encode(), "main"), store, watcher, no_limit, clock=lambda: NOW)


def ticket_at(room: WaitingRoom, position: int, epoch: int = 0) -> str:
    return room.codec.issue_ticket(position, 10, NOW, 3600, epoch)


def test_the_stored_pace_decides_status_and_estimate_not_the_environment() -> None:
    room = room_with(Controls(Pace(5, 60.0, 3)))
    status = room.status(room.read_ticket(ticket_at(room, 21)))
    assert status.status is Status.WAITING
    assert status.estimated_wait == 30 + 2 * 60  # 3 slides of 5 (next one in 30 s), not the env's 10 per 30 s
    # With 3 active windows of 5, position 1 (10 - 15 < 1) is still active: the env's 2 windows of 10 agree here,
    assert room.status(room.read_ticket(ticket_at(room, 1))).status is Status.ACTIVE
    # but for a count of 1 it has expired.
    strict = room_with(Controls(Pace(5, 60.0, 1)))
    assert strict.status(strict.read_ticket(ticket_at(strict, 5))).status is Status.EXPIRED


def test_paused_keeps_the_place_and_admits_nobody() -> None:
    room = room_with(Controls(Pace(10, 30.0, 2), paused=True, message="Back at 10:00"))
    waiting = room.status(room.read_ticket(ticket_at(room, 15)))
    assert (waiting.status, waiting.ahead, waiting.paused, waiting.message) == (
        Status.WAITING,
        4,
        True,
        "Back at 10:00",
    )
    assert waiting.poll_after == 15.0
    active = room.status(room.read_ticket(ticket_at(room, 9)))
    assert active.status is Status.ACTIVE
    assert active.paused


async def test_admission_is_refused_while_paused() -> None:
    room = room_with(Controls(Pace(10, 30.0, 2), paused=True))
    result = await room.admit(room.read_ticket(ticket_at(room, 9)))
    assert result.outcome.value == "paused"
    assert result.pass_token is None


def test_tickets_of_an_earlier_epoch_are_refused_later_ones_kept() -> None:
    room = room_with(Controls(Pace(10, 30.0, 2), epoch=2))
    with pytest.raises(EarlierEpochError):
        room.read_ticket(ticket_at(room, 9, epoch=1))
    assert room.read_ticket(ticket_at(room, 9, epoch=2)).epoch == 2
    assert room.read_ticket(ticket_at(room, 9, epoch=3)).epoch == 3  # our copy lags a reset: not refused


def test_a_cached_ticket_is_refused_after_a_reset() -> None:
    room = room_with(Controls(Pace(10, 30.0, 2), epoch=0))
    token = ticket_at(room, 9)
    room.read_ticket(token)
    assert room.watcher.snapshot is not None
    room.watcher.snapshot = Snapshot(10, 100, 30_000, 0, -1, 0, Controls(Pace(10, 30.0, 2), epoch=1))
    with pytest.raises(EarlierEpochError):
        room.read_ticket(token)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"window_size": 0}, "window_size"),
        ({"window_size": "ten"}, "window_size"),
        ({"window_size": 2.5}, "window_size"),
        ({"window_interval": 0.05}, "window_interval"),
        ({"window_interval": "nan"}, "window_interval"),
        ({"active_window_count": 1001}, "active_window_count"),
        ({"active_window_count": True}, "active_window_count"),
        ({"window_size": None}, "window_size"),
        ({"speed": 3}, "speed"),
        ({}, "window_size"),
    ],
)
def test_a_bad_pace_names_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(PaceError) as raised:
        updated_pace(Pace(10, 30.0, 2), changes)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_a_pace_change_keeps_the_fields_not_given() -> None:
    assert updated_pace(Pace(10, 30.0, 2), {"window_interval": "0.5"}) == Pace(10, 0.5, 2)
    assert updated_pace(Pace(10, 30.0, 2), {"window_size": 25, "active_window_count": 3}) == Pace(25, 30.0, 3)


def test_messages_are_one_short_line() -> None:
    assert clean_message("  Doors\nopen   at 10 ") == "Doors open at 10"
    for bad in ("", "   ", "x" * (MAX_MESSAGE_LENGTH + 1), 42):
        with pytest.raises(ValueError, match="text"):
            clean_message(bad)
