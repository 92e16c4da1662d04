"""Logging: plain lines for people, or ``LOG_FORMAT=json`` for log shippers (one object per line).

Every HTTP request gets a request id (the caller's ``X-Request-ID`` when it is a short plain token,
else a new one), echoed in the response header and added to every log line written while serving it,
uvicorn's access line included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures.headers import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or None) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


QUIET_ROUTES = frozenset({"/status", "/room/status", "/auth", "/livez", "/readyz", "/servez", "/metrics"})
"""The routes polled by every waiting visitor, proxy or probe: a line each would be most of the log."""


class AccessFilter(logging.Filter):
    """Decides which of uvicorn's access lines are written (``ACCESS_LOG``).

    ``quiet`` drops the line of a successful poll or probe (each waiting visitor polls every few seconds,
    and the line cost about a third of a poll's CPU) but keeps every other request and every 4xx/5xx;
    ``all`` keeps everything; ``off`` keeps only 5xx. Slow requests are logged apart, by the latency
    middleware, whatever the mode.
    """

    def __init__(self, mode: str = "quiet", root_path: str = "") -> None:
        super().__init__()
        self.mode = mode
        self.quiet = quiet_paths(root_path)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client address, method, path with query, HTTP version, status code)
        if not isinstance(args, tuple) or len(args) != 5 or not isinstance(args[4], int):
            return True
        return access_line_wanted(self.mode, self.quiet, str(args[2]).split("?", 1)[0], args[4])


def quiet_paths(root_path: str = "") -> frozenset[str]:
    """The quiet routes as requested: at the root, and under ``ROOT_PATH`` when the room has one."""
    return QUIET_ROUTES | {root_path + route for route in QUIET_ROUTES} if root_path else QUIET_ROUTES


def access_line_wanted(mode: str, quiet: frozenset[str], path: str, status: int) -> bool:
    """Whether ``ACCESS_LOG`` (``mode``) wants the access line of a request for ``path`` answered ``status``."""
    if mode == "all":
        return True
    if mode == "off":
        return status >= 500
    return status >= 400 or path not in quiet


ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'
"""uvicorn's access line: client address, method, path with query, HTTP version, status code."""

access_log = logging.getLogger("webapp.access")


class AccessLog:
    """Writes uvicorn's access line from inside the app, and only the lines ``ACCESS_LOG`` wants.

    uvicorn builds a log record for every response before any filter can drop it (its path, client
    address, caller lookup and record cost about a quarter of a poll's CPU), so ``python -m webapp``
    runs uvicorn without its access log and this layer writes the same line under the same logger
    name (``uvicorn.access``) — decided first, built only when wanted. Where a server still writes
    its own access lines (plain ``uvicorn`` with its access log on) this layer stays silent.
    """

    def __init__(self, app: ASGIApp, mode: str = "quiet", root_path: str = "") -> None:
        self.app = app
        self.mode = mode
        self.quiet = quiet_paths(root_path)
        self.enabled: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled is None:  # the first request comes after the server configured its logging
            self.enabled = not logging.getLogger("uvicorn.access").hasHandlers()
        if scope["type"] != ScopeType.HTTP or not self.enabled:
            await self.app(scope, receive, send)
            return
        # As requested, before any layer rewrites it (some clients' raw_path carries the query too).
        raw_path: bytes = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
        query: bytes = scope.get("query_string", b"")

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                path = raw_path.decode("latin-1")
                if access_line_wanted(self.mode, self.quiet, path, status) and access_log.isEnabledFor(logging.INFO):
                    client = scope.get("client")
                    address = f"{client[0]}:{client[1]}" if client else ""
                    line = f"{path}?{query.decode('ascii')}" if query else path
                    args = (address, scope["method"], line.replace('"', "%22"), scope["http_version"], status)
                    record = access_log.makeRecord("uvicorn.access", logging.INFO, "", 0, ACCESS_FORMAT, args, None)
                    access_log.handle(record)
            await send(message)

        await self.app(scope, receive, send_logged)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_config(log_format: str, level: str = "INFO", access_log: str = "quiet", root_path: str = "") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for our loggers and uvicorn's (passed to ``uvicorn.run(log_config=...)``)."""
    formatter: dict[str, Any] = {"()": "webapp.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "webapp.logs.RequestIdFilter"},
            "access": {"()": "webapp.logs.AccessFilter", "mode": access_log, "root_path": root_path},
        },
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # The app writes the access lines (AccessLog): a server that writes its own is not heard.
            "uvicorn.access": {"handlers": [], "level": level, "propagate": False},
            "webapp.access": {"handlers": ["main"], "level": level, "propagate": False, "filters": ["access"]},
        },
    }


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is a short plain token, else a new one."""
    given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
    return given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


class RequestIdMiddleware:
    """Assigns the request id, and returns it as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
