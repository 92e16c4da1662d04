"""The lane answers a repeated poll and a plain API join as the framework does, and leaves the rest to it.

Each comparison freezes the replica's view of time (its window copy stops refreshing, its clocks stop),
so the framework's answer to the first poll and the lane's answer to the second must be equal byte for
byte — headers included, but for the request id and the date.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.support.waiting import wait_until_sync
from tests.support.web import Client, ClientFactory, csrf_of
from webapp import metrics
from webapp.queue.keys import queue_keys
from webapp.room import WaitingRoom
from webapp.web.lane import Lane

HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}
ADMIN = "admin-token-" + "b" * 40
VARYING = {"x-request-id", "date"}


def counter(redis_url: str) -> int:
    with redis.Redis.from_url(redis_url) as raw:
        value = raw.get(queue_keys("main").counter)
        return int(value) if value is not None else 0


def lane_of(client: Client) -> Lane:
    handler: object = client.app.asgi_handler
    while not isinstance(handler, Lane):
        handler = getattr(handler, "app")  # noqa: B009 - each layer keeps the next one as .app
    return handler


def freeze(client: Client) -> WaitingRoom:
    """Stop the window copy and the clocks, so two polls in a row must get the same answer."""
    room: WaitingRoom = client.app.state.room
    watcher = room.watcher
    fetched = watcher.fetched_at
    watcher.refresh = 3600.0  # read by the loop's next sleep: after one more refresh it sleeps for an hour
    wait_until_sync(lambda: watcher.fetched_at != fetched, 5, what="one more window refresh")
    now, wall = watcher.fetched_at, time.time()
    watcher.clock = lambda: now
    room.clock = lambda: wall
    return room


def same_answer(first: httpx.Response, second: httpx.Response) -> None:
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    drop: Callable[[httpx.Response], list[tuple[str, str]]] = lambda r: [  # noqa: E731
        (k, v) for k, v in r.headers.multi_items() if k not in VARYING
    ]
    assert drop(second) == drop(first)
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def framework_then_lane(client: Client, path: str) -> tuple[httpx.Response, httpx.Response]:
    """The same browser poll twice: the framework's answer (its first for the ticket), then the lane's."""
    room: WaitingRoom = client.app.state.room
    room._verified.clear()
    lane = lane_of(client)
    before = lane.answered
    first = client.get(path, headers=HTMX)
    assert lane.answered == before
    second = client.get(path, headers=HTMX)
    assert lane.answered == before + 1
    same_answer(first, second)
    return first, second


def joined(client: Client, count: int, root: str = "") -> list[str]:
    return [client.post(root + "/join").json()["token"] for _ in range(count)]


def browser(make_client: ClientFactory, **env: str) -> Client:
    """A visitor who joined through the page: holds the ticket and CSRF cookies, waits behind two others."""
    client = make_client(WINDOW_SIZE="2", WINDOW_INTERVAL="600", **env)
    joined(client, 2)
    csrf = csrf_of(client.get("/", headers=HTML).text)
    assert client.post("/room/join", data={"_csrf_token": csrf}, headers=HTMX).status_code == 200
    assert {"sq_ticket", "sq_csrf"} <= set(client.cookies.keys())
    return client


@pytest.mark.parametrize("which", ["waiting", "active"])
def test_a_repeated_api_poll_is_answered_in_the_lane_as_the_framework_answers_it(
    make_client: ClientFactory, which: str
) -> None:
    client = make_client(WINDOW_SIZE="2", WINDOW_INTERVAL="600")
    tokens = joined(client, 4)
    token = tokens[0] if which == "active" else tokens[-1]
    freeze(client)._verified.clear()  # as on a replica that did not issue these tickets
    lane = lane_of(client)
    bearer = {"Authorization": f"Bearer {token}"}
    before = lane.answered
    first = client.get("/status", headers=bearer)  # a ticket this replica has not verified: the framework
    assert lane.answered == before
    second = client.get("/status", headers=bearer)
    assert lane.answered == before + 1
    same_answer(first, second)
    assert second.json()["status"] == which
    assert second.headers["content-type"] == "application/json"
    assert second.headers["cache-control"] == "no-store"
    assert second.headers["vary"] == "Authorization"


def test_a_repeated_browser_poll_is_answered_in_the_lane_as_the_framework_answers_it(
    make_client: ClientFactory,
) -> None:
    client = browser(make_client)
    freeze(client)
    _, second = framework_then_lane(client, "/room/status")
    assert 'data-testid="queue-position">3<' in second.text
    assert 'hx-get="/room/status"' in second.text
    assert "set-cookie" not in second.headers
    assert second.headers["vary"] == "Cookie"


def test_a_paused_queue_is_answered_in_the_lane_too(make_client: ClientFactory) -> None:
    client = browser(make_client, ADMIN_TOKEN=ADMIN)
    room = freeze(client)
    assert client.post("/admin/api/pause", headers={"Authorization": f"Bearer {ADMIN}"}).json()["paused"] is True
    client.blocking_portal.call(room.watcher.refresh_once)  # the copy is frozen: read the pause once
    _, second = framework_then_lane(client, "/room/status")
    assert 'data-testid="queue-paused"' in second.text


def test_under_a_root_path_the_lane_writes_the_prefixed_address(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="2", WINDOW_INTERVAL="600", ROOT_PATH="/queue")
    joined(client, 2, "/queue")
    csrf = csrf_of(client.get("/queue/", headers=HTML).text)
    client.post("/queue/room/join", data={"_csrf_token": csrf}, headers=HTMX)
    freeze(client)
    _, second = framework_then_lane(client, "/queue/room/status")
    assert 'hx-get="/queue/room/status"' in second.text


def test_lane_answers_count_as_polls_and_are_timed(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="2")
    token = joined(client, 3)[-1]
    bearer = {"Authorization": f"Bearer {token}"}
    client.get("/status", headers=bearer)
    registry = metrics._OWN
    polls = registry.get_sample_value("session_queue_status_polls_total") or 0.0
    timed = registry.get_sample_value("session_queue_request_seconds_count", {"route": "/status", "method": "GET"})
    lane = lane_of(client)
    before = lane.answered
    for _ in range(5):
        assert client.get("/status", headers=bearer).status_code == 200
    assert lane.answered == before + 5
    assert registry.get_sample_value("session_queue_status_polls_total") == polls + 5
    after = registry.get_sample_value("session_queue_request_seconds_count", {"route": "/status", "method": "GET"})
    assert after == (timed or 0.0) + 5


def test_what_the_lane_does_not_answer_reaches_the_framework_unchanged(make_client: ClientFactory) -> None:
    client = browser(make_client)
    token = client.cookies["sq_ticket"]
    client.get("/room/status", headers=HTMX)  # known to this replica from here on
    lane = lane_of(client)
    before = lane.answered

    plain = client.get("/room/status", follow_redirects=False)  # not htmx: sent to the room page
    assert plain.status_code == 303
    head = client.head("/room/status", headers=HTMX)
    assert head.status_code == 200
    assert head.content == b""
    bad = client.get("/status", headers={"Authorization": "Bearer not-a-ticket"})
    assert bad.status_code == 401
    malformed = client.get("/status", headers={"Authorization": "Token x"})
    assert malformed.status_code == 400
    post = client.post("/status", headers={"Authorization": f"Bearer {token}"})
    assert post.status_code == 405
    # No CSRF cookie yet (a new browser holding only the ticket): the framework answers and sets one.
    fresh = make_client(WINDOW_SIZE="2", WINDOW_INTERVAL="600")
    lane_fresh = lane_of(fresh)
    for _ in range(2):
        fresh.cookies.clear()
        minted = fresh.get("/room/status", headers={**HTMX, "Cookie": f"sq_ticket={token}"})
        assert minted.status_code == 200
        assert 'data-testid="queue-position">3<' in minted.text
        assert "sq_csrf=" in minted.headers.get("set-cookie", "")
    assert lane_fresh.answered == 0
    assert lane.answered == before


def test_an_active_browser_is_admitted_by_the_framework(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="2", WINDOW_INTERVAL="600")
    csrf = csrf_of(client.get("/", headers=HTML).text)
    client.post("/room/join", data={"_csrf_token": csrf}, headers=HTMX)  # position 1: active at once
    client.get("/room/status", headers=HTMX)
    lane = lane_of(client)
    before = lane.answered
    entering = client.get("/room/status", headers=HTMX)
    assert entering.headers["hx-redirect"] == "/checkout"
    assert lane.answered == before


def test_a_plain_api_join_is_answered_in_the_lane_as_the_framework_answers_it(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1", WINDOW_INTERVAL="600")
    lane = lane_of(client)
    before = lane.answered
    framework = client.post("/join", content=b"{}")  # a body: the lane leaves it to the framework
    assert lane.answered == before
    ours = client.post("/join")
    assert lane.answered == before + 1
    assert ours.status_code == framework.status_code == 201
    assert [k for k, _ in ours.headers.multi_items()] == [k for k, _ in framework.headers.multi_items()]
    for header in ("content-type", "cache-control", "vary"):
        assert ours.headers[header] == framework.headers[header]
    first, second = framework.json(), ours.json()
    assert list(second) == list(first)
    assert (first["position"], second["position"]) == (1, 2)
    assert (first["status"], second["status"]) == ("active", "waiting")
    room: WaitingRoom = client.app.state.room
    assert room.codec.read_ticket(second["token"], room.now()).position == 2


def test_a_join_presenting_a_ticket_is_the_frameworks(make_client: ClientFactory) -> None:
    client = make_client()
    token = client.post("/join").json()["token"]
    lane = lane_of(client)
    before = lane.answered
    again = client.post("/join", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200
    assert again.json()["token"] == token
    assert lane.answered == before


def test_a_refused_join_is_tried_once_and_answered_by_the_frameworks_handler(
    make_client: ClientFactory, redis_url: str
) -> None:
    client = make_client(JOIN_RATE_LIMIT="1")
    lane = lane_of(client)
    before = lane.answered
    assert client.post("/join").status_code == 201
    room: WaitingRoom = client.app.state.room
    trips = room.batcher.round_trips
    refused = client.post("/join")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status_code"] == 429
    assert room.batcher.round_trips == trips + 1  # the framework raised the lane's refusal, did not ask again
    assert lane.answered == before + 1
    assert counter(redis_url) == 1


def test_lane_joins_are_timed_under_their_route(make_client: ClientFactory) -> None:
    client = make_client()
    registry = metrics._OWN
    labels = {"route": "/join", "method": "POST"}
    timed = registry.get_sample_value("session_queue_request_seconds_count", labels) or 0.0
    joins = registry.get_sample_value("session_queue_joins_total") or 0.0
    for _ in range(3):
        assert client.post("/join").status_code == 201
    assert registry.get_sample_value("session_queue_request_seconds_count", labels) == timed + 3
    assert registry.get_sample_value("session_queue_joins_total") == joins + 3


def test_a_ticket_this_replica_issued_takes_the_lane_from_its_first_poll(make_client: ClientFactory) -> None:
    client = make_client(WINDOW_SIZE="1")
    token = joined(client, 2)[-1]
    lane = lane_of(client)
    before = lane.answered
    assert client.get("/status", headers={"Authorization": f"Bearer {token}"}).json()["position"] == 2
    assert lane.answered == before + 1
