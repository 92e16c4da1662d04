"""Refuse oversized requests early, before any parsing: 431 for headers, 413 for bodies."""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

MAX_HEADER_BYTES = 8 * 1024
MAX_BODY_BYTES = 16 * 1024


async def _refuse(send: Send, status: int, text: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": text, "more_body": False})


class RequestSizeMiddleware(ASGIMiddleware):
    """Tokens, cookies and forms here are small; anything far larger is refused unread."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = scope.get("headers", [])
        if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
            await _refuse(send, 431, b"request header fields too large\n")
            return
        for name, value in headers:
            if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY_BYTES):
                await _refuse(send, 413, b"request body too large\n")
                return
        await next_app(scope, receive, send)
