"""The lane: what nearly every request of a sale is, answered beneath the framework.

Nearly every request a waiting room serves is a repeated poll — ``GET /status`` from API clients,
``GET /room/status`` from htmx in the browser — by a visitor whose ticket this replica has verified
(or signed) before and who is still waiting; and every visitor joins once. Routing, the middleware
stack and the request and response objects cost about two thirds of such a request (docs/performance.md),
so this plain ASGI layer answers exactly those cases itself and hands every other request, unchanged, to
the application:

- ``GET /status`` with a ticket this replica already knows, whatever its status (no side effect); its
  first poll elsewhere, a bad or expired token, an earlier epoch: the framework;
- ``GET /room/status`` from htmx, for such a ticket, only in states whose fragment holds no form (waiting,
  paused, pre-queue) and only when the browser already holds its CSRF cookie (else the framework would set
  one); never an active visitor (admission, redirects) nor a reconnecting copy of the window;
- ``POST /join`` without a presented ticket and without a body. A join that fails here (over the client's
  limit, Redis down) is not tried again: the framework's handler raises the same exception into the same
  handlers (429, 503).

What it answers is what the framework would: the same decision functions (:mod:`webapp.web.pages`,
:mod:`webapp.web.api`), the same template through the same Jinja environment (a themer's override
included), the same JSON encoder, the same headers (request id, ``Cache-Control``, ``Vary``), the same
metrics and slow-request log. ``tests/web/test_lane.py`` holds both answers side by side.
"""

from __future__ import annotations

import html
import time
from typing import Any

from litestar import Litestar
from litestar._parsers import parse_cookie_string
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.plugins.htmx import HTMXRequest
from litestar.serialization import encode_json
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from webapp import metrics
from webapp.logs import REQUEST_ID_HEADER, request_id, request_id_of
from webapp.queue.window import Status
from webapp.room import WaitingRoom, WindowUnknownError
from webapp.tokens import Ticket, TokenError
from webapp.web import api, pages
from webapp.web.caching import NO_STORE, vary_for
from webapp.web.clients import limit_key
from webapp.web.cookies import CSRF_COOKIE, TICKET_COOKIE, usable_cookie
from webapp.web.paths import route_path

API_ROUTE = "/status"
FRAGMENT_ROUTE = "/room/status"
JOIN = ("POST", "/join")
LANE_ROUTES = frozenset({("GET", API_ROUTE), ("GET", FRAGMENT_ROUTE), JOIN})
FRAGMENT_STATES = frozenset({"waiting", "paused", "prequeue"})
"""The fragment states without a form (so no CSRF token to write) and without a side effect."""

JSON = b"application/json"
HTML = b"text/html; charset=utf-8"
NO_STORE_BYTES = NO_STORE.encode()
Answer = tuple[int, bytes, bytes]
"""An answer: status code, content type and body."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (names arrive lower-cased), as the framework's ``headers.get``."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _known(room: WaitingRoom, token: str | None) -> Ticket | None:
    """The ticket for ``token`` if this replica verified it before; None sends the request to the framework."""
    if token is None:
        return None
    try:
        return room.known_ticket(token)
    except TokenError:
        return None


def api_answer(scope: Scope, room: WaitingRoom) -> Answer | None:
    """``GET /status`` for a known ticket, as :func:`webapp.web.api.status` answers it; None: not ours."""
    header = _header(scope, b"authorization")
    if header is None:
        return None
    try:
        ticket = _known(room, api.bearer_token(header.decode("latin-1")))
    except ClientException:
        return None
    if ticket is None:
        return None
    try:
        answer = room.status(ticket)
    except WindowUnknownError:
        return None
    metrics.STATUS_POLLS.inc()
    body = api.PrequeueBody.of(answer) if answer.status is Status.PREQUEUE else api.StatusBody.of(answer)
    return 200, JSON, encode_json(body)


async def join_answer(scope: Scope, room: WaitingRoom) -> Answer | None:
    """``POST /join`` without a presented ticket or a body, as :func:`webapp.web.api.join` answers it.

    A join that fails (over the client's limit, Redis down) is not tried twice: the failure is left
    in the scope for the framework's handler, which raises it into the same exception handlers.
    """
    if _header(scope, b"authorization") is not None or _header(scope, b"transfer-encoding") is not None:
        return None
    if _header(scope, b"content-length") not in (None, b"0"):
        return None
    if room.too_early() is not None or room.watcher.view() is None:
        return None
    client = scope.get("client")
    try:
        joined = await room.issue(limit_key(client[0]) if client else "unknown")
    except Exception as failure:
        scope.setdefault("state", {})[api.LANE_JOIN_FAILURE] = failure
        return None
    code, body = api.join_body(room, joined)
    return code, JSON, encode_json(body)


def fragment_answer(scope: Scope, room: WaitingRoom) -> Answer | None:
    """``GET /room/status`` from htmx for a known, waiting ticket, as :func:`webapp.web.pages.room_status`."""
    if _header(scope, b"hx-request") != b"true":
        return None
    cookie_header = _header(scope, b"cookie")
    if cookie_header is None:
        return None
    cookies = parse_cookie_string(cookie_header.decode("latin-1"))  # the framework's own parser
    csrf = cookies.get(CSRF_COOKIE)
    ticket = _known(room, usable_cookie(cookies.get(TICKET_COOKIE)))
    if not csrf or ticket is None:
        return None
    engine = app_of(scope).template_engine
    state, status = pages.state_of(room, ticket)
    if state not in FRAGMENT_STATES or engine is None:
        return None
    metrics.STATUS_POLLS.inc()
    # What the CSRF middleware and the template response put in scope and context for a safe request.
    ScopeState.from_scope(scope).csrf_token = csrf
    context: dict[str, Any] = {
        **pages.status_context(room, status, state),
        "request": HTMXRequest(scope),
        "csrf_input": f'<input type="hidden" name="_csrf_token" value="{html.escape(csrf)}" />',
    }
    return 200, HTML, engine.get_template(pages.STATUS_FRAGMENT).render(**context).encode()


def app_of(scope: Scope) -> Litestar:
    app: Litestar = scope["litestar_app"]
    return app


class Lane:
    """Answers the common poll and the plain API join (see the module docstring); passes the rest to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answered = 0
        """Requests this lane answered itself (the rest went to ``app``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], route_path(scope)
        route = (method, path)
        if route not in LANE_ROUTES:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        room: WaitingRoom | None = getattr(app_of(scope).state, "room", None)
        answer = None
        if room is not None:
            if route == JOIN:
                answer = await join_answer(scope, room)
            else:
                answer = api_answer(scope, room) if path == API_ROUTE else fragment_answer(scope, room)
        if answer is None:
            await self.app(scope, receive, send)
            return
        self.answered += 1
        rid = request_id_of(scope)
        token = request_id.set(rid)
        try:
            await _send(send, answer, rid, path)
        finally:
            metrics.observe_request(path, method, time.perf_counter() - start)
            request_id.reset(token)


_REQUEST_ID = REQUEST_ID_HEADER.encode()
_POLICY = {path: vary_for(path) for _, path in LANE_ROUTES}
"""Each lane route's ``Vary`` (decided by :func:`webapp.web.caching.vary_for`, once)."""


async def _send(send: Send, answer: Answer, rid: str, path: str) -> None:
    status, content_type, body = answer
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (_REQUEST_ID, rid.encode()),
        (b"cache-control", NO_STORE_BYTES),
    ]
    vary = _POLICY[path]
    if vary is not None:
        headers.append((b"vary", vary.encode()))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
