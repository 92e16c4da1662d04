"""Exception handlers: clear 4xx answers, and a Redis outage as a 503 with Retry-After, never a 500.

Browsers asking for HTML get a page that looks like the product; API clients get JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, TooManyRequestsException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from redis.exceptions import RedisError

from webapp import metrics
from webapp.queue.joinlimit import JoinLimited
from webapp.web.paths import route_path

log = logging.getLogger("webapp.errors")

RETRY_AFTER_SECONDS = 2
API_PATHS = (
    "/join", "/status", "/livez", "/readyz", "/servez", "/schema", "/admin/api", "/metrics", "/pass", "/auth",
    "/.well-known",
)  # fmt: skip

TITLES = {
    400: ("That request didn't make sense", "Something in the request was not understood. Going back usually helps."),
    403: ("That action was refused", "For your safety, forms only work from this site. Reload the page and try again."),
    404: ("Page not found", "There is nothing here. The waiting room is one click away."),
    405: ("Not allowed", "That page can't be used this way."),
    413: ("Too large", "The request was larger than this site accepts."),
    429: ("Slow down a little", "Too many attempts in a short time. Wait a moment, then try again."),
    431: ("Too large", "The request carried more data than this site accepts. Clearing this site's cookies helps."),
}

AnyRequest = Request[Any, Any, State]


def path_of(request: AnyRequest) -> str:
    """The request's path from the ASGI scope: ``request.url`` parses the Host header, and a malformed
    one ("x:{") raised inside the error handler itself, turning a 400 into a 500."""
    path: str = request.scope.get("path", "")
    return path


def wants_html(request: AnyRequest) -> bool:
    path = route_path(request.scope)
    if any(path == p or path.startswith(p + "/") for p in API_PATHS):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(request: AnyRequest, code: int, title: str, message: str, headers: dict[str, str]) -> Response[Any]:
    event_name = request.app.state.room.settings.event_name if hasattr(request.app.state, "room") else "Waiting room"
    refresh = RETRY_AFTER_SECONDS + 1 if code == HTTP_503_SERVICE_UNAVAILABLE else None
    context = {"status_code": code, "title": title, "message": message, "event_name": event_name}
    return Template("error.html", context={**context, "refresh_seconds": refresh}, status_code=code, headers=headers)


def unavailable(request: AnyRequest, exc: Exception) -> Response[Any]:
    """The store is unreachable (or not read yet): tell the client when to come back."""
    log.warning("%s %s answered 503: %s", request.method, path_of(request), exc)
    if isinstance(exc, RedisError):
        metrics.REDIS_ERRORS.inc()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_html(request):
        return _page(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "Reconnecting…",
            "The waiting room is reconnecting. Your place is safe; this page retries by itself.",
            headers,
        )
    return Response(
        {"status_code": 503, "detail": "the waiting room is reconnecting to its store; retry shortly"},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        media_type=MediaType.JSON,
        headers=headers,
    )


def join_limited(request: AnyRequest, exc: JoinLimited) -> Response[Any]:
    """The room refused a new place to this client for now: 429, and when to try again."""
    return http_error(request, TooManyRequestsException(detail=str(exc), headers={"Retry-After": str(exc.retry_after)}))


def http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    """Litestar's HTTP exceptions, as a page for browsers and as JSON for everyone else."""
    headers = dict(exc.headers or {})
    if wants_html(request):
        title, message = TITLES.get(exc.status_code, ("Something went wrong", str(exc.detail)))
        return _page(request, exc.status_code, title, message, headers)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=headers)


def internal_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    """A bug: logged with its traceback, answered without one."""
    log.exception("unhandled error on %s %s", request.method, path_of(request), exc_info=exc)
    if wants_html(request):
        return _page(
            request, HTTP_500_INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again in a moment.", {}
        )
    return Response(
        {"status_code": 500, "detail": "internal error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )
