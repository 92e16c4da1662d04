"""How durations and times read to a visitor."""

from __future__ import annotations

import pytest

from webapp.web.filters import clock_time, countdown, duration, every, iso_time


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "any moment now"),
        (0.4, "any moment now"),
        (1, "1 second"),
        (4.2, "5 seconds"),
        (30, "less than a minute"),
        (60, "about 1 minute"),
        (61, "about 2 minutes"),
        (3540, "about 59 minutes"),
        (3600, "about 1 h"),
        (4800, "about 1 h 20 min"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "every second"),
        (0.5, "every 0.5 seconds"),
        (30, "every 30 seconds"),
        (60, "every minute"),
        (90, "every 1.5 minutes"),
    ],
)
def test_every(seconds: float, text: str) -> None:
    assert every(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (9, "0:09"), (600, "10:00"), (-5, "0:00")])
def test_countdown(seconds: int, text: str) -> None:
    assert countdown(seconds) == text


def test_times_are_utc() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00+00:00"
    assert clock_time(3661) == "01:01:01 UTC"
