"""The secret and settings tests run the app with (never a real secret)."""

from __future__ import annotations

from webapp.settings import Settings

TEST_SECRET = "test-secret-" + "x" * 40
"""A 52-byte HMAC secret: long enough for the settings' 32-byte minimum, obviously not for production."""

BASE_ENV = {"JWT_SECRET": TEST_SECRET, "WINDOW_SIZE": "1", "WINDOW_INTERVAL": "3600"}
"""One visitor per window and a window that does not slide during a test unless the test asks."""


def settings_for(redis_url: str, **env: str) -> Settings:
    """Settings on ``redis_url`` with :data:`BASE_ENV`, overridden by ``env``."""
    return Settings.from_env({"REDIS_URL": redis_url, **BASE_ENV, **env})
