"""What a protected origin asks of the room: the public key set, forward-auth, and passes for API clients.

``GET /auth`` is on the path of every request a reverse proxy protects (nginx ``auth_request``, Traefik
ForwardAuth, Caddy ``forward_auth``, Envoy ``ext_authz``): it verifies a pass offline, with the verified
copy remembered, and never touches Redis. It answers only 200 or 401 (nginx turns any other code into a
500), or with ``?deny=redirect`` a 302 to the room that the other proxies hand to the browser.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from litestar import MediaType, Request, Response, asgi, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_302_FOUND,
    HTTP_401_UNAUTHORIZED,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from webapp.passkeys import JWKS_MAX_AGE
from webapp.room import Admission, WaitingRoom
from webapp.tokens import AccessPass, TokenError
from webapp.web.api import bearer_token
from webapp.web.cookies import MAX_COOKIE_LENGTH, PASS_COOKIE
from webapp.web.deps import room_of
from webapp.web.errors import RETRY_AFTER_SECONDS

log = logging.getLogger("webapp.origin")

_CHALLENGE_HEADER: Final = (b"www-authenticate", b'Bearer realm="session-queue"')
_EMPTY: Final = (b"content-length", b"0")
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="session-queue"'}
MAX_ORIGINAL_URL: Final = 2048
MAX_PASS_COOKIES: Final = 4
# A host as a proxy forwards it: a DNS name or an address, with an optional port; nothing that could
# end the URL's authority early (no "/", "@", "\\", whitespace).
_HOST: Final = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

AnyRequest = Request[Any, Any, State]


@get(
    "/.well-known/jwks.json",
    name="jwks",
    tags=["origin"],
    summary="The public keys that may have signed a valid pass",
    exclude_from_csrf=True,
)
async def jwks(request: AnyRequest) -> Response[dict[str, list[dict[str, str]]]]:
    """Every published key (the signing one, a next one announced before it signs, the previous one until its
    passes expire); caches may keep it a minute, so a next key must be published longer than that first."""
    keys = room_of(request).codec.pass_keys
    return Response(
        keys.jwks(), media_type=MediaType.JSON, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}
    )


def _bearer(value: str | None) -> str | None:
    """The token of ``Authorization: Bearer``; None for any other scheme (the origin's own Basic auth, say)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _cookies(headers: list[str], name: str) -> list[str]:
    """Every plausible value of the named cookie in the ``Cookie`` header(s).

    A browser sends two ``sq_pass`` cookies when one was set for a parent domain and one for the host;
    each is tried (at most a few, each bounded in size; an oversized one is no cookie).
    """
    found = []
    for header in headers:
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            value = value.strip().strip('"')
            if key == name and value and len(value) <= MAX_COOKIE_LENGTH:
                found.append(value)
    return found[:MAX_PASS_COOKIES]


def presented_pass(room: WaitingRoom, authorization: str | None, cookies: list[str]) -> AccessPass | None:
    """The first valid pass among the Bearer header and the pass cookies, or None."""
    for token in (_bearer(authorization), *_cookies(cookies, PASS_COOKIE)):
        if token is None:
            continue
        try:
            return room.read_pass(token)
        except TokenError:
            continue
    return None


def _plain(value: str | None) -> str | None:
    """A header value that may go into a URL: printable ASCII, bounded; else None."""
    if value is None or not value or len(value) > MAX_ORIGINAL_URL or not value.isascii() or not value.isprintable():
        return None
    return value


def _path(value: str | None) -> str | None:
    """A request target that is a path of this host ("/..."), never "//host" (scheme-relative)."""
    path = _plain(value)
    if path is None or " " in path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    return path


def original_url(headers: Mapping[str, str]) -> str | None:
    """The URL the visitor asked for: ``X-Forwarded-Proto`` + ``-Host`` + ``-Uri`` (Traefik, Caddy), or
    ``X-Original-URI`` (nginx, a path). The room's ``return_to`` check decides whether it is honoured."""
    uri = _path(headers.get("x-forwarded-uri"))
    proto = (_plain(headers.get("x-forwarded-proto")) or "").split(",")[0].strip().lower()
    host = (_plain(headers.get("x-forwarded-host")) or "").split(",")[0].strip()
    if uri is not None and proto in ("http", "https") and _HOST.fullmatch(host):
        return f"{proto}://{host}{uri}"
    return _path(headers.get("x-original-uri")) or uri


def _denial(scope: Scope, headers: Mapping[str, str]) -> tuple[int, list[tuple[bytes, bytes]]]:
    if b"deny=redirect" not in scope.get("query_string", b"").split(b"&"):
        return HTTP_401_UNAUTHORIZED, [_CHALLENGE_HEADER]
    prefix = str(scope.get("root_path", "") or "").rstrip("/")
    wanted = original_url(headers)
    location = f"{prefix}/" if wanted is None else f"{prefix}/?return_to={quote(wanted, safe='')}"
    return HTTP_302_FOUND, [(b"location", location.encode("latin-1"))]


def _decide(scope: Scope) -> tuple[int, list[tuple[bytes, bytes]]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.append(value)
        else:
            headers.setdefault(name, value)
    room: WaitingRoom = scope["litestar_app"].state.room
    access = presented_pass(room, headers.get("authorization"), cookies)
    if access is None:
        return _denial(scope, headers)
    return HTTP_200_OK, [
        (b"x-queue-position", str(access.position).encode()),
        (b"x-queue-pass-id", access.pass_id.encode("latin-1")),
        (b"x-queue-pass-expires", str(access.expires_at).encode()),
    ]


@asgi("/auth", name="auth", exclude_from_csrf=True, copy_scope=False)
async def forward_auth(scope: Scope, receive: Receive, send: Send) -> None:
    """A valid pass (cookie ``sq_pass`` or ``Authorization: Bearer``) → 200 and ``X-Queue-*`` headers.

    A plain ASGI route, not a handler: it runs on every request the proxy protects, and Litestar's
    request and response objects were half its cost. Nothing here may raise: to nginx any answer but
    2xx/401/403 is a 500 for the visitor, so an unexpected error is logged and answered 401.
    """
    try:
        status, headers = _decide(scope)
    except Exception:
        log.exception("GET /auth could not read the request; denied")
        status, headers = HTTP_401_UNAUTHORIZED, [_CHALLENGE_HEADER]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": [*headers, _EMPTY]}
    await send(start)
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
    await send(body)


@post(
    "/pass",
    name="pass",
    tags=["origin"],
    summary="Exchange an active ticket for a pass, once",
    security=[{"bearer": []}],
    exclude_from_csrf=True,
    status_code=HTTP_201_CREATED,
)
async def exchange_ticket(request: AnyRequest) -> Response[dict[str, Any]]:
    """An API client's ``/checkout``: the same one-time admission claim, so a ticket yields one pass in all.

    201 ``{"pass", "expires_at"}``; 409 ``{"status"}`` (``waiting``, ``expired`` or ``used``) otherwise;
    503 with ``Retry-After`` while the room cannot read its window or claim the admission in Redis.
    """
    room = room_of(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise NotAuthorizedException(detail="missing bearer ticket", headers=CHALLENGE)
    try:
        ticket = room.read_ticket(token)
    except TokenError as exc:
        raise NotAuthorizedException(detail=f"invalid ticket: {exc}", headers=CHALLENGE) from None
    result = await room.admit(ticket)
    status = result.status
    if result.outcome is Admission.ADMITTED and result.pass_token is not None and result.access is not None:
        return Response(
            {"pass": result.pass_token, "expires_at": result.access.expires_at}, status_code=HTTP_201_CREATED
        )
    if result.outcome is Admission.NOT_ACTIVE and status.reconnecting:
        return Response(
            {"status_code": 503, "detail": "the waiting room is reconnecting to its store; retry shortly"},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if result.outcome is Admission.ALREADY_USED:
        return Response({"status": "used"}, status_code=HTTP_409_CONFLICT)
    body: dict[str, Any] = {"status": status.status.value, "poll_after_seconds": round(status.poll_after, 2)}
    if result.outcome is Admission.PAUSED:  # active, but nobody enters until the operator resumes
        body = {"status": "waiting", "paused": True, "poll_after_seconds": round(status.poll_after, 2)}
    return Response(body, status_code=HTTP_409_CONFLICT)
