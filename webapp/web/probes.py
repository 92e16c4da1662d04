"""Kubernetes probes: ``/livez`` says the process runs, ``/servez`` that this replica can serve
visitors (the readiness probe), ``/readyz`` that Redis answers (for monitoring and alerts).

Readiness must not follow Redis: every replica shares it, so when Redis is down every pod would turn
unready together and the ingress would answer its own 503 to everyone, while each replica could still
serve the "reconnecting, your place is safe" page and status polls from its copy of the window.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError

from webapp.web.deps import room_of


@get("/livez", media_type=MediaType.TEXT, include_in_schema=True, sync_to_thread=False)
def livez() -> str:
    return "ok"


@get("/servez", media_type=MediaType.TEXT, sync_to_thread=False)
def servez(request: Request[Any, Any, Any]) -> Response[str]:
    """Ready once this replica has read the window from Redis at least once; it stays ready through a
    Redis outage after that (its copy, marked stale, answers polls and the reconnecting page)."""
    if room_of(request).watcher.view() is None:
        return Response("window not read yet", status_code=HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
    return Response("ok", status_code=HTTP_200_OK)


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
