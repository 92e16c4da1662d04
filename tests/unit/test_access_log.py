"""ACCESS_LOG: successful polls and probes write no access line by default; errors and slow requests do."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.config import BASE_ENV
from tests.support.web import ClientFactory
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


def test_the_log_config_filters_the_apps_access_lines_and_hears_no_servers() -> None:
    config = log_config("text", access_log="off", root_path="/queue")
    assert config["loggers"]["webapp.access"]["filters"] == ["access"]
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # so the app's AccessLog writes the lines
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
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


@contextlib.contextmanager
def uvicorn_without_access_log() -> Iterator[None]:
    """uvicorn.access as uvicorn leaves it with ``access_log=False`` (as ``python -m webapp`` runs it).

    Entered in the test body: pytest hangs its capture handlers on loggers when the test's call begins.
    """
    logger = logging.getLogger("uvicorn.access")
    kept = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [], False
    try:
        yield
    finally:
        logger.handlers, logger.propagate = kept


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "uvicorn.access"]


def test_the_app_writes_uvicorns_access_line_for_what_quiet_keeps(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with uvicorn_without_access_log(), caplog.at_level(logging.INFO, logger="webapp.access"):
        token = client.post("/join?from=test").json()["token"]
        for _ in range(3):
            assert client.get("/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/livez").status_code == 200
        assert client.get("/status").status_code == 401
    lines = [r.getMessage() for r in _access_records(caplog)]
    assert lines == [
        'testclient:50000 - "POST /join?from=test HTTP/1.1" 201',
        'testclient:50000 - "GET /status HTTP/1.1" 401',
    ]


def test_access_log_all_writes_every_line_and_off_only_server_errors(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    every, off = make_client(ACCESS_LOG="all"), make_client(ACCESS_LOG="off")
    with uvicorn_without_access_log(), caplog.at_level(logging.INFO, logger="webapp.access"):
        for client in (every, off):
            client.get("/livez")
            client.get("/status")
    assert [r.args[2:] for r in _access_records(caplog)] == [("/livez", "1.1", 200), ("/status", "1.1", 401)]  # type: ignore[index]


def test_where_uvicorn_writes_access_lines_the_app_writes_none(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(ACCESS_LOG="all")  # uvicorn.access has handlers (here: the test's own)
    with caplog.at_level(logging.INFO, logger="webapp.access"):
        client.post("/join")
    assert _access_records(caplog) == []
