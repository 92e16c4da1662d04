"""The visitor's cookies: the queue ticket and the access pass, both HttpOnly, SameSite=Lax, Path=/.

``Secure`` is added by :func:`secure_cookies_middleware` whenever the request came over HTTPS (or
always/never when COOKIE_SECURE says so), so plain http on localhost still works for development.
"""

from __future__ import annotations

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
MAX_COOKIE_LENGTH = 1024


def _cookie(name: str, value: str, max_age: int) -> Cookie:
    return Cookie(key=name, value=value, max_age=max(0, max_age), path="/", httponly=True, samesite="lax")


def ticket_cookie(token: str, expires_at: int, now: int) -> Cookie:
    """Lives no longer than the ticket itself."""
    return _cookie(TICKET_COOKIE, token, expires_at - now)


def pass_cookie(token: str, expires_at: int, now: int) -> Cookie:
    return _cookie(PASS_COOKIE, token, expires_at - now)


def expired_cookie(name: str) -> Cookie:
    return _cookie(name, "", 0)


def read_cookie(request: Request[Any, Any, Any], name: str) -> str | None:
    """The cookie's value, or None when absent or implausibly large (never parsed then)."""
    value = request.cookies.get(name)
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
