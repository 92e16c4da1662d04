"""The join decision lives in the room: existing ticket (free), else a counted new place (issue 9, item 5)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.support import settings_for
from webapp.app import build_room
from webapp.queue.joinlimit import JoinLimited
from webapp.room import Admission


async def test_the_room_limits_new_places_and_says_when_to_retry(client: Redis, redis_url: str) -> None:
    room, _ = build_room(settings_for(redis_url, JOIN_RATE_LIMIT="2"), client)
    await room.watcher.refresh_once()
    first = await room.join(None, "203.0.113.5")
    assert first.created
    assert (await room.join(None, "203.0.113.5")).created
    with pytest.raises(JoinLimited) as refused:
        await room.join(None, "203.0.113.5")
    assert 1 <= refused.value.retry_after <= 60
    assert f"retry in {refused.value.retry_after} s" in str(refused.value)
    # The ticket already held is given back without counting; another address has its own budget.
    again = await room.join(first.token, "203.0.113.5")
    assert not again.created
    assert again.ticket == first.ticket
    assert (await room.join(None, "203.0.113.6")).created
    assert int(await client.get(room.store.keys.counter) or 0) == 3


async def test_admit_hands_back_the_pass_it_minted(client: Redis, redis_url: str) -> None:
    room, _ = build_room(settings_for(redis_url, WINDOW_SIZE="5"), client)
    await room.watcher.refresh_once()
    ticket = (await room.join(None, "203.0.113.7")).ticket
    result = await room.admit(ticket)
    assert result.outcome is Admission.ADMITTED
    assert result.pass_token is not None
    assert result.access == room.read_pass(result.pass_token)
    assert result.access.ticket_id == ticket.ticket_id
