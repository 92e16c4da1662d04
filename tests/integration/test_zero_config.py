"""``python -m webapp`` with no configuration at all: an embedded Redis shared by several workers,
one generated secret for all of them, and nothing left behind when the process is killed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.launch import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


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


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def zero_config(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_ADDR", "JWT_SECRET")}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2", "JOIN_RATE_LIMIT": "0"})
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base) or process.poll() is not None)
        assert process.poll() is None, log.read_text()
        yield process, base, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # workers orphaned by a SIGKILLed parent
            os.killpg(process.pid, signal.SIGKILL)


def test_two_workers_share_the_embedded_redis_and_one_secret(
    zero_config: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    _, base, log = zero_config
    text = log.read_text()
    assert "for development only" in text
    assert "generated one for this run" in text
    joined = [call(base, "POST", "/join")[1] for _ in range(20)]
    assert sorted(int(str(j["position"])) for j in joined) == list(range(1, 21))
    for ticket in joined:  # each status may be answered by either worker: both verify the same secret
        status, body = call(base, "GET", "/status", str(ticket["token"]))
        assert status == 200
        assert body["position"] == ticket["position"]


def test_the_embedded_redis_dies_with_the_process_even_on_sigkill(
    zero_config: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, _, log = zero_config
    found = re.search(r"unix://(\S+/redis\.sock)", log.read_text())
    assert found, log.read_text()
    directory = str(Path(found.group(1)).parent)
    assert processes_mentioning(directory), "the embedded server is not running"
    workers = [p for p in processes_mentioning("multiprocessing") if os.getpgid(p) == process.pid]
    assert len(workers) >= 2
    process.kill()
    process.wait(timeout=5)
    wait_for(lambda: not processes_mentioning(directory), timeout=10)
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), timeout=10)  # workers too
