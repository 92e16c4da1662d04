"""/metrics with two uvicorn workers: the counters add up across workers, the queue gauges are not summed."""

from __future__ import annotations

import http.client
import re
from pathlib import Path

from tests.support import app_process

ADMIN = "metrics-admin-token-" + "w" * 32
JOINS = 40


def fetch(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a new connection, so the kernel may hand it to either worker."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, f"{sample} not in the scrape"
    return float(found.group(1))


def test_counters_add_up_across_two_workers(redis_url: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"a stale file of an earlier run")
    server = app_process(
        redis_url,
        tmp_path / "app.log",
        WEB_CONCURRENCY="2",
        ADMIN_TOKEN=ADMIN,
        WINDOW_INTERVAL="3600",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    server.start()
    try:
        for _ in range(JOINS):
            assert fetch(server.port, "POST", "/join")[0] == 201
        for _ in range(6):  # every scrape, whichever worker answers it, sees all the joins
            status, text = fetch(server.port, "GET", "/metrics", {"Authorization": f"Bearer {ADMIN}"})
            assert status == 200
            assert value(text, "session_queue_joins_total") == JOINS
            assert value(text, "session_queue_last_position") == JOINS  # read from Redis, once
            assert value(text, "session_queue_window_end") == 1
            assert text.count("\nsession_queue_window_end ") == 1
        assert fetch(server.port, "GET", "/metrics")[0] == 401
        # Both workers write their own files; the stale one was wiped at start.
        writers = {p.stem.rpartition("_")[2] for p in metrics_dir.glob("counter_*.db")}
        assert len(writers) == 2
        assert "1" not in writers
    finally:
        server.stop()
