"""LOG_FORMAT=json: one JSON object per line, with the request id of the request being served."""

from __future__ import annotations

import json
import logging

import pytest

from webapp.logs import JsonFormatter, RequestIdFilter, request_id
from webapp.settings import Settings, SettingsError


def record(message: str, *args: object) -> logging.LogRecord:
    entry = logging.LogRecord("webapp.test", logging.WARNING, __file__, 1, message, args, None)
    RequestIdFilter().filter(entry)
    return entry


def test_a_json_line_carries_the_request_id() -> None:
    token = request_id.set("abc123")
    try:
        line = JsonFormatter().format(record("joined %d", 3))
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "joined 3"
    assert entry["level"] == "warning"
    assert entry["logger"] == "webapp.test"
    assert entry["request_id"] == "abc123"
    assert "\n" not in line


def test_outside_a_request_there_is_no_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(record("tick")))


def test_log_format_is_validated() -> None:
    base = {"REDIS_URL": "redis://x:1", "JWT_SECRET": "s" * 40}
    assert Settings.from_env({**base, "LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env({**base, "LOG_FORMAT": "xml"})


def test_admin_and_metrics_tokens_are_validated_like_the_secret() -> None:
    base = {"REDIS_URL": "redis://x:1", "JWT_SECRET": "s" * 40}
    for variable in ("ADMIN_TOKEN", "METRICS_TOKEN"):
        with pytest.raises(SettingsError, match=f"{variable}: must be at least 32 bytes"):
            Settings.from_env({**base, variable: "short"})
    settings = Settings.from_env({**base, "ADMIN_TOKEN": "a" * 32})
    assert settings.admin_token == b"a" * 32
    assert "a" * 32 not in repr(settings)
