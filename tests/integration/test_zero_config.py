"""``python -m webapp`` with no configuration at all: an embedded Redis shared by several workers,
one generated secret for all of them, and nothing left behind when the process is killed."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AppProcess, wait_until_sync


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def call(base: str, method: str, path: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(base + path, method=method, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.status, json.load(response)


@pytest.fixture
def zero_config(tmp_path: Path) -> Iterator[AppProcess]:
    """``python -m webapp`` with no REDIS_URL and no JWT_SECRET, two workers, in its own process group."""
    app = AppProcess({"WEB_CONCURRENCY": "2", "JOIN_RATE_LIMIT": "0"}, tmp_path / "app.log", new_session=True)
    app.start()
    try:
        yield app
    finally:
        app.stop()  # SIGTERM by pid, then SIGKILL to the group: no orphaned worker survives


def test_two_workers_share_the_embedded_redis_and_one_secret(
    zero_config: AppProcess,
) -> None:
    base = zero_config.base_url
    text = zero_config.log()
    assert "for development only" in text
    assert "generated one for this run" in text
    joined = [call(base, "POST", "/join")[1] for _ in range(20)]
    assert sorted(int(str(j["position"])) for j in joined) == list(range(1, 21))
    for ticket in joined:  # each status may be answered by either worker: both verify the same secret
        status, body = call(base, "GET", "/status", str(ticket["token"]))
        assert status == 200
        assert body["position"] == ticket["position"]


def test_the_embedded_redis_dies_with_the_process_even_on_sigkill(
    zero_config: AppProcess,
) -> None:
    process = zero_config.process
    assert process is not None
    found = re.search(r"unix://(\S+/redis\.sock)", zero_config.log())
    assert found, zero_config.log()
    directory = str(Path(found.group(1)).parent)
    assert processes_mentioning(directory), "the embedded server is not running"
    workers = [p for p in processes_mentioning("multiprocessing") if os.getpgid(p) == process.pid]
    assert len(workers) >= 2
    process.kill()
    process.wait(timeout=5)
    wait_until_sync(lambda: not processes_mentioning(directory), 10, what="the embedded server gone")
    wait_until_sync(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 10, what="the workers gone")
