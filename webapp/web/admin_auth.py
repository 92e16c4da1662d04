"""Who may use the console, the admin API and /metrics.

- ``ADMIN_TOKEN`` unset: every admin route answers 404 (the console is off).
- The JSON API takes ``Authorization: Bearer <ADMIN_TOKEN>``; ``/metrics`` takes it or ``METRICS_TOKEN``.
- The console's login form exchanges the token for a short-lived session cookie (HttpOnly,
  ``SameSite=Strict``, ``Path=/admin``), an HMAC-signed JWT keyed from the token, so rotating the
  token ends every session.
- Tokens are compared in constant time (digests of equal length). Failures are counted per client
  address in Redis, so a lockout holds on every replica: ``MAX_FAILURES`` within ``LOCKOUT_SECONDS``
  lock that address out (429) until the count expires.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any, Final

import jwt
from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, NotFoundException, TooManyRequestsException
from redis.commands.core import AsyncScript

from webapp.queue.keys import QueueKeys
from webapp.queue.operator import Actor
from webapp.queue.store import load_script
from webapp.redis_client import RedisClient
from webapp.web.clients import client_address

log = logging.getLogger("webapp.admin")

ADMIN_COOKIE: Final = "sq_admin"
SESSION_SECONDS: Final = 30 * 60
MAX_FAILURES: Final = 5
LOCKOUT_SECONDS: Final = 15 * 60
_AUDIENCE: Final = "admin"
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="session-queue admin"'}


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


@dataclass(frozen=True)
class Session:
    session_id: str
    expires_at: int


class AdminAuth:
    def __init__(
        self, redis: RedisClient, keys: QueueKeys, admin_token: bytes | None, metrics_token: bytes | None = None
    ) -> None:
        self.keys = keys
        self.redis = redis
        self._admin = None if admin_token is None else _digest(admin_token)
        self._metrics = None if metrics_token is None else _digest(metrics_token)
        self._session_key = b"" if admin_token is None else _digest(b"admin-session:" + admin_token)
        self._failure: AsyncScript = redis.register_script(load_script("admin_failure"))

    @property
    def enabled(self) -> bool:
        return self._admin is not None

    @property
    def metrics_enabled(self) -> bool:
        return self._admin is not None or self._metrics is not None

    def require_enabled(self) -> None:
        if not self.enabled:
            raise NotFoundException()

    def is_admin_token(self, presented: str) -> bool:
        return self._admin is not None and hmac.compare_digest(_digest(presented.encode()), self._admin)

    def is_metrics_token(self, presented: str) -> bool:
        if self.is_admin_token(presented):
            return True
        return self._metrics is not None and hmac.compare_digest(_digest(presented.encode()), self._metrics)

    # The cross-replica lockout.

    async def check_not_locked(self, address: str) -> None:
        raw = await self.redis.get(self.keys.admin_failures(address))
        if raw is not None and int(raw) >= MAX_FAILURES:
            ttl_ms = await self.redis.pttl(self.keys.admin_failures(address))
            retry = max(1, math.ceil(max(0, ttl_ms) / 1000))
            raise TooManyRequestsException(
                detail=f"too many failed attempts from this address; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )

    async def failed(self, address: str) -> int:
        failures, _ = await self._failure(keys=[self.keys.admin_failures(address)], args=[LOCKOUT_SECONDS * 1000])
        log.warning("admin credential refused from %s (%d failures)", address, int(failures))
        return int(failures)

    async def succeeded(self, address: str) -> None:
        await self.redis.delete(self.keys.admin_failures(address))

    # Console sessions.

    def new_session(self, now: int) -> tuple[str, Session]:
        session = Session(secrets.token_urlsafe(12), now + SESSION_SECONDS)
        claims = {"aud": _AUDIENCE, "sid": session.session_id, "iat": now, "exp": session.expires_at}
        return jwt.encode(claims, self._session_key, algorithm="HS256"), session

    def read_session(self, token: str | None, now: int) -> Session | None:
        if not self.enabled or not token or len(token) > 512 or not token.isascii():
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._session_key,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                options={"require": ["aud", "sid", "iat", "exp"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        exp, sid = claims["exp"], claims["sid"]
        if not isinstance(exp, int) or not isinstance(sid, str) or exp <= now:
            return None
        return Session(sid, exp)


def session_cookie(value: str, max_age: int, path: str = "/admin") -> Cookie:
    """``path`` is the console's, under the room's prefix (``/queue/admin`` with ``ROOT_PATH=/queue``)."""
    return Cookie(key=ADMIN_COOKIE, value=value, max_age=max(0, max_age), path=path, httponly=True, samesite="strict")


def admin_auth_of(request: Request[Any, Any, Any]) -> AdminAuth:
    auth: AdminAuth = request.app.state.admin_auth
    return auth


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_admin_token(request: Request[Any, Any, Any]) -> Actor:
    """The API's check: 404 when the console is off, 429 while locked out, 401 without the right token."""
    auth = admin_auth_of(request)
    auth.require_enabled()
    address = client_address(request)
    await auth.check_not_locked(address)
    token = _bearer(request)
    if token is None or not auth.is_admin_token(token):
        await auth.failed(address)
        raise NotAuthorizedException(detail="a valid admin bearer token is required", headers=_CHALLENGE)
    return Actor("token", address)


async def require_metrics_token(request: Request[Any, Any, Any]) -> None:
    """/metrics: 404 when neither ADMIN_TOKEN nor METRICS_TOKEN is set, else one of them as a bearer token."""
    auth = admin_auth_of(request)
    if not auth.metrics_enabled:
        raise NotFoundException()
    address = client_address(request)
    await auth.check_not_locked(address)
    token = _bearer(request)
    if token is None or not auth.is_metrics_token(token):
        await auth.failed(address)
        raise NotAuthorizedException(detail="a valid metrics or admin bearer token is required", headers=_CHALLENGE)


def console_session(request: Request[Any, Any, Any], now: int) -> Session | None:
    """The console session the request's cookie carries (404 when the console is off)."""
    auth = admin_auth_of(request)
    auth.require_enabled()
    return auth.read_session(request.cookies.get(ADMIN_COOKIE), now)


def require_console_session(request: Request[Any, Any, Any], now: int) -> Actor:
    session = console_session(request, now)
    if session is None:
        raise NotAuthorizedException(detail="log in to the console first")
    return Actor(f"session:{session.session_id[:8]}", client_address(request))
