"""Exception handlers: a Redis outage is a 503 with Retry-After, never a 500 and never an admission."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

log = logging.getLogger("webapp.errors")

RETRY_AFTER_SECONDS = 2


def unavailable(request: Request[object, object, State], exc: Exception) -> Response[dict[str, object]]:
    """The store is unreachable (or not read yet): tell the client when to come back."""
    log.warning("%s %s answered 503: %s", request.method, request.url.path, exc)
    return Response(
        {"status_code": 503, "detail": "the waiting room is reconnecting to its store; retry shortly"},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        media_type=MediaType.JSON,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
