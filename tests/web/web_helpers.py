"""Helpers shared by the tests of the HTTP surface."""

from __future__ import annotations

import re
from collections.abc import Callable

from litestar import Litestar
from litestar.testing import TestClient

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
