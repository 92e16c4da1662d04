"""ACCESS_LOG: successful polls and probes write no access line by default; errors and slow requests do."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.config import BASE_ENV
from webapp.logs import AccessFilter, log_config
from webapp.metrics import LatencyMiddleware
from webapp.settings import Settings, SettingsError


def access_line(path: str, status: int) -> logging.LogRecord:
    """A record shaped as uvicorn's access logger writes it."""
    args = ("127.0.0.1:5000", "GET", path, "1.1", status)
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)


@pytest.mark.parametrize("path", ["/status", "/room/status", "/livez", "/readyz", "/servez", "/auth", "/metrics"])
def test_quiet_drops_successful_polls_and_probes(path: str) -> None:
    quiet = AccessFilter("quiet")
    assert not quiet.filter(access_line(path, 200))
    assert not quiet.filter(access_line(path + "?x=1", 304))
    assert quiet.filter(access_line(path, 401))  # a refused poll is worth a line
    assert quiet.filter(access_line(path, 503))


@pytest.mark.parametrize("path", ["/", "/join", "/room/join", "/checkout", "/admin", "/status/x", "/xstatus"])
def test_quiet_keeps_every_other_request(path: str) -> None:
    assert AccessFilter("quiet").filter(access_line(path, 200))


def test_quiet_knows_the_routes_under_root_path() -> None:
    quiet = AccessFilter("quiet", "/queue")
    assert not quiet.filter(access_line("/queue/room/status", 200))
    assert not quiet.filter(access_line("/livez", 200))  # probes also answer at the root
    assert quiet.filter(access_line("/queue/", 200))


def test_all_keeps_everything_and_off_keeps_only_server_errors() -> None:
    assert AccessFilter("all").filter(access_line("/status", 200))
    off = AccessFilter("off")
    assert not off.filter(access_line("/", 200))
    assert not off.filter(access_line("/join", 429))
    assert off.filter(access_line("/join", 500))


def test_the_log_config_puts_the_filter_on_uvicorns_access_logger() -> None:
    config = log_config("text", access_log="off", root_path="/queue")
    assert config["loggers"]["uvicorn.access"]["filters"] == ["access"]
    spec = dict(config["filters"]["access"])
    factory = spec.pop("()")
    assert factory == "webapp.logs.AccessFilter"
    built = AccessFilter(**spec)  # what dictConfig builds from it
    assert built.mode == "off"
    assert "/queue/status" in built.quiet


def test_access_log_is_validated() -> None:
    base = {**BASE_ENV, "REDIS_URL": "redis://x:1"}
    assert Settings.from_env(base).access_log == "quiet"
    assert Settings.from_env({**base, "ACCESS_LOG": " ALL "}).access_log == "all"
    with pytest.raises(SettingsError, match="ACCESS_LOG"):
        Settings.from_env({**base, "ACCESS_LOG": "verbose"})


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _run(middleware: LatencyMiddleware) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": "/status", "path_template": "/status"}
    await middleware(scope, receive, send)  # type: ignore[arg-type]


async def test_a_slow_request_is_logged_whatever_the_access_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webapp.slow"):
        await _run(LatencyMiddleware(_answer, slow_after=0.0))  # every request counts as slow
        await _run(LatencyMiddleware(_answer, slow_after=3600.0))  # none does
    lines = [r.getMessage() for r in caplog.records if r.name == "webapp.slow"]
    assert len(lines) == 1
    assert lines[0].startswith("slow request: GET /status took ")
