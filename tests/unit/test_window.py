"""The pure window arithmetic: a table of known answers, then the invariants as properties."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.queue import window
from webapp.queue.window import Status

# Ordering of statuses along the queue: a lower position is never "later" than a higher one.
_ORDER = {Status.EXPIRED: 0, Status.ACTIVE: 1, Status.WAITING: 2}

positions = st.integers(min_value=1, max_value=10**9)
window_ends = st.integers(min_value=0, max_value=10**9)
sizes = st.integers(min_value=1, max_value=10_000)
counts = st.integers(min_value=1, max_value=50)
intervals = st.floats(min_value=0.1, max_value=86_400, allow_nan=False, allow_infinity=False)
waits = st.floats(min_value=0, max_value=10**7, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("position", "window_end", "size", "count", "expected"),
    [
        # The Go original's table: window_end 20, size 10, one active window.
        (1, 20, 10, 1, Status.EXPIRED),
        (15, 20, 10, 1, Status.ACTIVE),
        (30, 20, 10, 1, Status.WAITING),
        # Boundaries with one active window: expired up to window_end - S*C = 10.
        (10, 20, 10, 1, Status.EXPIRED),
        (11, 20, 10, 1, Status.ACTIVE),
        (20, 20, 10, 1, Status.ACTIVE),
        (21, 20, 10, 1, Status.WAITING),
        # Two active windows (the default): expired up to 0, so nothing has expired yet.
        (1, 20, 10, 2, Status.ACTIVE),
        (20, 20, 10, 2, Status.ACTIVE),
        (21, 20, 10, 2, Status.WAITING),
        (10, 30, 10, 2, Status.EXPIRED),
        (11, 30, 10, 2, Status.ACTIVE),
        # The initial window (window_end == WINDOW_SIZE).
        (1, 10, 10, 2, Status.ACTIVE),
        (10, 10, 10, 2, Status.ACTIVE),
        (11, 10, 10, 2, Status.WAITING),
        # Window of one ticket.
        (5, 5, 1, 1, Status.ACTIVE),
        (4, 5, 1, 1, Status.EXPIRED),
        (6, 5, 1, 1, Status.WAITING),
        # A window_end not aligned to the size (the size was changed between runs).
        (7, 17, 5, 2, Status.EXPIRED),
        (8, 17, 5, 2, Status.ACTIVE),
        (18, 17, 5, 2, Status.WAITING),
    ],
)
def test_status_of_table(position: int, window_end: int, size: int, count: int, expected: Status) -> None:
    assert window.status_of(position, window_end, size, count) is expected


def test_status_values_are_the_api_strings() -> None:
    assert {s.value for s in Status} == {"waiting", "active", "expired", "prequeue"}
    assert json.dumps({"status": Status.WAITING}) == '{"status": "waiting"}'
    assert f"{Status.EXPIRED}" == "expired"


@pytest.mark.parametrize(
    ("position", "window_end", "expected"),
    [(21, 20, 0), (22, 20, 1), (30, 20, 9), (20, 20, 0), (1, 20, 0), (1_000_011, 10, 1_000_000)],
)
def test_people_ahead(position: int, window_end: int, expected: int) -> None:
    assert window.people_ahead(position, window_end) == expected


@pytest.mark.parametrize(
    ("position", "window_end", "size", "expected"),
    [(20, 20, 10, 0), (1, 20, 10, 0), (21, 20, 10, 1), (30, 20, 10, 1), (31, 20, 10, 2), (1000, 10, 10, 99)],
)
def test_slides_until_active(position: int, window_end: int, size: int, expected: int) -> None:
    assert window.slides_until_active(position, window_end, size) == expected


@pytest.mark.parametrize(
    ("position", "window_end", "size", "count", "expected"),
    [
        (10, 20, 10, 1, 0),  # already expired
        (1, 20, 10, 1, 0),
        (11, 20, 10, 1, 1),  # the next slide (window_end 30) expires it
        (20, 20, 10, 1, 1),
        (20, 20, 10, 2, 2),
        (11, 20, 10, 2, 2),
        (1, 20, 10, 2, 1),
        (21, 20, 10, 1, 2),  # waiting: active after one slide, expired after the second
    ],
)
def test_slides_until_expired(position: int, window_end: int, size: int, count: int, expected: int) -> None:
    assert window.slides_until_expired(position, window_end, size, count) == expected


@pytest.mark.parametrize(
    ("position", "window_end", "size", "interval", "next_slide", "expected"),
    [
        (20, 20, 10, 30.0, 12.0, 0.0),  # active: no wait
        (21, 20, 10, 30.0, 12.0, 12.0),  # turns active at the next slide
        (30, 20, 10, 30.0, 12.0, 12.0),
        (31, 20, 10, 30.0, 12.0, 42.0),
        (51, 20, 10, 30.0, 0.0, 90.0),
        (21, 20, 10, 30.0, -3.0, 0.0),  # an overdue slide counts as now, never negative
        (25, 20, 10, 0.5, 0.25, 0.25),
    ],
)
def test_estimated_wait(
    position: int, window_end: int, size: int, interval: float, next_slide: float, expected: float
) -> None:
    assert window.estimated_wait(position, window_end, size, interval, next_slide) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("position", "window_end", "size", "count", "interval", "next_slide", "expected"),
    [
        (10, 20, 10, 1, 30.0, 5.0, 0.0),  # expired
        (15, 20, 10, 1, 30.0, 5.0, 5.0),  # cliff edge: gone at the next slide
        (15, 20, 10, 2, 30.0, 5.0, 35.0),
        (5, 20, 10, 2, 30.0, 5.0, 5.0),
        (20, 20, 10, 3, 30.0, 5.0, 65.0),
        (15, 20, 10, 1, 30.0, -1.0, 0.0),
    ],
)
def test_active_time_left(
    position: int, window_end: int, size: int, count: int, interval: float, next_slide: float, expected: float
) -> None:
    left = window.active_time_left(position, window_end, size, count, interval, next_slide)
    assert left == pytest.approx(expected)


@pytest.mark.parametrize(
    ("position", "at_join", "window_end", "expected"),
    [
        (30, 10, 10, 0.0),
        (30, 10, 20, 0.5),
        (30, 10, 30, 1.0),
        (30, 10, 40, 1.0),
        (5, 10, 10, 1.0),  # active on joining
        (10, 10, 10, 1.0),
        (30, 10, 5, 0.0),  # a window behind the join point never shows negative progress
    ],
)
def test_progress(position: int, at_join: int, window_end: int, expected: float) -> None:
    assert window.progress(position, at_join, window_end) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("wait", "interval", "expected"),
    [
        (0.0, 30.0, window.MIN_POLL_SECONDS),
        (1.0, 30.0, window.MIN_POLL_SECONDS),
        (10.0, 30.0, 2.0),
        (1000.0, 30.0, window.MAX_POLL_SECONDS),
        (0.0, 0.1, 0.05),  # a fast window polls within half an interval
        (0.0, 0.6, 0.3),
    ],
)
def test_poll_delay(wait: float, interval: float, expected: float) -> None:
    assert window.poll_delay(wait, interval) == pytest.approx(expected)


# Properties


@given(positions, window_ends, sizes, counts)
def test_exactly_one_status_matching_the_definition(position: int, window_end: int, size: int, count: int) -> None:
    status = window.status_of(position, window_end, size, count)
    definitions = {
        Status.EXPIRED: position <= window_end - size * count,
        Status.WAITING: position > window_end,
        Status.ACTIVE: window_end - size * count < position <= window_end,
    }
    assert [s for s, holds in definitions.items() if holds] == [status]


@given(positions, positions, window_ends, sizes, counts)
def test_statuses_are_in_fifo_order(a: int, b: int, window_end: int, size: int, count: int) -> None:
    lower, higher = min(a, b), max(a, b)
    assert (
        _ORDER[window.status_of(lower, window_end, size, count)]
        <= _ORDER[window.status_of(higher, window_end, size, count)]
    )


@given(positions, window_ends, sizes, counts, st.integers(min_value=1, max_value=100))
def test_sliding_never_moves_a_position_backwards(
    position: int, window_end: int, size: int, count: int, slides: int
) -> None:
    before = window.status_of(position, window_end, size, count)
    for _ in range(slides):
        window_end += size
        after = window.status_of(position, window_end, size, count)
        assert _ORDER[after] <= _ORDER[before]
        before = after


@given(positions, window_ends, sizes, counts)
def test_waiting_turns_active_after_exactly_slides_until_active(
    position: int, window_end: int, size: int, count: int
) -> None:
    slides = window.slides_until_active(position, window_end, size)
    if window.status_of(position, window_end, size, count) is not Status.WAITING:
        assert slides == 0
        return
    assert slides >= 1
    assert window.status_of(position, window_end + (slides - 1) * size, size, count) is Status.WAITING
    assert window.status_of(position, window_end + slides * size, size, count) is Status.ACTIVE


@given(positions, window_ends, sizes, counts)
def test_expires_after_exactly_slides_until_expired(position: int, window_end: int, size: int, count: int) -> None:
    slides = window.slides_until_expired(position, window_end, size, count)
    if window.status_of(position, window_end, size, count) is Status.EXPIRED:
        assert slides == 0
        return
    assert slides >= 1
    assert window.status_of(position, window_end + (slides - 1) * size, size, count) is not Status.EXPIRED
    assert window.status_of(position, window_end + slides * size, size, count) is Status.EXPIRED


@given(positions, window_ends, sizes, counts)
def test_people_ahead_counts_the_waiting_positions_in_front(
    position: int, window_end: int, size: int, count: int
) -> None:
    ahead = window.people_ahead(position, window_end)
    if window.status_of(position, window_end, size, count) is Status.WAITING:
        # Positions window_end+1 .. position-1 are all waiting and all ahead.
        assert ahead == position - window_end - 1
    else:
        assert ahead == 0


@given(positions, positions, window_ends, sizes, intervals, st.floats(min_value=-100, max_value=86_400))
def test_estimated_wait_is_non_decreasing_in_position(
    a: int, b: int, window_end: int, size: int, interval: float, next_slide: float
) -> None:
    lower, higher = min(a, b), max(a, b)
    wait_lower = window.estimated_wait(lower, window_end, size, interval, next_slide)
    wait_higher = window.estimated_wait(higher, window_end, size, interval, next_slide)
    assert 0.0 <= wait_lower <= wait_higher


@given(positions, window_ends, sizes, intervals, st.floats(min_value=0, max_value=86_400))
def test_estimated_wait_is_zero_exactly_when_not_waiting(
    position: int, window_end: int, size: int, interval: float, next_slide: float
) -> None:
    wait = window.estimated_wait(position, window_end, size, interval, next_slide)
    slides = window.slides_until_active(position, window_end, size)
    if position <= window_end:
        assert wait == 0.0
    else:
        assert wait == pytest.approx(next_slide + (slides - 1) * interval)


@given(positions, window_ends, sizes, counts, intervals, st.floats(min_value=-100, max_value=86_400))
def test_active_time_left_is_never_negative_and_zero_once_expired(
    position: int, window_end: int, size: int, count: int, interval: float, next_slide: float
) -> None:
    left = window.active_time_left(position, window_end, size, count, interval, next_slide)
    assert left >= 0.0
    if window.status_of(position, window_end, size, count) is Status.EXPIRED:
        assert left == 0.0


@given(
    positions,
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
)
def test_progress_in_unit_range_and_non_decreasing_as_window_grows(
    position: int, at_join: int, steps: list[int]
) -> None:
    window_end = at_join
    previous = window.progress(position, at_join, window_end)
    assert 0.0 <= previous <= 1.0
    for step in steps:
        window_end += step
        current = window.progress(position, at_join, window_end)
        assert 0.0 <= current <= 1.0
        assert current >= previous
        previous = current
    if window_end >= position:
        assert previous == 1.0


@given(waits, intervals)
def test_poll_delay_within_bounds(wait: float, interval: float) -> None:
    delay = window.poll_delay(wait, interval)
    floor = min(window.MIN_POLL_SECONDS, interval / 2)
    assert floor <= delay <= window.MAX_POLL_SECONDS
    assert math.isfinite(delay)


@given(waits, waits, intervals)
def test_poll_delay_is_monotone_in_wait(a: float, b: float, interval: float) -> None:
    shorter, longer = min(a, b), max(a, b)
    assert window.poll_delay(shorter, interval) <= window.poll_delay(longer, interval)


@pytest.mark.parametrize(
    ("left", "interval", "expected"),
    [
        (86_400.0, 86_400.0, 20.0),  # a one-day interval: at most 20 s between polls, not 12 h
        (3.0, 30.0, 3.0),  # turn ends in 3 s: ask again then, not in 15 s
        (0.1, 30.0, 0.5),  # never faster than the waiting visitors' floor
        (100.0, 10.0, 5.0),  # half an interval still bounds it
        (0.0, 30.0, 15.0),  # expired: nothing ends, half an interval as before
        (0.0, 0.2, 0.1),
    ],
)
def test_an_active_visitor_polls_no_later_than_their_turn_ends(left: float, interval: float, expected: float) -> None:
    assert window.settled_poll_delay(left, interval) == pytest.approx(expected)


@given(waits, intervals)
def test_an_active_visitors_poll_delay_is_bounded(left: float, interval: float) -> None:
    delay = window.settled_poll_delay(left, interval)
    assert min(window.MIN_POLL_SECONDS, interval / 2) <= delay <= min(window.MAX_POLL_SECONDS, interval / 2)
    if left > 0:
        assert delay <= max(left, min(window.MIN_POLL_SECONDS, interval / 2))
