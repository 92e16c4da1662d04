"""Kubernetes probes: liveness says the process runs, readiness says Redis answers."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError

from webapp.web.deps import room_of


@get("/livez", media_type=MediaType.TEXT, include_in_schema=True, sync_to_thread=False)
def livez() -> str:
    return "ok"


@get("/readyz", media_type=MediaType.TEXT)
async def readyz(request: Request[Any, Any, Any]) -> Response[str]:
    """Ready when Redis answers. PING is safe to repeat, so one retry absorbs a connection that went
    stale while Redis restarted (the pool only learns it is dead by using it)."""
    for _ in range(2):
        try:
            await room_of(request).store.ping()
        except RedisError:
            continue
        return Response("ok", status_code=HTTP_200_OK)
    return Response("redis unreachable", status_code=HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
