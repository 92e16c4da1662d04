"""Who a request comes from, as the join limit counts it.

The address is the peer, or the ``X-Forwarded-For`` hop that uvicorn accepts from ``TRUSTED_PROXIES``
only (uvicorn has applied it before the app sees the request). An IPv6 client counts by its /64: one
subscriber or host usually holds a whole /64 (SLAAC, privacy addresses), so counting single addresses
would give one machine billions of fresh join budgets.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request

IPV6_PREFIX = 64


def limit_key(host: str) -> str:
    """The key one client's joins count against: an IPv4 address, an IPv6 /64, else the host as given."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # a zone index (fe80::1%eth0) is not part of it
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The key the join limit counts this request against."""
    return limit_key(request.client.host) if request.client is not None else "unknown"
