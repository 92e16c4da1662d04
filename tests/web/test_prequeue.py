"""A scheduled sale over HTTP: pre-queue tickets, the countdown page, /draw, and the opening's positions."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import redis

from tests.support import TEST_SECRET, wait_until_sync
from tests.support.web import Client, ClientFactory, csrf_of
from webapp import draw
from webapp.queue.keys import queue_keys
from webapp.tokens import TokenCodec

HTMX = {"HX-Request": "true"}
HTML = {"Accept": "text/html"}


def rfc3339_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, tz=UTC).isoformat(timespec="milliseconds")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_joins_before_opening_get_arrival_indexes_and_status_says_prequeue(make_client: ClientFactory) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(3600))
    first, second = client.post("/join"), client.post("/join")
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "prequeue"
    assert (body["arrival_index"], second.json()["arrival_index"]) == (1, 2)
    assert "position" not in body
    status: dict[str, object] = {}

    def counted() -> bool:  # the replica's window copy catches up within one refresh
        status.update(client.get("/status", headers=bearer(body["token"])).json())
        return status["prequeue_size"] == 2

    wait_until_sync(counted, 5, what="the pre-queue size reaching 2")
    assert status["status"] == "prequeue"
    assert status["arrival_index"] == 1
    assert status["prequeue_size"] == 2
    assert 3500 < float(str(status["opens_in_seconds"])) <= 3600
    assert str(status["opens_at"]).endswith("Z")
    assert 0 < float(str(status["poll_after_seconds"])) <= 20
    again = client.post("/join", headers=bearer(body["token"]))
    assert again.status_code == 200
    assert again.json()["token"] == body["token"]


def test_the_draw_publishes_only_its_commitment_before_opening(make_client: ClientFactory) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(3600))
    published = client.get("/draw").json()
    assert len(published["commitment"]) == 64
    assert published["seed"] is None
    assert published["size"] is None
    assert published["opened_at"] is None
    page = client.get("/", headers=HTML).text
    assert published["commitment"] in page


def test_without_a_scheduled_sale_there_is_no_draw(make_client: ClientFactory) -> None:
    assert make_client().get("/draw").status_code == 404


def test_the_room_page_shows_the_countdown_and_keeps_one_arrival_index_per_browser(
    make_client: ClientFactory,
) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(3600))
    client.post("/join")  # someone else arrived first
    token = csrf_of(client.get("/", headers=HTML).text)
    fragment = client.post("/room/join", headers={**HTMX, "X-CSRFToken": token})
    assert 'data-testid="queue-prequeue"' in fragment.text
    assert "arriving earlier or later within the pre-queue changes nothing" in fragment.text
    assert 'data-testid="queue-countdown"' in fragment.text
    assert 'data-testid="queue-arrival">2<' in fragment.text
    page = client.get("/", headers=HTML).text
    assert 'data-testid="queue-prequeue"' in page
    assert 'data-testid="queue-arrival">2<' in page
    # Another tab, a rejoin: the same ticket, the same arrival index, no second entry in the draw.
    again = client.post("/room/join", headers={**HTMX, "X-CSRFToken": token})
    rejoin = client.post("/room/rejoin", headers={**HTMX, "X-CSRFToken": token})
    for answer in (again, rejoin):
        assert 'data-testid="queue-arrival">2<' in answer.text
    poll = client.get("/room/status", headers=HTMX)
    assert 'data-testid="queue-prequeue"' in poll.text
    assert "hx-trigger" in poll.text
    # Not admitted before the draw, whatever the window says.
    assert client.get("/checkout", follow_redirects=False).status_code == 303


def test_before_the_prequeue_opens_nobody_gets_a_ticket(make_client: ClientFactory, redis_url: str) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(7200), PREQUEUE_OPENS_AT=rfc3339_in(3600))
    page = client.get("/", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="queue-early"' in page.text
    assert "Come back at" in page.text
    assert "room-join" not in page.text
    assert 'hx-post="/room/join"' not in page.text
    refused = client.post("/join")
    assert refused.status_code == 403
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    with redis.Redis.from_url(redis_url) as raw:
        assert raw.get(queue_keys("main").counter) in (None, b"0")


def _opened(client: Client) -> dict[str, object]:
    published: dict[str, object] = {}

    def made() -> bool:
        published.update(client.get("/draw").json())
        return published["seed"] is not None

    wait_until_sync(made, 15, what="the draw at opening")
    return published


def test_at_opening_every_ticket_gets_its_drawn_position_and_later_joiners_come_after(
    make_client: ClientFactory,
) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(1.5), WINDOW_SIZE="1", WINDOW_INTERVAL="3600")
    tokens = [client.post("/join").json()["token"] for _ in range(3)]
    before = client.get("/draw").json()
    published = _opened(client)
    assert published["commitment"] == before["commitment"]
    seed = draw.parse_seed(str(published["seed"]))
    assert hashlib.sha256(seed).hexdigest() == published["commitment"]
    assert published["size"] == 3
    statuses = [client.get("/status", headers=bearer(token)).json() for token in tokens]
    for index, status in enumerate(statuses, start=1):
        assert status["arrival_index"] == index
        assert status["position"] == draw.position(seed, 3, index)
    assert sorted(s["position"] for s in statuses) == [1, 2, 3]
    # The opening was the first slide: drawn place 1 is active, the others wait behind it.
    assert {s["position"]: s["status"] for s in statuses} == {1: "active", 2: "waiting", 3: "waiting"}
    later = client.post("/join").json()
    assert later["position"] == 4
    assert later["status"] == "waiting"


def test_a_prequeue_ticket_of_another_draw_is_refused(make_client: ClientFactory) -> None:
    client = make_client(SALE_OPENS_AT=rfc3339_in(3600))
    client.post("/join")
    ordinary = TokenCodec(TEST_SECRET.encode(), "main").issue_ticket(1, 0, int(time.time()), 3600)
    other = TokenCodec(TEST_SECRET.encode(), "main").mint_ticket(1, 0, int(time.time()), 3600, draw="f" * 16)[0]
    assert client.get("/status", headers=bearer(ordinary)).status_code == 200  # an ordinary ticket: no draw named
    refused = client.get("/status", headers=bearer(other))
    assert refused.status_code == 401
    assert "draw" in refused.json()["detail"]
