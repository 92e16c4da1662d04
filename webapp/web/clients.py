"""Who a request comes from, as the join limit counts it.

The address is the peer, or the ``X-Forwarded-For`` hop that uvicorn accepts from ``TRUSTED_PROXIES``
only (uvicorn has applied it before the app sees the request).
"""

from __future__ import annotations

from typing import Any

from litestar import Request


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the limit counts against."""
    return request.client.host if request.client is not None else "unknown"
