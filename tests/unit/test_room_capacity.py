"""The room capacity ramp's pure parts: reading the fragment's pace, classifying replies, the step arithmetic
and the stop rule (bench/room_capacity.py)."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from bench.room_capacity import (
    P99_LIMIT_MS,
    Step,
    core_busy_seconds,
    cpu_percent,
    first_polls,
    headline,
    measured_stretch,
    parse_count,
    parse_steps,
    poll_delay,
    process_cpu_seconds,
    shown,
    stop_reason,
    waiting_delay,
)

POLLER = (
    '<div class="poller" hidden hx-get="/room/status" hx-trigger="load delay:{delay}, sq:retry delay:2s" '
    'hx-target="#queue-status" hx-swap="innerHTML"></div>'
)


def fragment(position: int = 42, delay: str = "20000ms", extra: str = "") -> bytes:
    """A waiting fragment shaped like templates/_status.html renders it."""
    return (
        POLLER.format(delay=delay) + extra + f'<div class="place"><p class="place__label">Your number in line</p>'
        f'<p class="place__number" data-testid="queue-position">{position}</p></div>'
    ).encode()


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: 10"


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [("20000ms", 20.0), ("1000ms", 1.0), ("250ms", 0.25), ("2s", 2.0), ("1.5s", 1.5), ("12.5ms", 0.0125)],
)
def test_poll_delay_reads_the_load_trigger(delay: str, seconds: float) -> None:
    assert poll_delay(fragment(delay=delay)) == pytest.approx(seconds)


def test_poll_delay_is_the_load_trigger_not_the_retry_one() -> None:
    body = b'<div hx-trigger="sq:retry delay:2s"></div>' + fragment(delay="20000ms")
    assert poll_delay(body) == 20.0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'<form hx-trigger="load, submit"></form>',  # the join form: htmx posts at once, no poll
        b'<div class="expired" data-testid="queue-expired"></div>',
        b'<div hx-trigger="load delay:soon"></div>',
    ],
)
def test_poll_delay_is_none_without_a_delayed_load_trigger(body: bytes) -> None:
    assert poll_delay(body) is None


def test_a_waiting_fragment_of_the_visitor_is_ok_with_its_delay() -> None:
    assert waiting_delay(200, HEAD, fragment(42), 42) == ("ok", 20.0)


@pytest.mark.parametrize(
    ("status", "head", "body", "outcome"),
    [
        (503, HEAD, fragment(42), "non-200"),
        (303, HEAD, b"", "non-200"),
        (200, HEAD, fragment(41), "not-waiting"),  # someone else's place
        (200, HEAD, fragment(42).replace(b"hx-trigger", b"data-x"), "not-waiting"),  # stopped polling
        (200, HEAD + b"\r\nHX-Redirect: /checkout", b"", "not-waiting"),  # admitted
        (200, HEAD, b'<div class="expired" data-testid="queue-expired"></div>', "not-waiting"),
        (200, HEAD, fragment(42, extra='<p class="reconnecting" role="status">'), "not-waiting"),
        (200, HEAD, fragment(42, extra='<div class="paused" data-testid="queue-paused">'), "not-waiting"),
    ],
)
def test_anything_but_the_waiting_fragment_is_a_failure(status: int, head: bytes, body: bytes, outcome: str) -> None:
    assert waiting_delay(status, head, body, 42)[0] == outcome


def test_a_paused_fragment_is_the_expected_one_when_the_run_paused_the_queue() -> None:
    paused = fragment(42, delay="1000ms", extra='<div class="paused" data-testid="queue-paused">')
    assert waiting_delay(200, HEAD, paused, 42, paused=True) == ("ok", 1.0)
    assert waiting_delay(200, HEAD, fragment(42), 42, paused=True)[0] == "not-waiting"


@pytest.mark.parametrize(
    ("text", "count"), [("25000", 25_000), ("25k", 25_000), ("1.5m", 1_500_000), ("2.5k", 2_500), (" 200 ", 200)]
)
def test_parse_count(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "0.0001k", "k", "many"])
def test_parse_count_refuses_what_is_not_a_whole_positive_number(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_count(text)


def test_parse_steps() -> None:
    assert parse_steps("25k,50k, 100k,150k") == [25_000, 50_000, 100_000, 150_000]


@pytest.mark.parametrize("text", ["", "50k,25k", "10k,10k"])
def test_parse_steps_must_increase(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_steps(text)


def test_first_polls_are_spread_uniformly_over_one_period() -> None:
    due = first_polls(100.0, 20.0, 8000, random.Random(3))
    assert len(due) == 8000
    assert all(100.0 <= at < 120.0 for at in due)
    quarters = Counter(int((at - 100.0) // 5) for at in due)
    assert sorted(quarters) == [0, 1, 2, 3]
    assert all(1800 <= n <= 2200 for n in quarters.values()), quarters  # no thundering herd
    assert first_polls(100.0, 20.0, 50, random.Random(3)) == due[:50]


def test_the_measured_stretch_starts_after_one_period() -> None:
    assert measured_stretch(10.0, 20.0, 30.0) == (30.0, 60.0)


def test_cpu_percent_is_of_one_core() -> None:
    assert cpu_percent(1.5, 2.0) == 75.0
    assert cpu_percent(1.0, 0.0) == 0.0


def test_process_cpu_seconds_reads_this_process() -> None:
    before = process_cpu_seconds(os.getpid())
    ends = time.process_time() + 0.05
    while time.process_time() < ends:  # burn a little CPU, bounded by CPU time
        pass
    assert process_cpu_seconds(os.getpid()) > before


def step(browsers: int, latencies_ms: list[float], seconds: float | None = None, **kwargs: object) -> Step:
    """A measured step; unless ``seconds`` says otherwise, its replies came exactly at the pace due."""
    period = 20.0
    if seconds is None:
        seconds = len(latencies_ms) * period / browsers if latencies_ms else 30.0
    made = Step(browsers=browsers, period=period, seconds=seconds, **kwargs)  # type: ignore[arg-type]
    made.latencies = sorted(ms / 1000 for ms in latencies_ms)
    made.wire = list(made.latencies)
    made.late = [0.0] * len(latencies_ms)
    return made


def test_step_arithmetic() -> None:
    measured = step(20_000, [float(ms) for ms in range(1, 1001)], seconds=30.0)  # 1..1000 ms
    assert measured.polls == 1000
    assert measured.rate == pytest.approx(1000 / 30)
    assert measured.expected_rate == 1000.0
    assert (measured.ms(50), measured.ms(90), measured.ms(99), measured.max_ms) == pytest.approx(
        (500.0, 900.0, 990.0, 1000.0)
    )


def test_a_step_under_the_limit_does_not_stop_the_ramp() -> None:
    assert stop_reason(step(1000, [5.0] * 995 + [300.0] * 5)) is None  # half a percent slow: under the p99


def test_a_p99_at_the_limit_stops_the_ramp() -> None:
    reason = stop_reason(step(1000, [5.0] * 980 + [P99_LIMIT_MS] * 20))
    assert reason is not None
    assert reason.startswith("p99 100.0 ms")


@pytest.mark.parametrize(
    "kwargs",
    [{"non_200": 1}, {"not_waiting": 2}, {"errors": Counter({"TimeoutError: no reply within 10 s": 1})}],
)
def test_any_error_stops_the_ramp(kwargs: dict[str, Any]) -> None:
    reason = stop_reason(step(1000, [1.0] * 100, **kwargs))
    assert reason is not None
    assert reason.startswith("errors:")


def test_a_step_without_replies_stops_the_ramp() -> None:
    assert stop_reason(step(1000, [])) == "no replies in the measured stretch"


def test_the_headline_names_the_last_step_that_passed() -> None:
    steps = [step(25_000, [4.0] * 100), step(50_000, [9.0] * 100), step(100_000, [150.0] * 100)]
    assert headline(steps) == "one core holds 50000 waiting browsers (p99 9 ms, 0 errors)"


def test_the_headline_says_when_the_ramp_ended_before_the_limit() -> None:
    line = headline([step(25_000, [4.0] * 100)])
    assert line.startswith("one core holds 25000 waiting browsers (p99 4 ms, 0 errors)")
    assert "ended before the server's limit" in line


def test_the_headline_when_the_first_step_fails() -> None:
    line = headline([step(25_000, [1.0] * 100, non_200=3)])
    assert line.startswith("one core holds fewer than 25000 waiting browsers")
    assert "3 non-200" in line


def test_the_headline_flags_a_saturated_client() -> None:
    steps = [step(25_000, [4.0] * 100), step(50_000, [150.0] * 100, client_cpu=97.0)]
    assert steps[1].client_limited
    assert not steps[0].client_limited
    assert "CLIENT-LIMITED" in headline(steps)


def test_a_step_with_fewer_polls_than_due_is_behind_pace() -> None:
    slow = step(100_000, [1.0] * 100, seconds=30.0)  # 100 polls in 30 s against 5000/s due
    assert slow.behind_pace
    assert not slow.client_limited  # its core was not saturated: the server fell behind
    assert not step(100_000, [1.0] * 100).behind_pace


def test_the_headline_flags_a_shared_server_core() -> None:
    quiet, noisy = step(25_000, [4.0] * 100, others_cpu=2.0), step(50_000, [150.0] * 100, others_cpu=35.0)
    assert not quiet.core_shared
    assert noisy.core_shared
    assert "shared the server's core" in headline([quiet, noisy])
    assert "shared" not in headline([quiet])


def test_core_busy_seconds_reads_proc_stat() -> None:
    assert core_busy_seconds(0) > 0


def test_a_wrong_reply_is_shown_without_its_poller_and_bounded() -> None:
    body = fragment(42, extra='<p class="reconnecting" role="status">Reconnecting…\n  your place is safe</p>')
    text = shown(HEAD, body)
    assert text.startswith("HTTP/1.1 200 OK")
    assert "Reconnecting… your place is safe" in text
    assert "poller" not in text
    assert len(shown(HEAD, body * 50)) == 600
