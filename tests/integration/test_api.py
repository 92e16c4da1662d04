"""The seed's JSON API through the HTTP surface, on a real Redis: join, status, bad tokens, probes, outages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support import TEST_SECRET, RedisServer, wait_until_sync
from webapp.tokens import TokenCodec

SECRET = TEST_SECRET
Client = TestClient[Litestar]
API_ENV = {
    "WINDOW_SIZE": "2",
    "WINDOW_INTERVAL": "3600",  # no slide during a test: statuses follow the initial window
    "ACTIVE_WINDOW_COUNT": "2",
    "REDIS_TIMEOUT": "0.5",
}


@pytest.fixture
def make_api(make_client: Callable[..., Client]) -> Callable[..., Client]:
    return lambda **env: make_client(**{**API_ENV, **env})


@pytest.fixture
def api(make_api: Callable[..., Client]) -> Client:
    return make_api()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def join(api: Client, **headers: str) -> tuple[int, dict[str, Any]]:
    response = api.post("/join", headers=headers)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_joins_are_created_with_consecutive_positions(api: Client) -> None:
    bodies = []
    for expected in (1, 2, 3, 4):
        code, body = join(api)
        assert code == 201
        assert body["position"] == expected
        assert isinstance(body["token"], str)
        bodies.append(body)
    assert [b["status"] for b in bodies] == ["active", "active", "waiting", "waiting"]
    assert [b["ahead"] for b in bodies] == [0, 0, 0, 1]


def test_status_follows_the_window_formula(api: Client) -> None:
    tokens = [join(api)[1]["token"] for _ in range(4)]
    seen = []
    for token in tokens:
        response = api.get("/status", headers=bearer(token))
        assert response.status_code == 200
        body = response.json()
        assert body["window_end"] == 2
        assert body["reconnecting"] is False
        seen.append((body["position"], body["status"], body["ahead"]))
    assert seen == [(1, "active", 0), (2, "active", 0), (3, "waiting", 0), (4, "waiting", 1)]


def test_joining_with_a_valid_ticket_returns_the_same_place(api: Client) -> None:
    _, first = join(api)
    join(api)
    response = api.post("/join", headers=bearer(first["token"]))
    assert response.status_code == 200
    assert response.json()["token"] == first["token"]
    assert response.json()["position"] == 1
    assert join(api)[1]["position"] == 3  # the repeat took no place


def test_joining_with_an_invalid_bearer_takes_a_new_place(api: Client) -> None:
    response = api.post("/join", headers=bearer("garbage"))
    assert response.status_code == 201
    assert response.json()["position"] == 1


def foreign_tokens(api: Client) -> dict[str, str]:
    """Tokens this queue must refuse as tickets, all well-formed and correctly signed by someone."""
    now = int(time.time())
    own = TokenCodec(SECRET.encode(), "main")
    _, body = join(api)
    ticket = own.read_ticket(body["token"], now)
    return {
        "pass": own.issue_pass(ticket, now, 600),
        "other secret": TokenCodec(b"o" * 40, "main").issue_ticket(1, 2, now, 600),
        "other queue": TokenCodec(SECRET.encode(), "presale").issue_ticket(1, 2, now, 600),
        "expired": own.issue_ticket(1, 2, now - 7200, 600),
    }


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [(None, 401), ("Basic eDp5", 400), ("Bearer", 400), ("Bearer   ", 400), ("Bearer garbage", 401)],
)
def test_status_refuses_missing_or_malformed_authorization(
    api: Client, authorization: str | None, expected: int
) -> None:
    join(api)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = api.get("/status", headers=headers)
    assert response.status_code == expected
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status_code"] == expected


def test_status_refuses_tokens_that_are_not_tickets_of_this_queue(api: Client) -> None:
    for name, token in foreign_tokens(api).items():
        response = api.get("/status", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith("application/json"), name
        assert "invalid ticket" in response.json()["detail"], name


def test_bad_tokens_do_not_change_the_queue(api: Client) -> None:
    tokens = foreign_tokens(api)  # took position 1
    for token in tokens.values():
        api.get("/status", headers=bearer(token))
    assert join(api)[1]["position"] == 2


def test_probes_answer_while_redis_answers(api: Client) -> None:
    assert api.get("/livez").status_code == 200
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.text == "ok"


def test_openapi_schema_lists_the_api(api: Client) -> None:
    response = api.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/join" in paths
    assert "post" in paths["/join"]
    assert "/status" in paths
    assert "get" in paths["/status"]


@pytest.mark.parametrize("rate_limit", ["0", "20"])
def test_a_redis_outage_answers_503_and_keeps_the_process_alive(
    make_api: Callable[..., Client], redis_server: RedisServer, rate_limit: str
) -> None:
    api = make_api(JOIN_RATE_LIMIT=rate_limit)
    _, body = join(api)
    redis_server.stop()
    try:
        ready = api.get("/readyz")
        assert ready.status_code == 503
        joined = api.post("/join")
        assert joined.status_code == 503
        assert int(joined.headers["retry-after"]) >= 1
        assert joined.json()["status_code"] == 503
        assert api.get("/livez").status_code == 200
        # A valid ticket still gets its place back: nothing needs Redis to say where it stands.
        again = api.post("/join", headers=bearer(body["token"]))
        assert again.status_code == 200
        assert (again.json()["token"], again.json()["position"]) == (body["token"], body["position"])
    finally:
        redis_server.start()
    assert api.get("/readyz").status_code == 200


def test_after_redis_restarts_empty_positions_continue_after_those_issued(
    api: Client, redis_server: RedisServer
) -> None:
    for _ in range(3):
        join(api)
    redis_server.stop()
    redis_server.start()  # no persistence: the queue is gone from Redis
    answers: list[Any] = []

    def answered() -> bool:
        answers.append(api.post("/join"))
        return bool(answers[-1].status_code != 503)

    wait_until_sync(answered, 5, what="a join not answered 503 after Redis came back")
    response = answers[-1]
    assert response.status_code == 201
    assert response.json()["position"] == 4


def test_status_during_an_outage_keeps_the_place_and_says_it_is_reconnecting(
    api: Client, redis_server: RedisServer
) -> None:
    tokens = [join(api)[1]["token"] for _ in range(3)]
    redis_server.stop()
    try:
        bodies: list[dict[str, Any]] = []

        def reconnecting() -> bool:
            bodies.append(api.get("/status", headers=bearer(tokens[2])).json())
            return bool(bodies[-1].get("reconnecting"))

        wait_until_sync(reconnecting, 5, what="the stale window being reported")
        body = bodies[-1]
        assert (body["position"], body["status"], body["window_end"]) == (3, "waiting", 2)
    finally:
        redis_server.start()
