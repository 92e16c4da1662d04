"""A drop-in ASGI gate for a sale site: only visitors holding a waiting-room pass get through.

This module imports nothing else of the waiting room (PyJWT with ``cryptography``, and the standard library),
so a shop can vendor this one file. It wraps any ASGI application — Litestar, Starlette, FastAPI, Django::

    app = QueueGate(app, room_url="https://queue.example/queue/")          # any ASGI app, Django's included
    Litestar(..., middleware=[DefineMiddleware(QueueGate, room_url=...)])   # Litestar
    app.add_middleware(QueueGate, room_url=...)                             # Starlette, FastAPI

What it does for each HTTP request (and WebSocket handshake):

* a path on the allow-list (assets, health checks) goes through untouched;
* ``?sq_pass=<pass>`` in the URL (the room's cross-site hand-off) is verified, exchanged for the gate's own
  ``sq_pass`` cookie (HttpOnly, SameSite=Lax) and removed from the URL with a 303;
* a valid pass (cookie ``sq_pass`` or ``Authorization: Bearer``) goes through, its claims in
  ``scope["state"]["queue_pass"]`` (a :class:`QueuePass`);
* anyone else is sent (303) to ``ROOM_URL?return_to=<the URL asked for>``.

Passes are verified offline against the room's key set (``<room>/.well-known/jwks.json``), fetched in a thread
and cached: an unknown ``kid`` refetches it at most once per cool-down (30 s), a set older than its
``Cache-Control`` max-age is refreshed in the background. When the room is down, visitors holding a pass keep
shopping on the cached keys, and everyone else gets a 503 "the queue is unavailable" page with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import html
import json
import logging
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit

import jwt

__all__ = ["KeySet", "QueueGate", "QueuePass", "Verdict", "Verification"]

# Loose on purpose: each framework types the ASGI interface its own way (Starlette with mappings, Litestar with
# TypedDicts), and the gate must plug into all of them without a cast.
Scope = Any
Message = Any
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Clock = Callable[[], float]

log = logging.getLogger("webapp.gate")

ALGORITHM: Final = "ES256"
PASS_COOKIE: Final = "sq_pass"  # noqa: S105 - a cookie name, not a password
HANDOFF_PARAMETER: Final = "sq_pass"
REQUIRED_CLAIMS: Final = ("exp", "iat", "nbf", "sub", "jti", "aud", "iss")
MAX_PASS_LENGTH: Final = 4096
MAX_JWKS_BYTES: Final = 256 * 1024
DEFAULT_MAX_AGE: Final = 60.0
MAX_MAX_AGE: Final = 3600.0
STATE_KEY: Final = "queue_pass"
MAX_REMEMBERED: Final = 10_000
MAX_PRESENTED: Final = 4
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,9})\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True)
class QueuePass:
    """What a verified pass tells the application: who was admitted, and until when."""

    position: int
    pass_id: str
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)


class Verdict(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"  # forged, expired, for another room, of a retired key, malformed
    UNAVAILABLE = "unavailable"  # signed by a key we do not know and the room cannot be asked


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    queue_pass: QueuePass | None = None
    why: str = ""


class KeySet:
    """The room's public keys, fetched from its JWKS URL off the event loop and cached.

    Every fetch is spaced by at least ``cooldown`` seconds from the previous attempt, so forged ``kid`` values
    cannot make us hammer the room; a failed fetch keeps the keys we had (the room being down must not throw
    admitted visitors out). ``clock`` is wall time in seconds, injected so tests control the cool-down.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = time.time,
        cooldown: float = 30.0,
        timeout: float = 2.0,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the key set URL must be http(s)://, got {url!r}")
        self.url = url
        self._clock = clock
        self.cooldown = cooldown
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self.max_age = DEFAULT_MAX_AGE
        self.fetched_at: float | None = None
        self.attempted_at: float | None = None
        self.reachable = False
        self.fetches = 0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def has(self, kid: str) -> bool:
        return kid in self._keys

    def may_fetch(self) -> bool:
        return self.attempted_at is None or self._clock() - self.attempted_at >= self.cooldown

    def stale(self) -> bool:
        return self.fetched_at is None or self._clock() - self.fetched_at >= self.max_age

    def retry_after(self) -> int:
        """Whole seconds until the next fetch may be tried (what a 503 tells the browser)."""
        if self.attempted_at is None:
            return 1
        return max(1, math.ceil(self.cooldown - (self._clock() - self.attempted_at)))

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``; an unknown one refetches the set when the cool-down allows."""
        found = self._keys.get(kid)
        if found is not None:
            self.refresh_soon()
            return found
        await self.refresh()
        return self._keys.get(kid)

    async def check_reachable(self) -> bool:
        """Whether the room answered its last fetch; asks again when it did not and the cool-down allows."""
        if self.attempted_at is None or (not self.reachable and self.may_fetch()):
            await self.refresh()
        else:
            self.refresh_soon()
        return self.reachable

    def refresh_soon(self) -> None:
        """Refresh a stale set in the background, so no request waits for it."""
        if not self.stale() or not self.may_fetch():
            return
        if self._background is not None and not self._background.done():
            return
        self._background = asyncio.get_running_loop().create_task(self.refresh())

    async def aclose(self) -> None:
        """Wait for a background refresh (for an orderly shutdown, and for tests)."""
        task, self._background = self._background, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, self.timeout + 1)

    async def refresh(self) -> None:
        """Fetch the set now unless the cool-down forbids; one fetch at a time, the others wait for it."""
        async with self._lock:
            if not self.may_fetch():
                return
            self.attempted_at = self._clock()
            self.fetches += 1
            try:
                body, cache_control = await asyncio.to_thread(self._download)
                keys = parse_key_set(body)
            except (OSError, ValueError) as exc:  # urllib's errors are OSErrors; bad JSON is a ValueError
                self.reachable = False
                log.warning("the queue's key set at %s could not be fetched: %s", self.url, exc)
                return
            self._keys = keys
            self.max_age = _max_age(cache_control)
            self.fetched_at = self._clock()
            self.reachable = True

    def _download(self) -> tuple[bytes, str]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - checked scheme
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - checked scheme
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the key set is larger than {MAX_JWKS_BYTES} bytes")
            return body, str(response.headers.get("Cache-Control", ""))


def parse_key_set(body: bytes) -> dict[str, jwt.PyJWK]:
    """The usable ES256 signing keys of a JWKS document, by ``kid``; anything else in it is skipped."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('the key set is not a JSON object with a "keys" list')
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if (
            not isinstance(kid, str)
            or not kid
            or jwk.get("kty") != "EC"
            or jwk.get("crv") != "P-256"
            or jwk.get("alg", ALGORITHM) != ALGORITHM
            or jwk.get("use", "sig") != "sig"
        ):
            continue
        try:
            keys[kid] = jwt.PyJWK(jwk, algorithm=ALGORITHM)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            log.warning("the queue's key set holds an unusable key %r; skipped", kid)
    return keys


def _max_age(cache_control: str) -> float:
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_MAX_AGE
    return min(float(match.group(1)), MAX_MAX_AGE)


def _whole_seconds(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise jwt.InvalidTokenError(f"{name} is not a number of seconds")
    return int(value)


async def verify_pass(
    token: str, keys: KeySet, *, audience: str, issuer: str, clock: Clock = time.time, leeway: float = 5.0
) -> Verification:
    """Verify a pass offline: ES256 only, a known ``kid``, our issuer and audience, every required claim, in time."""
    if not token or len(token) > MAX_PASS_LENGTH:
        return Verification(Verdict.INVALID, why="empty or oversized")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return Verification(Verdict.INVALID, why="not a JWT")
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM:
        return Verification(Verdict.INVALID, why=f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
    if not isinstance(kid, str) or not kid:
        return Verification(Verdict.INVALID, why="no kid")
    started = clock()
    key = await keys.key(kid)
    if key is None:
        if keys.reachable and keys.fetched_at is not None and keys.fetched_at >= started:
            return Verification(Verdict.INVALID, why=f"unknown key {kid!r}")
        # Not in a set fetched before this request, and the cool-down forbids asking again (or the room is
        # down): it may be a key published since. Refusing would send the visitor to the room, which (holding
        # a pass it accepts) sends them straight back; "retry in N s" ends when the set can be refetched.
        return Verification(Verdict.UNAVAILABLE, why=f"unknown key {kid!r}; the key set cannot be refetched yet")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            # Times are checked below against the injected clock; PyJWT would read its own.
            options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        now = clock()
        expires_at = _whole_seconds(claims, "exp")
        if expires_at <= now - leeway:
            raise jwt.ExpiredSignatureError("expired")
        if _whole_seconds(claims, "nbf") > now + leeway or _whole_seconds(claims, "iat") > now + leeway:
            raise jwt.ImmatureSignatureError("not yet valid")
        sub, jti = claims.get("sub"), claims.get("jti")
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or int(sub) < 1:
            raise jwt.InvalidTokenError("sub is not a position")
        if not isinstance(jti, str) or not jti:
            raise jwt.InvalidTokenError("jti is not a string")
    except jwt.InvalidTokenError as exc:
        return Verification(Verdict.INVALID, why=str(exc) or type(exc).__name__)
    return Verification(Verdict.VALID, QueuePass(int(sub), jti, expires_at, claims))


UNAVAILABLE_PAGE: Final = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>The queue is unavailable</title>
<style>body{{font:1.1rem/1.5 system-ui,sans-serif;max-width:34rem;margin:12vh auto;padding:0 1rem}}</style></head>
<body><main data-testid="queue-unavailable">
<h1>The queue is unavailable</h1>
<p>{name} uses a waiting room to let people in fairly, and it cannot be reached right now.</p>
<p>Nothing is lost: try again in {seconds} seconds.</p>
<p><a href="{again}">Try again</a></p>
</main></body></html>
"""


class QueueGate:
    """ASGI middleware letting through only visitors the waiting room admitted (see the module docstring).

    ``room_url`` is the room's public URL (visitors are sent there with ``return_to``); ``jwks_url`` defaults to
    ``room_url`` + ``.well-known/jwks.json``. ``allow`` lists paths served to anyone: an entry ending in ``/``
    is a prefix, any other an exact path. ``secure_cookie`` None sets ``Secure`` over HTTPS only.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        room_url: str,
        jwks_url: str | None = None,
        audience: str = "pass:main",
        issuer: str = "session-queue",
        allow: Iterable[str] = ("/static/", "/healthz", "/favicon.ico"),
        secure_cookie: bool | None = None,
        site_name: str = "This sale",
        clock: Clock = time.time,
        leeway: float = 5.0,
        cooldown: float = 30.0,
        fetch_timeout: float = 2.0,
        keys: KeySet | None = None,
    ) -> None:
        if urlsplit(room_url).scheme not in ("http", "https"):
            raise ValueError(f"room_url must be an http(s):// URL, got {room_url!r}")
        self.app = app
        self.room_url = room_url
        base = room_url if room_url.endswith("/") else room_url + "/"
        self.keys = keys or KeySet(
            jwks_url or base + ".well-known/jwks.json", clock=clock, cooldown=cooldown, timeout=fetch_timeout
        )
        self.audience = audience
        self.issuer = issuer
        self.allow = tuple(allow)
        self.secure_cookie = secure_cookie
        self.site_name = site_name
        self.clock = clock
        self.leeway = leeway
        self._verified: dict[str, tuple[QueuePass, str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        handoff = _handoff_token(scope) if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") else None
        if handoff is not None:
            await self._hand_off(scope, send, handoff)
            return
        unavailable = False
        for token in _presented_passes(scope):  # the first valid one wins (a stale cookie may come first)
            checked = await self.verify(token)
            if checked.queue_pass is not None:
                await self.app(_with_pass(scope, checked.queue_pass), receive, send)
                return
            unavailable = unavailable or checked.verdict is Verdict.UNAVAILABLE
        if unavailable:
            await self._unavailable(scope, send)
            return
        if not await self.keys.check_reachable():
            await self._unavailable(scope, send)
            return
        await self._to_the_room(scope, send)

    def allowed(self, path: str) -> bool:
        """Whether ``path`` is served without a pass; a path with dot segments never is."""
        if "/./" in path or "/../" in path or path.endswith(("/.", "/..")) or "\\" in path:
            return False
        return any(path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in self.allow)

    async def verify(self, token: str) -> Verification:
        """Verify a pass, remembering it until it expires: a shopper's next requests cost a dict lookup, not an
        ES256 verification (~250 µs). A remembered pass is dropped as soon as its key leaves the key set."""
        remembered = self._verified.get(token)
        if remembered is not None:
            queue_pass, kid = remembered
            if self.keys.has(kid) and queue_pass.expires_at > self.clock() - self.leeway:
                self.keys.refresh_soon()
                return Verification(Verdict.VALID, queue_pass)
            del self._verified[token]
        checked = await verify_pass(
            token, self.keys, audience=self.audience, issuer=self.issuer, clock=self.clock, leeway=self.leeway
        )
        if checked.queue_pass is not None:
            if len(self._verified) >= MAX_REMEMBERED:  # bounded: forget the oldest
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (checked.queue_pass, str(jwt.get_unverified_header(token)["kid"]))
        return checked

    async def _hand_off(self, scope: Scope, send: Send, token: str) -> None:
        checked = await self.verify(token)
        target = _asked_url(scope, drop_handoff=True)
        if checked.queue_pass is not None:
            max_age = max(0, checked.queue_pass.expires_at - int(self.clock()))
            cookie = f"{PASS_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
            if self.secure_cookie or (self.secure_cookie is None and scope.get("scheme") in ("https", "wss")):
                cookie += "; Secure"
            path_and_query = _path_and_query(scope, drop_handoff=True)
            await _respond(scope, send, 303, [("location", path_and_query), ("set-cookie", cookie)])
            return
        if checked.verdict is Verdict.UNAVAILABLE:
            await self._unavailable(scope, send)
            return
        log.info("a hand-off pass was refused (%s)", checked.why)
        await _respond(scope, send, 303, [("location", self._room_location(target))])

    async def _to_the_room(self, scope: Scope, send: Send) -> None:
        """303 to the room for a page; 401 for an image, script or fetch, which must not become the return_to
        the room remembers (a favicon asked for on the way would otherwise be where the visitor lands)."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if not _navigation(scope):
            await _respond(
                scope, send, 401, [("content-type", "text/plain; charset=utf-8")], b"a waiting-room pass is needed\n"
            )
            return
        await _respond(scope, send, 303, [("location", self._room_location(_asked_url(scope, drop_handoff=True)))])

    def _room_location(self, asked: str) -> str:
        """``ROOM_URL?return_to=...``: a path when the room is on this very origin (which the room accepts
        without configuration), else the absolute URL (whose origin must be in the room's RETURN_ORIGINS)."""
        room, wanted = urlsplit(self.room_url), urlsplit(asked)
        if (room.scheme, room.netloc.lower()) == (wanted.scheme, wanted.netloc.lower()):
            asked = wanted.path + ("?" + wanted.query if wanted.query else "")
        separator = "&" if room.query else "?"
        return self.room_url + separator + urlencode({"return_to": asked})

    async def _unavailable(self, scope: Scope, send: Send) -> None:
        seconds = self.keys.retry_after()
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})
            return
        page = UNAVAILABLE_PAGE.format(
            name=html.escape(self.site_name),
            seconds=seconds,
            again=html.escape(_path_and_query(scope, drop_handoff=True), quote=True),
        )
        await _respond(
            scope,
            send,
            503,
            [("retry-after", str(seconds)), ("content-type", "text/html; charset=utf-8")],
            page.encode(),
        )


def _headers(scope: Scope) -> Iterable[tuple[str, str]]:
    for name, value in scope.get("headers", ()):
        yield name.decode("latin-1").lower(), value.decode("latin-1")


def _navigation(scope: Scope) -> bool:
    """Whether the browser is loading a page (``Sec-Fetch-Mode: navigate``); clients that do not say are."""
    mode = next((value for name, value in _headers(scope) if name == "sec-fetch-mode"), None)
    return mode is None or mode.strip().lower() in ("navigate", "nested-navigate")


def _presented_passes(scope: Scope) -> list[str]:
    """The passes in ``sq_pass`` cookies (a browser may send several: the room's and ours), then in
    ``Authorization: Bearer``; a few at most."""
    cookies, bearer = [], []
    for name, value in _headers(scope):
        if name == "cookie":
            for part in value.split(";"):
                key, _, cookie_value = part.strip().partition("=")
                if key == PASS_COOKIE and cookie_value.strip('"'):
                    cookies.append(cookie_value.strip('"'))
        elif name == "authorization":
            scheme, _, credentials = value.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                bearer.append(credentials.strip())
    return (cookies + bearer)[:MAX_PRESENTED]


def _query_pairs(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def _handoff_token(scope: Scope) -> str | None:
    for name, value in _query_pairs(scope):
        if name == HANDOFF_PARAMETER:
            return value
    return None


def _path_and_query(scope: Scope, *, drop_handoff: bool) -> str:
    """The path and query asked for, optionally without sq_pass (ASGI's ``path`` includes any ``root_path``)."""
    path = quote(scope.get("path", "/"), safe="/:@!$&'()*+,;=-._~%")
    query = scope.get("query_string", b"").decode("latin-1")
    if drop_handoff:  # only the hand-off parameter goes; the rest stays byte for byte
        query = "&".join(part for part in query.split("&") if unquote_plus(part.partition("=")[0]) != HANDOFF_PARAMETER)
    return path + ("?" + query if query else "")


def _asked_url(scope: Scope, *, drop_handoff: bool) -> str:
    """The absolute URL asked for, from the scheme and Host the server saw (the room checks its origin)."""
    host = next((value for name, value in _headers(scope) if name == "host"), "")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{host}{_path_and_query(scope, drop_handoff=drop_handoff)}"


def _with_pass(scope: Scope, queue_pass: QueuePass) -> Scope:
    state = dict(scope.get("state") or {})
    state[STATE_KEY] = queue_pass
    return {**scope, "state": state}


async def _respond(scope: Scope, send: Send, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    encoded += [(b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
