"""``HEAD`` answered like ``GET`` without a body, on every GET route (monitors probe with HEAD).

Litestar answers 405 to HEAD on a GET route, and it routes before any middleware runs, so this wraps
the application's ASGI handler: the request goes in as GET, the headers come out unchanged (with the
GET's Content-Length, as RFC 9110 allows) and every body chunk is dropped. ``GET /checkout`` has an
effect (it exchanges a ticket for a pass), so handlers can ask :func:`is_head` and stay read-only.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEAD_FLAG = "sq.head"


def is_head(request: Request[Any, Any, Any]) -> bool:
    """Whether this GET is really a HEAD (so it must change nothing)."""
    return bool(request.scope.get("state", {}).get(HEAD_FLAG))


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        scope["method"] = "GET"
        scope.setdefault("state", {})[HEAD_FLAG] = True

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_without_body)
