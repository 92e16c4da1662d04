"""Start the real waiting room (``python -m webapp``) and a browser the way the e2e suite and scripts/screenshots do."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from webapp.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TEST_SECRET = "e2e-secret-not-for-production-0123456789abcdef"

# A fast, small window: one visitor per slide, each active for two slides.
DEFAULT_ENV = {
    "WINDOW_SIZE": "1",
    "WINDOW_INTERVAL": "1",
    "ACTIVE_WINDOW_COUNT": "2",
    "SESSION_DURATION": "60",
    "JOIN_RATE_LIMIT": "0",
    "EVENT_NAME": "The Big Sale",
}


def launch_args() -> dict[str, Any]:
    """Debian's chromium where it exists (these machines), else Playwright's own browser (a laptop)."""
    if CHROMIUM.exists():
        return {"executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS)}
    return {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AppServer:
    """One ``python -m webapp`` process on a free loopback port, logging to a file."""

    def __init__(self, redis_url: str, log_path: Path, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **DEFAULT_ENV,
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "REDIS_URL": redis_url,
            "JWT_SECRET": TEST_SECRET,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> AppServer:
        environ = {**os.environ, **self.env}
        environ.pop("REDIS_ADDR", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webapp"],
                cwd=ROOT,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=1) as response:  # noqa: S310 - our own loopback URL
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the app was not ready within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, path: str) -> str:
        return self.base_url + path

    def _call(self, method: str, path: str, token: str | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url(path), method=method, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own loopback URL
            body: dict[str, Any] = json.load(response)
            return body

    def join(self) -> dict[str, Any]:
        """``POST /join`` through the JSON API: someone else takes a place in the queue."""
        return self._call("POST", "/join")

    def join_many(self, count: int) -> list[dict[str, Any]]:
        return [self.join() for _ in range(count)]

    def status(self, token: str) -> dict[str, Any]:
        """``GET /status`` for a ticket, as an API client would ask."""
        return self._call("GET", "/status", token)

    def wait_for_status(self, token: str, wanted: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the JSON API until the ticket's status is ``wanted`` (a condition wait, not a sleep)."""
        deadline = time.monotonic() + timeout
        body = self.status(token)
        while body["status"] != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"ticket still {body['status']!r} after {timeout} s, wanted {wanted!r}: {body}")
            time.sleep(0.05)
            body = self.status(token)
        return body

    def wait_for_window(self, token: str, window_end: int, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the JSON API until the app's copy of the window has reached ``window_end``."""
        deadline = time.monotonic() + timeout
        body = self.status(token)
        while body["window_end"] < window_end:
            if time.monotonic() > deadline:
                raise AssertionError(f"window_end still {body['window_end']} after {timeout} s, wanted {window_end}")
            time.sleep(0.05)
            body = self.status(token)
        return body


class ScratchRedis:
    """A throwaway server for scripts (the test suite uses conftest's ``redis_server``)."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedRedis.start(port=free_port(), directory=directory)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop(keep_directory=True)
