"""Template filters: how durations and times read to a visitor. Pure functions, tested as such."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime


def duration(seconds: float) -> str:
    """A wait as people say it: "less than a minute", "about 4 minutes", "about 1 h 20 min"."""
    if seconds < 1:
        return "any moment now"
    if seconds < 60:
        whole = math.ceil(seconds)
        return f"{whole} second{'s' if whole != 1 else ''}" if seconds < 10 else "less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


def every(seconds: float) -> str:
    """The slide pace in a sentence: "every 30 seconds", "every 2 minutes", "every second"."""
    if seconds == 1:
        return "every second"
    if seconds < 60:
        return f"every {seconds:g} seconds"
    if seconds < 3600:
        minutes = seconds / 60
        return "every minute" if minutes == 1 else f"every {minutes:g} minutes"
    hours = seconds / 3600
    return "every hour" if hours == 1 else f"every {hours:g} hours"


def countdown(seconds: int) -> str:
    """``m:ss`` for the checkout hold."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def iso_time(timestamp: float) -> str:
    return _iso_second(math.floor(timestamp))


def clock_time(timestamp: float) -> str:
    return _clock_second(math.floor(timestamp))


# Every poll fragment shows the time it was made, to the second: one formatting per second, not per poll.
@functools.lru_cache(maxsize=8)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=8)
def _clock_second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%H:%M:%S UTC")


FILTERS = {"duration": duration, "every": every, "countdown": countdown, "iso_time": iso_time, "clock_time": clock_time}
