"""The visitor's cookies: the queue ticket, the access pass and the return target, all HttpOnly, SameSite=Lax.

The ticket and the return target belong to the room: ``Path=<ROOT_PATH>/`` (``/`` at the root). The
pass belongs to what it protects: ``Path=/``, and ``Domain=<COOKIE_DOMAIN>`` when set, so a shop on
a sibling host sees it. ``Secure`` is added by :class:`SecureCookiesMiddleware` whenever the request
came over HTTPS (or always/never when COOKIE_SECURE says so), so plain http on localhost still works.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.datastructures.headers import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

TICKET_COOKIE = "sq_ticket"
PASS_COOKIE = "sq_pass"  # noqa: S105 - a cookie name
CSRF_COOKIE = "sq_csrf"
RETURN_COOKIE = "sq_return"
MAX_COOKIE_LENGTH = 1024


def _cookie(name: str, value: str, max_age: int, path: str = "/", domain: str | None = None) -> Cookie:
    return Cookie(
        key=name, value=value, max_age=max(0, max_age), path=path, domain=domain, httponly=True, samesite="lax"
    )


def room_cookie_path(root_path: str) -> str:
    """Where the room's own cookies (ticket, return target, CSRF) are sent: everything under its prefix."""
    return root_path + "/"


def ticket_cookie(token: str, expires_at: int, now: int, root_path: str = "") -> Cookie:
    """Lives no longer than the ticket itself."""
    return _cookie(TICKET_COOKIE, token, expires_at - now, room_cookie_path(root_path))


def pass_cookie(token: str, expires_at: int, now: int, domain: str | None = None) -> Cookie:
    return _cookie(PASS_COOKIE, token, expires_at - now, "/", domain)


def expired_cookie(name: str, root_path: str = "", domain: str | None = None) -> Cookie:
    """Deletes a cookie: same name, path and domain as it was set with (the pass: ``/`` and ``domain``)."""
    path = "/" if name == PASS_COOKIE else room_cookie_path(root_path)
    return _cookie(name, "", 0, path, domain if name == PASS_COOKIE else None)


def _return_mac(secret: bytes, target: bytes) -> bytes:
    key = hashlib.sha256(b"return-to:" + secret).digest()
    return hmac.new(key, target, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def return_cookie(target: str, secret: bytes, max_age: float, root_path: str = "") -> Cookie:
    """Remembers where the visitor was going (already checked) for as long as a ticket lives, signed.

    Signed so that a cookie planted from a sibling host cannot choose the target; the target is
    checked against the allow-list again when it is read (the list may have changed).
    """
    raw = target.encode()
    value = f"{_b64(raw)}.{_b64(_return_mac(secret, raw))}"
    return _cookie(RETURN_COOKIE, value, int(max_age), room_cookie_path(root_path))


def read_return_cookie(request: Request[Any, Any, Any], secret: bytes) -> str | None:
    """The target the return cookie holds, or None when absent, malformed or not signed by us."""
    value = read_cookie(request, RETURN_COOKIE)
    if value is None:
        return None
    encoded, _, mac = value.partition(".")
    try:
        target = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        signature = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature, _return_mac(secret, target)):
        return None
    try:
        return target.decode("ascii")
    except UnicodeDecodeError:
        return None


def read_cookie(request: Request[Any, Any, Any], name: str) -> str | None:
    """The cookie's value, or None when absent or implausibly large (never parsed then)."""
    return usable_cookie(request.cookies.get(name))


def usable_cookie(value: str | None) -> str | None:
    """A cookie value worth reading: None when absent, empty or implausibly large (never parsed then)."""
    if not value or len(value) > MAX_COOKIE_LENGTH:
        return None
    return value


class SecureCookiesMiddleware(ASGIMiddleware):
    """Mark every Set-Cookie ``Secure`` on HTTPS requests (or always / never, as configured)."""

    def __init__(self, secure: bool | None) -> None:
        self.secure = secure

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        https = scope.get("scheme") == "https" if self.secure is None else self.secure
        if not https or scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                cookies = headers.getall("set-cookie", [])
                if cookies:
                    del headers["set-cookie"]
                    for value in cookies:
                        headers.add("set-cookie", value if "; secure" in value.lower() else f"{value}; Secure")
            await send(message)

        await next_app(scope, receive, send_secure)
