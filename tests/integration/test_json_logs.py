"""``LOG_FORMAT=json``: the server's whole log, uvicorn's lines included, is one JSON object per line."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.support import app_process


def test_json_logs_are_one_object_per_line_with_request_ids(redis_url: str, tmp_path: Path) -> None:
    server = app_process(redis_url, tmp_path / "app.log", LOG_FORMAT="json")
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
