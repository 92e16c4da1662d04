"""What shared caches may keep: assets yes, anything about one visitor never.

A CDN or proxy in front of the room (the usual deployment) would otherwise store one visitor's
place, pass or status and serve it to others: every response that did not choose its own
``Cache-Control`` (the asset router does) gets ``no-store``, and the browser pages, which depend on
the visitor's cookies, say ``Vary: Cookie`` (the API, which reads the Bearer header, ``Vary:
Authorization``) for any cache that ignores ``no-store``.
"""

from __future__ import annotations

from litestar.datastructures.headers import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from webapp.web.paths import route_path

NO_STORE = "no-store"
API_PATHS = ("/join", "/status", "/pass")
UNPERSONAL_PREFIXES = ("/static/", "/vendor/", "/livez", "/readyz", "/servez", "/schema", "/.well-known/")


def vary_for(path: str) -> str | None:
    """The request header a response for ``path`` (inside the room's prefix) depends on, if any."""
    if path in API_PATHS:
        return "Authorization"
    if path.startswith(UNPERSONAL_PREFIXES):
        return None
    return "Cookie"


class NoStoreByDefault:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        vary = vary_for(route_path(scope))

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = NO_STORE
                if vary is not None:
                    existing = headers.get("vary")
                    headers["Vary"] = f"{existing}, {vary}" if existing else vary
            await send(message)

        await self.app(scope, receive, send_with_policy)
