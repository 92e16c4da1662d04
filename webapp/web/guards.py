"""Guards for state-changing browser requests, on top of Litestar's CSRF token check."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler


def same_origin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse a browser POST sent by another site (Fetch metadata first, then the Origin header)."""
    site = connection.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDeniedException("cross-site request refused")
    origin = connection.headers.get("origin")
    if origin is not None:
        host = connection.headers.get("host", "")
        if origin == "null" or _netloc(origin) != host.lower():
            raise PermissionDeniedException("cross-origin request refused")


def _netloc(origin: str) -> str | None:
    """The origin's host[:port], or None when it does not parse ("http://[x" raises in ``urlsplit``)."""
    try:
        return urlsplit(origin).netloc.lower()
    except ValueError:
        return None
