"""The origin gate (webapp/gate.py), driven through its ASGI interface against a real JWKS HTTP server.

Keys are the tests' own (tests.support.jwks); the clock is injected, so the 30 s refetch cool-down and pass
expiry are exercised without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import wait_until
from tests.support.jwks import AUDIENCE, ISSUER, JwksServer, PassSigner
from webapp import gate as gate_module
from webapp.gate import STATE_KEY, KeySet, QueueGate, QueuePass

ROOM = "http://room.test/queue/"
SHOP = "http://shop.test"
NOW = 1_900_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes
    seen_by_app: dict[str, Any] | None = None

    def header(self, name: str) -> str:
        values = self.headers.get(name, [])
        assert len(values) == 1, f"{name}: {values}"
        return values[0]

    @property
    def return_to(self) -> str:
        location = self.header("location")
        assert location.startswith(ROOM + "?"), location
        return parse_qs(urlsplit(location).query)["return_to"][0]


@dataclass
class Shop:
    """The application behind the gate: records the scope it was called with."""

    scopes: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"the sale"})


async def ask(
    gate: QueueGate,
    path: str = "/sale",
    query: str = "",
    *,
    cookie: str | None = None,
    bearer: str | None = None,
    method: str = "GET",
    scheme: str = "http",
    fetch_mode: str | None = None,
) -> Answer:
    headers = [(b"host", b"shop.test")]
    if fetch_mode is not None:
        headers.append((b"sec-fetch-mode", fetch_mode.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"theme=dark; sq_pass={cookie}; other=1".encode()))
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "server": ("shop.test", 80),
        "state": {"lifespan": "kept"},
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    shop: Shop = gate.app  # type: ignore[assignment]
    before = len(shop.scopes)
    await gate(scope, receive, send)
    answer_headers: dict[str, list[str]] = {}
    for name, value in sent[0]["headers"]:
        answer_headers.setdefault(name.decode(), []).append(value.decode())
    body = b"".join(message.get("body", b"") for message in sent[1:])
    seen = shop.scopes[-1] if len(shop.scopes) > before else None
    return Answer(sent[0]["status"], answer_headers, body, seen)


def queue_pass_of(answer: Answer) -> QueuePass:
    assert answer.status == 200, answer
    assert answer.seen_by_app is not None
    found: QueuePass = answer.seen_by_app["state"][STATE_KEY]
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gate(room: JwksServer, clock: Clock) -> Any:
    gate = QueueGate(Shop(), room_url=ROOM, jwks_url=room.url, clock=clock, fetch_timeout=1.0)
    yield gate
    await gate.keys.aclose()


async def test_a_valid_pass_reaches_the_shop_with_its_claims(gate: QueueGate, signer: PassSigner) -> None:
    token = signer.sign(NOW, position=42)

    answer = await ask(gate, cookie=token)

    assert answer.body == b"the sale"
    queue_pass = queue_pass_of(answer)
    assert queue_pass.position == 42
    assert queue_pass.expires_at == int(NOW) + 600
    assert queue_pass.claims["tid"]
    assert answer.seen_by_app is not None
    assert answer.seen_by_app["state"]["lifespan"] == "kept"


async def test_a_bearer_pass_is_accepted_too(gate: QueueGate, signer: PassSigner) -> None:
    assert queue_pass_of(await ask(gate, bearer=signer.sign(NOW))).position == 7


async def test_a_stranger_is_sent_to_the_room_with_the_exact_url_asked_for(gate: QueueGate) -> None:
    answer = await ask(gate, "/products/2", "color=red&size=m%20l")

    assert answer.status == 303
    assert answer.seen_by_app is None
    assert answer.return_to == f"{SHOP}/products/2?color=red&size=m%20l"
    assert answer.header("cache-control") == "no-store"


@pytest.mark.parametrize(("mode", "status"), [("navigate", 303), ("NAVIGATE", 303), ("no-cors", 401), ("cors", 401)])
async def test_only_a_page_load_is_sent_to_the_room(gate: QueueGate, mode: str, status: int) -> None:
    """A favicon or fetch on the way must not become the page the room carries the visitor back to."""
    answer = await ask(gate, "/products/2.png", fetch_mode=mode)
    assert answer.status == status
    assert ("location" in answer.headers) is (status == 303)


async def test_the_room_url_s_own_query_is_kept(room: JwksServer, clock: Clock) -> None:
    gate = QueueGate(Shop(), room_url=ROOM + "?lang=fr", jwks_url=room.url, clock=clock)
    location = (await ask(gate, "/sale")).header("location")
    assert location == ROOM + "?lang=fr&return_to=http%3A%2F%2Fshop.test%2Fsale"


async def test_on_the_room_s_own_origin_return_to_is_a_path(room: JwksServer, clock: Clock) -> None:
    gate = QueueGate(Shop(), room_url="http://shop.test/queue/", jwks_url=room.url, clock=clock)
    location = (await ask(gate, "/products/2", "a=1&b=2")).header("location")
    assert location == "http://shop.test/queue/?return_to=%2Fproducts%2F2%3Fa%3D1%26b%3D2"


def other_room_signer(signer: PassSigner) -> PassSigner:
    return PassSigner(kid=signer.kid)  # same kid, another private key: a forgery


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("forged: right kid, another key", lambda s: other_room_signer(s).sign(NOW)),
        ("a pass for another room", lambda s: s.sign(NOW, aud="pass:other-sale")),
        ("another issuer", lambda s: s.sign(NOW, iss="someone-else")),
        ("expired", lambda s: s.sign(NOW - 700, ttl=600)),
        ("not yet valid", lambda s: s.sign(NOW, nbf=int(NOW) + 60)),
        ("issued in the future", lambda s: s.sign(NOW, iat=int(NOW) + 60)),
        ("no exp", lambda s: s.sign(NOW, exp=None)),
        ("no iat", lambda s: s.sign(NOW, iat=None)),
        ("no nbf", lambda s: s.sign(NOW, nbf=None)),
        ("no sub", lambda s: s.sign(NOW, sub=None)),
        ("no jti", lambda s: s.sign(NOW, jti=None)),
        ("no aud", lambda s: s.sign(NOW, aud=None)),
        ("no iss", lambda s: s.sign(NOW, iss=None)),
        ("sub is not a position", lambda s: s.sign(NOW, sub="admin")),
        ("exp is not a number", lambda s: s.sign(NOW, exp="soon")),
        ("HS256 keyed with the public key", lambda s: s.hs256_with_public_key(NOW)),
        ("alg none", lambda s: s.unsigned(NOW)),
        ("not a JWT", lambda s: "not-a-jwt"),
        ("oversized", lambda s: "a" * 5000),
        ("a tampered payload", lambda s: s.sign(NOW).replace(".", ".e", 1)),
    ],
)
async def test_a_bad_pass_is_sent_to_the_room(gate: QueueGate, signer: PassSigner, case: str, make: Any) -> None:
    answer = await ask(gate, "/sale", cookie=make(signer))

    assert answer.status == 303, case
    assert answer.seen_by_app is None
    assert answer.return_to == f"{SHOP}/sale"


async def test_the_leeway_forgives_a_few_seconds_of_clock_skew(gate: QueueGate, signer: PassSigner) -> None:
    assert (await ask(gate, cookie=signer.sign(NOW - 603, ttl=600))).status == 200
    assert (await ask(gate, cookie=signer.sign(NOW, nbf=int(NOW) + 4))).status == 200


async def test_a_pass_expires_by_the_injected_clock(gate: QueueGate, signer: PassSigner, clock: Clock) -> None:
    token = signer.sign(NOW, ttl=60)
    assert (await ask(gate, cookie=token)).status == 200
    clock.now += 66
    assert (await ask(gate, cookie=token)).status == 303


async def test_an_unknown_kid_refetches_at_most_once_per_cool_down(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    assert (await ask(gate, cookie=signer.sign(NOW))).status == 200
    assert room.requests == 1

    clock.now += 20  # within 30 s of the last fetch: the room is not asked, the visitor is told when to retry
    waiting = await ask(gate, cookie=signer.sign(clock.now, kid="made-up"))
    assert waiting.status == 503
    assert waiting.header("retry-after") == "10"
    assert room.requests == 1

    clock.now += 10
    assert (await ask(gate, cookie=signer.sign(clock.now, kid="made-up-0"))).status == 303  # the room has none
    for n in range(1, 5):  # a storm of made-up kids waits for the cool-down
        clock.now += 1
        assert (await ask(gate, cookie=signer.sign(clock.now, kid=f"made-up-{n}"))).status == 503
    assert room.requests == 2

    clock.now += 26
    assert (await ask(gate, cookie=signer.sign(clock.now, kid="made-up-again"))).status == 303
    assert room.requests == 3
    assert (await ask(gate, cookie=signer.sign(clock.now))).status == 200  # known keys never wait
    assert room.requests == 3


async def test_a_key_published_during_the_cool_down_is_used_once_it_ends(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    """A room that signs with a key too soon after publishing it: visitors wait a little, never loop."""
    assert (await ask(gate, cookie=signer.sign(NOW))).status == 200
    following = PassSigner()
    room.publish(signer, following)
    clock.now += 5
    token = following.sign(clock.now)

    assert (await ask(gate, cookie=token)).status == 503
    clock.now += 25
    assert (await ask(gate, cookie=token)).status == 200


async def test_concurrent_unknown_kids_share_one_fetch(gate: QueueGate, room: JwksServer, signer: PassSigner) -> None:
    room.hold.clear()
    asking = [asyncio.create_task(ask(gate, cookie=signer.sign(NOW, kid=kid))) for kid in ("a", "b", signer.kid)]
    try:
        await wait_until(lambda: room.requests == 1, 5, what="the fetch to reach the room")
        room.hold.set()
        answers = await asyncio.wait_for(asyncio.gather(*asking), 5)
    finally:
        room.hold.set()
    assert [answer.status for answer in answers] == [303, 303, 200]
    assert room.requests == 1


async def test_a_next_key_is_picked_up_when_a_pass_names_it(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    assert (await ask(gate, cookie=signer.sign(NOW))).status == 200
    clock.now += 30
    following = PassSigner()
    room.publish(signer, following)

    assert queue_pass_of(await ask(gate, cookie=following.sign(clock.now))).position == 7
    assert (await ask(gate, cookie=signer.sign(clock.now))).status == 200  # the previous key still verifies
    assert gate.keys.kids == {signer.kid, following.kid}


async def test_a_retired_key_is_refused_once_the_set_is_refreshed(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    old_pass = signer.sign(NOW, ttl=3600)
    assert (await ask(gate, cookie=old_pass)).status == 200
    following = PassSigner()
    room.publish(following)  # the old key retired
    clock.now += 61  # past the set's max-age: the next request refreshes it in the background

    assert (await ask(gate, cookie=old_pass)).status == 200  # served from the cached set, not held up
    await gate.keys.aclose()
    assert gate.keys.kids == {following.kid}
    assert (await ask(gate, cookie=old_pass)).status == 303


async def test_fetching_the_key_set_does_not_block_the_event_loop(
    gate: QueueGate, room: JwksServer, signer: PassSigner
) -> None:
    room.hold.clear()  # the room answers slowly
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    asking = asyncio.create_task(ask(gate, cookie=signer.sign(NOW)))
    try:
        await wait_until(lambda: room.requests == 1, 5, what="the fetch to reach the room")
        before = ticks
        await wait_until(lambda: ticks >= before + 5, 5, what="the event loop to keep running during the fetch")
        assert not asking.done()
        room.hold.set()
        assert (await asyncio.wait_for(asking, 5)).status == 200
    finally:
        ticking.cancel()
        room.hold.set()
        await asyncio.gather(ticking, asking, return_exceptions=True)


async def test_the_hand_off_sets_the_gate_s_cookie_and_strips_the_pass_from_the_url(
    gate: QueueGate, signer: PassSigner
) -> None:
    token = signer.sign(NOW, ttl=600)

    answer = await ask(gate, "/products/2", f"color=red&sq_pass={token}&size=m")

    assert answer.status == 303
    assert answer.seen_by_app is None
    assert answer.header("location") == "/products/2?color=red&size=m"
    cookie = answer.header("set-cookie")
    assert cookie.startswith(f"sq_pass={token}; ")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"path=/", "max-age=600", "httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes
    # The browser follows the redirect with its new cookie.
    assert queue_pass_of(await ask(gate, "/products/2", "color=red&size=m", cookie=token)).position == 7


async def test_the_hand_off_over_https_sets_a_secure_cookie(gate: QueueGate, signer: PassSigner) -> None:
    answer = await ask(gate, "/sale", f"sq_pass={signer.sign(NOW)}", scheme="https")
    assert "Secure" in answer.header("set-cookie").split("; ")


async def test_a_bad_hand_off_goes_back_to_the_room_without_the_pass_in_return_to(
    gate: QueueGate, signer: PassSigner
) -> None:
    answer = await ask(gate, "/sale", f"a=1&sq_pass={signer.sign(NOW, aud='pass:other')}")

    assert answer.status == 303
    assert "set-cookie" not in answer.headers
    assert answer.return_to == f"{SHOP}/sale?a=1"


@pytest.mark.parametrize("path", ["/static/shop.css", "/static/img/a.png", "/healthz", "/favicon.ico"])
async def test_allow_listed_paths_need_no_pass(gate: QueueGate, path: str, room: JwksServer) -> None:
    answer = await ask(gate, path)
    assert answer.status == 200
    assert answer.seen_by_app is not None
    assert STATE_KEY not in answer.seen_by_app["state"]
    assert room.requests == 0


@pytest.mark.parametrize("path", ["/static", "/healthz/x", "/static/../sale", "/static/./../sale", "/healthzz"])
async def test_only_listed_paths_are_let_through(gate: QueueGate, path: str) -> None:
    assert (await ask(gate, path)).status == 303


async def test_an_admitted_visitor_keeps_shopping_while_the_room_is_down(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    token = signer.sign(NOW, ttl=3600)
    assert (await ask(gate, cookie=token)).status == 200
    room.stop()
    clock.now += 300  # the cached set is long stale, and refreshing it fails

    for _ in range(3):
        assert (await ask(gate, cookie=token)).status == 200
        await gate.keys.aclose()
    assert gate.keys.kids == {signer.kid}


async def test_a_new_visitor_gets_a_clear_503_while_the_room_is_down(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    assert (await ask(gate, cookie=signer.sign(NOW))).status == 200
    room.stop()
    clock.now += 61
    await ask(gate, cookie=signer.sign(clock.now))  # notices the stale set; the background refresh fails
    await gate.keys.aclose()

    answer = await ask(gate, "/products/1")

    assert answer.status == 503
    assert answer.header("content-type") == "text/html; charset=utf-8"
    assert b"The queue is unavailable" in answer.body
    assert b"Traceback" not in answer.body
    assert 1 <= int(answer.header("retry-after")) <= 30
    assert b'href="/products/1"' in answer.body

    room.start()  # back; the gate asks again once the cool-down allows
    clock.now += 30
    assert (await ask(gate, "/products/1")).status == 303


async def test_a_first_visitor_while_the_room_was_never_reached_gets_the_503(clock: Clock) -> None:
    down = JwksServer()  # never started: nothing listens on its port
    gate = QueueGate(Shop(), room_url=ROOM, jwks_url=down.url, clock=clock, fetch_timeout=1.0)

    answer = await ask(gate, "/sale", cookie=PassSigner().sign(NOW))

    assert answer.status == 503
    assert int(answer.header("retry-after")) == 30
    assert (await ask(gate, "/sale")).status == 503


async def test_head_answers_carry_no_body(gate: QueueGate, room: JwksServer, clock: Clock) -> None:
    assert (await ask(gate, "/sale", method="HEAD")).body == b""


async def test_a_websocket_without_a_pass_is_closed(gate: QueueGate) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/live", "query_string": b"", "headers": [(b"host", b"shop.test")]}
    await gate(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_lifespan_goes_straight_to_the_app(gate: QueueGate, room: JwksServer) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    gate.app = app
    await gate({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
    assert room.requests == 0


def test_the_contract_s_defaults() -> None:
    gate = QueueGate(Shop(), room_url="http://127.0.0.1:8080/queue/")
    assert gate.keys.url == "http://127.0.0.1:8080/queue/.well-known/jwks.json"
    assert (gate.audience, gate.issuer) == (AUDIENCE, ISSUER)
    assert gate.keys.cooldown == 30


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://room/", "javascript:alert(1)", "/queue/"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        QueueGate(Shop(), room_url=url)
    with pytest.raises(ValueError, match="http"):
        KeySet(url)


async def test_unusable_keys_in_the_set_are_skipped(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock
) -> None:
    assert (await ask(gate, cookie=signer.sign(NOW))).status == 200
    room.keys = [{"kty": "EC", "crv": "P-256", "kid": "broken", "x": "AA", "y": "AA"}, {"kty": "RSA", "kid": "rsa"}]
    clock.now += 30
    assert (await ask(gate, cookie=signer.sign(clock.now, kid="broken"))).status == 303
    assert gate.keys.kids == set()  # neither key could verify an ES256 pass; the old key is no longer published


async def test_a_verified_pass_is_remembered_but_never_past_its_key_or_expiry(
    gate: QueueGate, room: JwksServer, signer: PassSigner, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signer.sign(NOW, ttl=120)
    assert (await ask(gate, cookie=token)).status == 200
    verified: list[str] = []
    original = gate_module.verify_pass

    async def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        verified.append(token)
        return await original(token, *args, **kwargs)

    monkeypatch.setattr(gate_module, "verify_pass", counting)
    for _ in range(3):
        assert queue_pass_of(await ask(gate, cookie=token)).position == 7
    assert verified == []  # remembered

    clock.now += 126
    assert (await ask(gate, cookie=token)).status == 303  # expired, remembered or not
    assert verified == [token]


async def test_the_memory_of_verified_passes_is_bounded(
    gate: QueueGate, signer: PassSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate_module, "MAX_REMEMBERED", 3)
    tokens = [signer.sign(NOW, position=n) for n in range(1, 6)]
    for token in tokens:
        assert (await ask(gate, cookie=token)).status == 200
    assert list(gate._verified) == tokens[-3:]


async def test_the_first_valid_pass_among_several_cookies_wins(gate: QueueGate, signer: PassSigner) -> None:
    stale = signer.sign(NOW - 700, ttl=600, position=1)
    current = signer.sign(NOW, position=9)
    assert queue_pass_of(await ask(gate, cookie=f"{stale}; sq_pass={current}")).position == 9
    assert queue_pass_of(await ask(gate, cookie=stale, bearer=current)).position == 9
    assert (await ask(gate, cookie=f"{stale}; sq_pass=junk")).status == 303
