"""Fixtures shared by tests/ and e2e/: a real Redis-compatible server started for the test session.

The helpers behind them live in ``tests.support``; these fixture names are what the suites ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support import RedisServer, settings_for
from webapp.app import create_app

BROWSER_SUITE = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last, whatever order the paths were given in.

    Playwright's synchronous API keeps an event loop running in the main thread for the rest of the
    session, after which no asyncio test can start its own ("Cannot run the event loop while another
    loop is running"); so ``pytest e2e tests/unit`` runs like ``pytest tests/unit e2e``.
    """
    items.sort(key=lambda item: item.path.is_relative_to(BROWSER_SUITE))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A server on a free loopback port for the whole session; tests may stop and start it again (empty)."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A flushed database on the session's server (restarted first if a test stopped it)."""
    if not redis_server.running:
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def make_client(redis_url: str) -> Iterator[Callable[..., TestClient[Litestar]]]:
    """Start apps (lifespan included) on the flushed Redis with extra environment; closed after the test."""
    opened: list[TestClient[Litestar]] = []

    def make(**env: str) -> TestClient[Litestar]:
        client = TestClient(create_app(settings_for(redis_url, **env)), base_url="http://room.test")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
