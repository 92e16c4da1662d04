"""The sliding-window arithmetic: pure functions of integers and seconds, no I/O and no clock.

With ``S`` tickets per window and ``C`` active windows, a position ``p`` is expired when
``p <= window_end - S*C``, waiting when ``p > window_end`` and active otherwise.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"
    ACTIVE = "active"
    EXPIRED = "expired"
    PREQUEUE = "prequeue"
    """A pre-queue ticket before the draw: it has an arrival index, its position is not known yet."""


def status_of(position: int, window_end: int, size: int, active_count: int) -> Status:
    """Classify ``position`` against the window that ends at ``window_end``."""
    if position <= window_end - size * active_count:
        return Status.EXPIRED
    if position > window_end:
        return Status.WAITING
    return Status.ACTIVE


def people_ahead(position: int, window_end: int) -> int:
    """Visitors still waiting in front of ``position`` (zero once it is inside the window)."""
    return max(0, position - window_end - 1)


def slides_until_active(position: int, window_end: int, size: int) -> int:
    """How many more slides of ``size`` bring ``position`` inside the window."""
    if position <= window_end:
        return 0
    return -(-(position - window_end) // size)


def slides_until_expired(position: int, window_end: int, size: int, active_count: int) -> int:
    """How many more slides push ``position`` out of the active windows (0 if already expired)."""
    return max(0, -(-(position - window_end + size * active_count) // size))


def estimated_wait(position: int, window_end: int, size: int, interval: float, seconds_to_next_slide: float) -> float:
    """Seconds until ``position`` turns active, assuming the window keeps its pace.

    Slides never skip while anyone waits, so the first one comes when it is due and each further one
    ``interval`` later: this is the schedule the leader keeps, not a guess.
    """
    slides = slides_until_active(position, window_end, size)
    if slides == 0:
        return 0.0
    return max(0.0, seconds_to_next_slide) + (slides - 1) * interval


def active_time_left(
    position: int,
    window_end: int,
    size: int,
    active_count: int,
    interval: float,
    seconds_to_next_slide: float,
) -> float:
    """Seconds an active ticket has left before the window slides past it (the earliest it can expire)."""
    slides = slides_until_expired(position, window_end, size, active_count)
    if slides == 0:
        return 0.0
    return max(0.0, seconds_to_next_slide) + (slides - 1) * interval


def progress(position: int, window_end_at_join: int, window_end: int) -> float:
    """Share of the wait already behind a visitor, from 0.0 when they joined to 1.0 at their turn."""
    distance = position - window_end_at_join
    if distance <= 0:
        return 1.0
    return min(1.0, max(0.0, (window_end - window_end_at_join) / distance))


MIN_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 20.0
POLL_SHARE_OF_WAIT = 0.2


def poll_delay(wait_seconds: float, interval: float) -> float:
    """How long a waiting visitor should wait before asking again.

    A fifth of the remaining wait, but never longer than ``MAX_POLL_SECONDS`` nor shorter than half a
    slide interval (or ``MIN_POLL_SECONDS``, whichever is smaller): visitors far back ask rarely, those
    near the front often enough to be let in within half an interval of their turn.
    """
    floor = min(MIN_POLL_SECONDS, interval / 2)
    return min(MAX_POLL_SECONDS, max(floor, wait_seconds * POLL_SHARE_OF_WAIT))


def settled_poll_delay(active_time_left: float, interval: float) -> float:
    """How long an active (or expired) visitor should wait before asking again.

    Half an interval lets a page notice its turn ending in time, but with a one-day interval that was a
    12-hour silence: never longer than ``MAX_POLL_SECONDS``, nor than the time the visitor stays active
    (so the page shows "missed your turn" when it happens), nor shorter than the waiting floor.
    """
    floor = min(MIN_POLL_SECONDS, interval / 2)
    ceiling = min(MAX_POLL_SECONDS, interval / 2)
    if active_time_left > 0:
        ceiling = min(ceiling, max(floor, active_time_left))
    return ceiling
