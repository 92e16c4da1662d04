"""What an origin asks of the room over HTTP: the key set, forward-auth (``/auth``) and ``POST /pass``."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from tests.support.config import TEST_SECRET
from tests.support.tokens import b64url_json
from tests.support.waiting import wait_until_sync
from tests.support.web import Client, ClientFactory
from webapp.passkeys import PassKey
from webapp.tokens import TokenCodec

ADMIN = "origin-tests-admin-token-" + "o" * 30
BEARER_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
IDENTITY = ("x-queue-position", "x-queue-pass-id", "x-queue-pass-expires")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admitted(client: Client) -> tuple[str, str]:
    """A ticket that was active (position 1 of a one-place window) and the pass it was exchanged for."""
    ticket = client.post("/join").json()["token"]
    response = client.post("/pass", headers=bearer(ticket))
    assert response.status_code == 201, response.text
    return ticket, response.json()["pass"]


def auth(client: Client, headers: dict[str, str] | None = None, query: str = "", method: str = "GET") -> int:
    client.cookies.clear()
    return client.request(method, "/auth" + query, headers=headers or {}).status_code


# The key set


def test_the_key_set_is_public_cacheable_and_verifies_the_rooms_passes(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["content-type"].startswith("application/json")
    assert "set-cookie" not in response.headers
    assert "cookie" not in response.headers.get("vary", "").lower()
    (key,) = response.json()["keys"]
    assert {key["kty"], key["crv"], key["use"], key["alg"]} == {"EC", "P-256", "sig", "ES256"}
    assert "d" not in key
    _, token = admitted(client)
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    public = jwt.PyJWK.from_dict(key)
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="pass:main", issuer="session-queue")
    assert claims["sub"] == "1"
    assert client.head("/.well-known/jwks.json").status_code == 200


# GET /auth


def test_a_valid_pass_in_the_cookie_or_bearer_is_allowed_with_identity_headers(make_client: ClientFactory) -> None:
    client = make_client()
    _, token = admitted(client)
    claims = jwt.decode(token, options={"verify_signature": False})
    for headers in (
        {"Cookie": f"sq_pass={token}"},
        bearer(token),
        {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": f"sq_pass={token}"},  # the origin's own auth
        {"Authorization": "Bearer not-a-pass", "Cookie": f"sq_pass={token}"},
        {"Cookie": f"other=1; sq_pass={token}; sq_ticket=garbage"},
        {"Cookie": f"sq_pass=a.b.c; sq_pass={token}"},  # a parent-domain cookie beside the host's own
    ):
        client.cookies.clear()
        response = client.get("/auth", headers=headers)
        assert response.status_code == 200, headers
        assert response.headers["x-queue-position"] == "1"
        assert response.headers["x-queue-pass-id"] == claims["jti"]
        assert response.headers["x-queue-pass-expires"] == str(claims["exp"])
        assert response.headers["cache-control"] == "no-store"
        assert "set-cookie" not in response.headers
    client.cookies.clear()
    # Envoy's ext_authz asks with the original request's method; the answer is the same, and nothing changes.
    for method in ("POST", "PUT", "DELETE"):
        assert client.request(method, "/auth", headers=bearer(token)).status_code == 200
    head = client.head("/auth", headers=bearer(token))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["x-queue-position"] == "1"


def _forged(client: Client) -> dict[str, str]:
    """Passes that must never open the origin, by name."""
    _, good = admitted(client)
    ticket = client.post("/join").json()["token"]
    head, body, signature = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    stranger = PassKey.generate()
    foreign_room = TokenCodec(TEST_SECRET.encode(), "main")  # same secret and queue, its own pass key
    return {
        "ticket": ticket,
        "tampered": f"{head}.{b64url_json({**claims, 'sub': '0'})}.{signature}",
        "unsigned": f"{b64url_json({'alg': 'none', 'kid': jwt.get_unverified_header(good)['kid']})}.{body}.",
        "stranger's key": jwt.encode(claims, stranger.private, algorithm="ES256", headers={"kid": stranger.kid}),
        "another room": foreign_room.issue_pass(foreign_room.read_ticket(ticket, claims["iat"]), claims["iat"], 600),
        "garbage": "a.b.c",
        "huge": "x" * 5000,
        "non-ascii": "\u00e9t\u00e9",
    }


def test_anything_but_a_valid_pass_is_401(make_client: ClientFactory) -> None:
    client = make_client()
    assert auth(client) == 401
    forged = _forged(client)
    for name, token in forged.items():
        if name != "non-ascii":
            assert auth(client, {"Cookie": f"sq_pass={token}"}) == 401, name
            assert auth(client, bearer(token)) == 401, name
        client.cookies.clear()
        raw = client.get("/auth", headers={b"cookie": f"sq_pass={token}".encode()})
        assert raw.status_code == 401, name
    assert auth(client, {"Authorization": "Bearer"}) == 401
    assert auth(client, {"Authorization": "Bearer   "}) == 401
    assert auth(client, {"Authorization": "Basic dXNlcjpwYXNz"}) == 401
    assert auth(client, {"Cookie": "sq_pass"}) == 401
    assert auth(client, {"Cookie": ';;=;sq_pass==;"x'}) == 401
    assert auth(client, {"Cookie": "sq_pass=" + "y" * 60_000}) in (401, 431)
    assert auth(client, method="HEAD") == 401
    assert auth(client, query="?deny=nonsense") == 401
    response = client.get("/auth")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_pass_is_401(make_client: ClientFactory) -> None:
    client = make_client(SESSION_DURATION="10")
    _, token = admitted(client)
    claims = jwt.decode(token, options={"verify_signature": False})
    room = client.app.state.room
    room.clock = lambda: claims["exp"] + 10
    assert auth(client, bearer(token)) == 401


def _location(client: Client, headers: dict[str, str]) -> str:
    client.cookies.clear()
    response = client.get("/auth?deny=redirect", headers=headers, follow_redirects=False)
    assert response.status_code == 302
    assert "x-queue-position" not in response.headers
    return response.headers["location"]


def _return_to(location: str) -> str | None:
    parts = urlsplit(location)
    assert parts.path == "/"
    assert not parts.netloc
    values = parse_qs(parts.query).get("return_to")
    return values[0] if values else None


@pytest.mark.parametrize(
    ("headers", "wanted"),
    [
        ({}, None),
        ({"X-Original-URI": "/sale/item?id=7&x=%20"}, "/sale/item?id=7&x=%20"),
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example", "X-Forwarded-Uri": "/sale?a=1"},
            "https://shop.example/sale?a=1",
        ),
        (
            {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "shop.example:8443", "X-Forwarded-Uri": "/"},
            "http://shop.example:8443/",
        ),
        ({"X-Forwarded-Uri": "/only-a-path"}, "/only-a-path"),
        ({"X-Original-URI": "//evil.example/"}, None),
        ({"X-Original-URI": "/\\evil.example/"}, None),
        ({"X-Original-URI": "https://evil.example/"}, None),
        ({"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "x", "X-Forwarded-Uri": "/a"}, "/a"),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example/@x", "X-Forwarded-Uri": "/a"}, "/a"),
        ({"X-Original-URI": "/a b"}, None),
        ({"X-Original-URI": "/" + "a" * 3000}, None),
    ],
)
def test_deny_redirect_is_a_302_to_the_room_carrying_the_original_url(
    make_client: ClientFactory, headers: dict[str, str], wanted: str | None
) -> None:
    client = make_client()
    assert _return_to(_location(client, headers)) == wanted


def test_deny_redirect_escapes_what_it_carries(make_client: ClientFactory) -> None:
    client = make_client()
    client.cookies.clear()
    among_others = client.get("/auth?x=1&deny=redirect&y", follow_redirects=False)
    assert (among_others.status_code, among_others.headers["location"]) == (302, "/")
    location = _location(client, {"X-Original-URI": "/a?next=/b&c=d#frag"})
    assert location == "/?return_to=%2Fa%3Fnext%3D%2Fb%26c%3Dd%23frag"


def test_deny_redirect_goes_under_the_rooms_prefix(make_client: ClientFactory) -> None:
    client = make_client()
    app = client.app

    async def under_prefix(scope: dict[str, object], receive: object, send: object) -> None:
        await app({**scope, "root_path": "/queue"}, receive, send)

    client.app = under_prefix
    client.cookies.clear()
    response = client.get("/auth?deny=redirect", headers={"X-Original-URI": "/sale"}, follow_redirects=False)
    assert response.headers["location"] == "/queue/?return_to=%2Fsale"


# POST /pass


def test_post_pass_admits_an_active_ticket_once(make_client: ClientFactory) -> None:
    client = make_client()
    ticket, token = admitted(client)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "1"
    again = client.post("/pass", headers=bearer(ticket))
    assert again.status_code == 409
    assert again.json() == {"status": "used"}
    # The browser's /checkout uses the same claim: this ticket cannot open the sale a second time.
    client.cookies.set("sq_ticket", ticket)
    checkout = client.get("/checkout", follow_redirects=False)
    assert checkout.status_code == 303
    assert checkout.headers["location"] == "/?m=used"


def test_post_pass_after_checkout_is_used(make_client: ClientFactory) -> None:
    client = make_client()
    ticket = client.post("/join").json()["token"]
    client.cookies.set("sq_ticket", ticket)
    assert client.get("/checkout").status_code == 200
    assert "sq_pass" in client.cookies
    client.cookies.clear()
    response = client.post("/pass", headers=bearer(ticket))
    assert response.status_code == 409
    assert response.json() == {"status": "used"}


def test_post_pass_for_a_waiting_then_expired_ticket_is_409(make_client: ClientFactory) -> None:
    client = make_client(ADMIN_TOKEN=ADMIN, ACTIVE_WINDOW_COUNT="1")
    client.post("/join")
    ticket = client.post("/join").json()["token"]  # position 2 of a one-place window
    waiting = client.post("/pass", headers=bearer(ticket))
    assert waiting.status_code == 409
    assert waiting.json()["status"] == "waiting"
    client.post("/join")  # someone waits behind, so the window slides on
    for _ in range(2):
        assert client.post("/admin/api/slide", headers=BEARER_ADMIN).status_code in (200, 201)
    room = client.app.state.room

    def slid() -> bool:
        view = room.watcher.view()
        return view is not None and view.window_end >= 3

    wait_until_sync(slid, 10, what="two slides seen by the app")
    expired = client.post("/pass", headers=bearer(ticket))
    assert expired.status_code == 409
    assert expired.json()["status"] == "expired"


def test_post_pass_while_paused_is_409_waiting(make_client: ClientFactory) -> None:
    client = make_client(ADMIN_TOKEN=ADMIN)
    ticket = client.post("/join").json()["token"]
    assert client.post("/admin/api/pause", headers=BEARER_ADMIN).status_code in (200, 201)
    room = client.app.state.room

    def paused() -> bool:
        view = room.watcher.view()
        return view is not None and view.controls.paused

    wait_until_sync(paused, 10, what="the pause seen by the app")
    response = client.post("/pass", headers=bearer(ticket))
    assert response.status_code == 409
    assert response.json()["status"] == "waiting"
    assert response.json()["paused"] is True


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 400),
        ({"Authorization": "Bearer"}, 400),
        ({"Authorization": "Bearer a.b.c"}, 401),
        ({"Authorization": "Bearer " + "x" * 5000}, 401),
    ],
)
def test_post_pass_without_a_valid_ticket_is_refused(
    make_client: ClientFactory, headers: dict[str, str], code: int
) -> None:
    client = make_client()
    response = client.post("/pass", headers=headers)
    assert response.status_code == code
    assert response.headers["content-type"].startswith("application/json")


def test_post_pass_refuses_a_pass_as_ticket_and_needs_no_csrf_token(make_client: ClientFactory) -> None:
    client = make_client()
    _, token = admitted(client)  # admitted() itself posted without any CSRF token or cookie
    assert client.post("/pass", headers=bearer(token)).status_code == 401
    assert auth(client, bearer(token)) == 200
