"""The shipped nginx configuration (deploy/nginx/), run by a real nginx in front of stand-in upstreams.

The stand-ins are real HTTP servers that answer like the room's ``/queue/auth`` and record what the sale site
receives, so each proxy rule is checked on its own; e2e/test_origin.py walks the same config with the real
room, shop and browser.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.support import free_port
from tests.support.nginx import TEMPLATE, TEMPLATE_PLACEHOLDERS, Nginx, render, site_config

GOOD_PASS = "good-pass"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """A loopback HTTP server: the room (``/queue/auth`` and pages) or the sale site, recording every request."""

    role: str
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> StandIn:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, reply = owner.answer(owner.seen[-1])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_HEAD = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def answer(self, request: Seen) -> tuple[int, dict[str, str], bytes]:
        if self.role == "shop":
            return 200, {"Content-Type": "text/plain"}, b"the sale"
        path, _, query = request.path.partition("?")
        if path != "/queue/auth":
            return 200, {"Content-Type": "text/plain"}, b"the room"
        if f"sq_pass={GOOD_PASS}" in request.headers.get("cookie", ""):
            return 200, {"X-Queue-Position": "7", "X-Queue-Pass-Id": "p-1", "X-Queue-Pass-Expires": "1900000000"}, b""
        if query == "deny=redirect":
            wanted = request.headers.get("x-original-uri", "/")
            return 302, {"Location": "/queue/?return_to=" + quote(wanted, safe="")}, b""
        return 401, {}, b""

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.split("?")[0] == path]


@pytest.fixture
def room() -> Iterator[StandIn]:
    server = StandIn("room").start()
    yield server
    server.stop()


@pytest.fixture
def shop() -> Iterator[StandIn]:
    server = StandIn("shop").start()
    yield server
    server.stop()


@pytest.fixture
def nginx(room: StandIn, shop: StandIn, tmp_path: Path) -> Iterator[Nginx]:
    proxy = Nginx.for_origin(room.port, shop.port, tmp_path / "nginx").start()
    yield proxy
    proxy.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def call(
    nginx: Nginx, path: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def test_the_template_names_only_its_placeholders() -> None:
    text = TEMPLATE.read_text()
    for name in TEMPLATE_PLACEHOLDERS:
        assert f"${{{name}}}" in text
    rendered = site_config(1, 2, 3)
    assert "${" not in rendered
    assert "$request_uri" in rendered  # nginx's own variables are left alone
    with pytest.raises(ValueError, match="ROOM_UPSTREAM"):
        render(text, {"LISTEN": "80", "SHOP_UPSTREAM": "shop:80"})


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    Nginx(site_config(free_port(), free_port(), free_port()), tmp_path, free_port()).check()


def test_a_stranger_is_sent_to_the_room_with_the_whole_url_encoded(nginx: Nginx, room: StandIn, shop: StandIn) -> None:
    reply = call(nginx, "/products/2?color=red&size=l")

    assert reply.status == 302
    assert reply.headers["location"] == "/queue/?return_to=%2Fproducts%2F2%3Fcolor%3Dred%26size%3Dl"
    assert shop.seen == []
    (asked,) = room.requests_to("/queue/auth")[:1]
    assert asked.headers["x-original-uri"] == "/products/2?color=red&size=l"


def test_an_admitted_visitor_reaches_the_shop_with_the_identity_headers(nginx: Nginx, shop: StandIn) -> None:
    forged = {"X-Queue-Position": "1", "X-Queue-Pass-Id": "mine"}  # a client cannot choose these
    reply = call(nginx, "/products/2?x=1", headers={"Cookie": f"theme=dark; sq_pass={GOOD_PASS}", **forged})

    assert reply.status == 200
    assert reply.body == b"the sale"
    (seen,) = shop.seen
    assert seen.path == "/products/2?x=1"
    assert (seen.headers["x-queue-position"], seen.headers["x-queue-pass-id"]) == ("7", "p-1")
    assert seen.headers["x-queue-pass-expires"] == "1900000000"


def test_the_auth_subrequest_carries_headers_but_no_body(nginx: Nginx, room: StandIn, shop: StandIn) -> None:
    reply = call(
        nginx,
        "/cart",
        method="POST",
        headers={"Cookie": f"sq_pass={GOOD_PASS}", "Content-Type": "text/plain"},
        body=b"two tickets",
    )

    assert reply.status == 200
    (auth,) = room.requests_to("/queue/auth")
    assert auth.method == "GET"
    assert auth.body == b""
    assert auth.headers["x-original-uri"] == "/cart"
    assert shop.seen[0].body == b"two tickets"


def test_the_room_is_reached_under_queue_with_its_prefix_unchanged(nginx: Nginx, room: StandIn) -> None:
    reply = call(nginx, "/queue/join?x=1", method="POST", headers={"Host": "sale.example"})

    assert reply.status == 200
    assert reply.body == b"the room"
    seen = room.seen[-1]
    assert seen.path == "/queue/join?x=1"
    assert seen.headers["x-forwarded-host"] == "sale.example"
    assert seen.headers["x-forwarded-proto"] == "http"
    assert call(nginx, "/queue").headers["location"].endswith("/queue/")


def test_the_internal_auth_location_is_not_reachable_from_outside(nginx: Nginx, room: StandIn) -> None:
    assert call(nginx, "/_queue/auth").status == 404
    assert room.requests_to("/queue/auth") == []


def test_with_the_room_down_visitors_get_a_plain_503(nginx: Nginx, room: StandIn, shop: StandIn) -> None:
    room.stop()

    for headers in ({}, {"Cookie": f"sq_pass={GOOD_PASS}"}):
        reply = call(nginx, "/products/2", headers=headers)
        assert reply.status == 503
        assert reply.headers["retry-after"] == "30"
        assert b"The queue is unavailable" in reply.body
    assert shop.seen == []


def test_the_redirect_keeps_to_this_host(nginx: Nginx) -> None:
    location = call(nginx, "//evil.example/x").headers["location"]
    assert urlsplit(location).netloc == ""
    assert location.startswith("/queue/?return_to=")


@pytest.mark.parametrize("mode", ["no-cors", "cors", "same-origin"])
def test_an_image_or_fetch_without_a_pass_gets_a_401_not_a_redirect(nginx: Nginx, mode: str) -> None:
    reply = call(nginx, "/products/2.png", headers={"Sec-Fetch-Mode": mode})
    assert reply.status == 401
    assert "location" not in reply.headers
    assert call(nginx, "/products/2", headers={"Sec-Fetch-Mode": "navigate"}).status == 302


@pytest.mark.parametrize("path", ["/static/shop.css", "/healthz", "/favicon.ico"])
def test_assets_and_health_need_no_pass(nginx: Nginx, room: StandIn, shop: StandIn, path: str) -> None:
    reply = call(nginx, path, headers={"X-Queue-Position": "1"})
    assert reply.status == 200
    assert room.requests_to("/queue/auth") == []
    assert "x-queue-position" not in shop.seen[-1].headers or shop.seen[-1].headers["x-queue-position"] == ""


def test_a_path_that_only_starts_like_an_asset_still_needs_a_pass(nginx: Nginx, shop: StandIn) -> None:
    assert call(nginx, "/healthz/../products/2").status == 302
    assert call(nginx, "/staticky").status == 302
    assert shop.seen == []
