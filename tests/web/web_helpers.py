"""Helpers shared by the tests of the HTTP surface."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from webapp.app import create_app
from webapp.settings import Settings

SECRET = "test-secret-" + "x" * 40

Client = TestClient[Litestar]
ClientFactory = Callable[..., Client]


def settings_for(redis_url: str, **env: str) -> Settings:
    base = {"REDIS_URL": redis_url, "JWT_SECRET": SECRET, "WINDOW_SIZE": "1", "WINDOW_INTERVAL": "3600"}
    return Settings.from_env({**base, **env})


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def make_client(redis_url: str) -> Iterator[ClientFactory]:
    """Start an app (lifespan included) with extra environment; all are closed after the test."""
    opened: list[Client] = []

    def make(**env: str) -> Client:
        client = TestClient(create_app(settings_for(redis_url, **env)), base_url="http://room.test")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
