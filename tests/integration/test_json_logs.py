"""``LOG_FORMAT=json``: the server's whole log, uvicorn's lines included, is one JSON object per line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import app_process


def test_json_logs_are_one_object_per_line_with_request_ids(redis_url: str, tmp_path: Path) -> None:
    server = app_process(redis_url, tmp_path / "app.log", LOG_FORMAT="json", ACCESS_LOG="all")
    server.start()
    try:
        request = urllib.request.Request(server.url("/livez"), headers={"X-Request-ID": "trace-7"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own loopback URL
            assert response.headers["X-Request-ID"] == "trace-7"
        server.join()
    finally:
        server.stop()
    entries = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert len(entries) > 3
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access" and "/livez" in e["message"]]
    assert [e.get("request_id") for e in access] == ["trace-7"]


def test_by_default_polls_and_probes_write_no_access_line_and_joins_do(redis_url: str, tmp_path: Path) -> None:
    server = app_process(redis_url, tmp_path / "app.log", LOG_FORMAT="json")
    server.start()
    try:
        for path in ("/livez", "/readyz"):
            with urllib.request.urlopen(server.url(path), timeout=5) as response:  # noqa: S310 - our own loopback URL
                assert response.status == 200
        server.join()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url("/status"), timeout=5)  # noqa: S310 - no token: refused
        refused.value.close()
        assert refused.value.code == 401
    finally:
        server.stop()
    access = [e["message"] for e in map(json.loads, server.log().splitlines()) if e["logger"] == "uvicorn.access"]
    assert not [line for line in access if "/livez" in line or "/readyz" in line]
    assert [line for line in access if "POST /join" in line]
    assert [line for line in access if "GET /status" in line]  # a refused poll is still logged
