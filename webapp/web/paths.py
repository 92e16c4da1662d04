"""The room under a path prefix (``ROOT_PATH``), and the one way the room writes its own URLs.

A proxy that passes the prefix through unchanged sends ``/queue/join`` to the room's own port.
:class:`PrefixMount`, the outermost ASGI layer, puts the prefix in the scope's ``root_path`` for every
request it lets in: Litestar routes on the path without it, ``request.url`` keeps it, and code that
must build the room's public address (forward-auth's redirect) reads ``scope["root_path"]``. The
probes also answer without the prefix, because a kubelet probes the pod directly, not through the
proxy; any other path outside the prefix is a 404.

Every URL the room writes goes through :func:`url_for` — templates call it as ``url_for(name)``
(it replaces Litestar's, which ignores ``root_path``), handlers for redirects and ``HX-Redirect`` —
so links, forms, htmx attributes, assets and redirects all carry the prefix, and a page added later
gets it by using the same call.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

PROBE_PATHS = ("/livez", "/readyz", "/servez")
"""Answered at the root too: Kubernetes probes reach the pod without the proxy's prefix."""


def root_path_of(scope: Mapping[str, Any]) -> str:
    """The prefix this request was served under ('' at the root)."""
    root: str = scope.get("root_path", "") or ""
    return root


def route_path(scope: Mapping[str, Any]) -> str:
    """The request's path inside the room (``/queue/join`` → ``/join``), as routes and path rules see it."""
    path: str = scope.get("path", "")
    root = root_path_of(scope)
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def url_for(request: Request[Any, Any, Any], name: str, **path_parameters: Any) -> str:
    """The path of the route named ``name``, under the prefix the request came through."""
    return root_path_of(request.scope) + _reverse(request.app, name, tuple(sorted(path_parameters.items())))


@functools.lru_cache(maxsize=256)
def _reverse(app: Litestar, name: str, path_parameters: tuple[tuple[str, Any], ...]) -> str:
    """A route's path: the same for every request, so worked out once (every poll fragment writes one)."""
    return app.route_reverse(name, **dict(path_parameters))


def template_url_for(context: Mapping[str, Any], /, name: str, **path_parameters: Any) -> str:
    """``url_for(name, ...)`` in templates: :func:`url_for` for the request being rendered."""
    request: Request[Any, Any, Any] = context["request"]
    return url_for(request, name, **path_parameters)


async def _answer(send: Send, status: int, body: bytes, head: bool, location: bytes | None = None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
    if location is not None:
        headers.append((b"location", location))
    headers.append((b"content-length", str(len(body)).encode()))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"" if head else body, "more_body": False}
    await send(end)


class PrefixMount:
    """Serve ``app`` under ``prefix``: set ``root_path``, answer the probes at the root, 404 the rest.

    ``/queue`` itself is redirected (308, query kept) to ``/queue/``: the room's cookies have
    ``Path=/queue/``, which a browser does not send to ``/queue``.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        prefix, path = self.prefix, scope["path"]
        if path.startswith(prefix + "/") or path in PROBE_PATHS:
            if not path.startswith(prefix + "/"):
                scope["path"] = prefix + path
                scope["raw_path"] = scope["path"].encode()
            scope["root_path"] = prefix
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if path == prefix:
            query = scope.get("query_string", b"")
            location = (prefix + "/").encode() + (b"?" + query if query else b"")
            await _answer(send, 308, b"The waiting room is at " + location, head, location)
            return
        await _answer(send, 404, f"Not found. This waiting room is served under {prefix}/\n".encode(), head)
