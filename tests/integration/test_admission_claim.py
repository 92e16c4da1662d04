"""A ticket is redeemed once for as long as it can be active, whatever SESSION_DURATION says (issue 15, item 1)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.support import settings_for
from webapp.app import build_room
from webapp.queue.window import Status
from webapp.room import CLAIM_MARGIN_SECONDS, Admission, claim_lifetime
from webapp.settings import Settings
from webapp.tokens import LEEWAY_SECONDS


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


async def test_a_ticket_active_past_its_session_is_not_admitted_again(client: Redis, redis_url: str) -> None:
    """The issue's scenario: SESSION_DURATION=10, WINDOW_INTERVAL=10, WINDOW_SIZE=2, twelve joins."""
    settings = settings_for(
        redis_url, SESSION_DURATION="10", WINDOW_INTERVAL="10", WINDOW_SIZE="2", JOIN_RATE_LIMIT="0"
    )
    clock = Clock(1_900_000_000.0)
    room, _ = build_room(settings, client, clock)
    await room.watcher.refresh_once()
    joined = [await room.issue("203.0.113.1") for _ in range(12)]
    first = joined[0].ticket
    assert first.position == 1

    admitted = await room.admit(first)
    assert admitted.outcome is Admission.ADMITTED
    # The pass lasts 10 s; the ticket stays readable for hours (and active while slides wait on the queue).
    claim = room.store.keys.claim(first.ticket_id)
    remaining_ms = await client.pttl(claim)
    must_cover_ms = (first.expires_at + LEEWAY_SECONDS - clock.now) * 1000
    assert remaining_ms > must_cover_ms, (remaining_ms, must_cover_ms)

    clock.now += 11  # the pass has expired; the window has not moved, so ticket 1 is still active
    again = await room.admit(room.read_ticket(joined[0].token))
    assert again.status.status.value == "active"
    assert again.outcome is Admission.ALREADY_USED
    assert again.pass_token is None
    assert await client.get(claim) is not None


async def test_the_claim_is_forgotten_after_its_ticket(client: Redis, redis_url: str) -> None:
    """What bounds the claims' memory: each lives at most the ticket's remaining life plus the margin."""
    settings = settings_for(redis_url, TICKET_TTL="120", WINDOW_SIZE="5")
    clock = Clock(1_900_000_000.0)
    room, _ = build_room(settings, client, clock)
    await room.watcher.refresh_once()
    ticket = (await room.issue("203.0.113.1")).ticket
    clock.now += 30
    assert (await room.admit(ticket)).outcome is Admission.ADMITTED
    remaining_ms = await client.pttl(room.store.keys.claim(ticket.ticket_id))
    ceiling_ms = (120 - 30 + LEEWAY_SECONDS + CLAIM_MARGIN_SECONDS) * 1000
    assert ceiling_ms - 2000 < remaining_ms <= ceiling_ms


@given(
    session=st.integers(10, 86_400),
    interval=st.floats(0.1, 86_400, allow_nan=False),
    count=st.integers(1, 1000),
    ticket_ttl=st.integers(60, 7 * 86_400),
    admitted_after=st.floats(0, 1, allow_nan=False),
)
def test_the_claim_outlives_every_moment_its_ticket_is_accepted(
    session: int, interval: float, count: int, ticket_ttl: int, admitted_after: float
) -> None:
    """Whatever the settings and whenever in its life the ticket is admitted, the claim lasts past the
    last instant ``read_ticket`` accepts the ticket, so no later admission of it can succeed."""
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://127.0.0.1:1",
            "SESSION_DURATION": str(session),
            "WINDOW_INTERVAL": repr(interval),
            "ACTIVE_WINDOW_COUNT": str(count),
            "TICKET_TTL": str(ticket_ttl),
        }
    )
    issued_at = 1_900_000_000
    expires_at = issued_at + int(settings.ticket_ttl)
    now = issued_at + int(admitted_after * (expires_at + LEEWAY_SECONDS - 1 - issued_at))
    last_accepted = expires_at + LEEWAY_SECONDS - 1  # read_ticket refuses from exp + leeway on
    assert now + claim_lifetime(expires_at, now) > last_accepted
    # Longer than the active span the settings allow too, however they relate to SESSION_DURATION.
    active_span = min(settings.active_window_count * settings.window_interval, expires_at - now)
    assert claim_lifetime(expires_at, now) > active_span


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    session=st.integers(10, 86_400),
    interval=st.sampled_from(["0.5", "10", "600", "3600"]),
    count=st.integers(1, 50),
    waiting=st.integers(0, 30),
    later=st.floats(0, 1, allow_nan=False),
)
async def test_a_real_room_never_admits_one_ticket_twice_whatever_the_settings(
    client: Redis, redis_url: str, session: int, interval: str, count: int, waiting: int, later: float
) -> None:
    """Against Redis: after the admission, the claim outlives every moment the ticket is still read."""
    await client.flushall()
    env = {"SESSION_DURATION": str(session), "WINDOW_INTERVAL": interval, "ACTIVE_WINDOW_COUNT": str(count)}
    room_settings = settings_for(redis_url, WINDOW_SIZE="1", JOIN_RATE_LIMIT="0", **env)
    clock = Clock(1_900_000_000.0)
    room, _ = build_room(room_settings, client, clock)
    await room.watcher.refresh_once()
    first = await room.issue("203.0.113.1")
    for _ in range(waiting):
        await room.issue("203.0.113.1")
    assert (await room.admit(first.ticket)).outcome is Admission.ADMITTED
    last_read = first.ticket.expires_at + LEEWAY_SECONDS - 1
    remaining_ms = await client.pttl(room.store.keys.claim(first.ticket.ticket_id))
    assert clock.now * 1000 + remaining_ms > last_read * 1000
    clock.now += later * (last_read - clock.now)
    again = await room.admit(room.read_ticket(first.token))
    assert again.status.status is Status.ACTIVE  # the window did not move: still active, whatever the settings
    assert again.outcome is Admission.ALREADY_USED
