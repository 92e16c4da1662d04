"""The one launcher of a real app server process (``python -m webapp``, or another command such as uvicorn).

It binds 127.0.0.1 on a free port, logs to a file (not a pipe), is ready when ``/readyz`` answers 200,
and is stopped by its pid (or its own process group) with a bounded wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.config import TEST_SECRET
from tests.support.ports import free_port
from tests.support.waiting import wait_until_sync

ROOT = Path(__file__).resolve().parents[2]

PYTHON_M_WEBAPP = (sys.executable, "-m", "webapp")

NOT_INHERITED = ("REDIS_URL", "REDIS_ADDR", "JWT_SECRET", "WEB_CONCURRENCY", "THEME_DIR", "HOST", "PORT")
"""The app's settings that must come from the test, never from the shell that runs the tests."""

FAST_WINDOW_ENV = {
    "WINDOW_SIZE": "1",
    "WINDOW_INTERVAL": "1",
    "ACTIVE_WINDOW_COUNT": "2",
    "SESSION_DURATION": "60",
    "JOIN_RATE_LIMIT": "0",
    "EVENT_NAME": "The Big Sale",
}
"""A fast, small window: one visitor per slide, each active for two slides, no join limit."""


def inherited_environ() -> dict[str, str]:
    """This process' environment without the app settings a test must choose itself."""
    return {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}


class AppProcess:
    """One server process on a free loopback port, logging to ``log_path``.

    ``env`` is laid over ``base_environ`` (by default :func:`inherited_environ`); ``HOST`` and ``PORT``
    are always set. With ``new_session`` the process leads its own process group, and a stop that has
    to force also kills what it started (uvicorn workers).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        command: Sequence[str] = PYTHON_M_WEBAPP,
        cwd: Path = ROOT,
        base_environ: Mapping[str, str] | None = None,
        port: int | None = None,
        new_session: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = list(command)
        self.cwd = cwd
        base = inherited_environ() if base_environ is None else dict(base_environ)
        self.env = {**base, "PYTHONUNBUFFERED": "1", **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def start(self, timeout: float = 30.0) -> AppProcess:
        """Start it and wait for ``/readyz`` to answer 200; fail with the log if it exits or is not ready."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        try:
            wait_until_sync(self._ready_or_exited, timeout, what=f"/readyz answering 200 on port {self.port}")
        except AssertionError as late:
            self.stop()
            raise AssertionError(f"{late}:\n{self.log()[-3000:]}") from None
        if self.process.poll() is not None:
            code = self.process.returncode
            self.stop()
            raise AssertionError(f"the app exited with {code}:\n{self.log()[-3000:]}")
        return self

    def _ready_or_exited(self) -> bool:
        assert self.process is not None
        return self.process.poll() is not None or self.ready()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/readyz"), timeout=1) as response:  # noqa: S310 - our own loopback URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM by pid; SIGKILL (to its group with ``new_session``) past ``timeout``. Returns the exit code."""
        process = self.process
        if process is None:
            return self.returncode
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.new_session:  # workers orphaned by a parent that was killed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self.returncode = process.returncode
        self.process = None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL by pid (its whole group with ``new_session``), waited for."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.new_session:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, path: str) -> str:
        return self.base_url + path

    # The JSON API, as another visitor or an API client would use it.

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
        """Poll the JSON API until the ticket's status is ``wanted``."""
        seen: list[dict[str, Any]] = [self.status(token)]

        def reached() -> bool:
            seen.append(self.status(token))
            return bool(seen[-1]["status"] == wanted)

        if seen[0]["status"] != wanted:
            try:
                wait_until_sync(reached, timeout, what=f"status {wanted!r}")
            except AssertionError as late:
                raise AssertionError(f"{late}; last answer {seen[-1]}") from None
        return seen[-1]

    def wait_for_window(self, token: str, window_end: int, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the JSON API until the app's copy of the window has reached ``window_end``."""
        seen: list[dict[str, Any]] = [self.status(token)]

        def reached() -> bool:
            seen.append(self.status(token))
            return int(seen[-1]["window_end"]) >= window_end

        if int(seen[0]["window_end"]) < window_end:
            try:
                wait_until_sync(reached, timeout, what=f"window_end {window_end}")
            except AssertionError as late:
                raise AssertionError(f"{late}; last answer {seen[-1]}") from None
        return seen[-1]


def app_process(redis_url: str, log_path: Path, **env: str) -> AppProcess:
    """``python -m webapp`` on ``redis_url`` with :data:`TEST_SECRET` and :data:`FAST_WINDOW_ENV`, then ``env``."""
    return AppProcess({**FAST_WINDOW_ENV, "REDIS_URL": redis_url, "JWT_SECRET": TEST_SECRET, **env}, log_path)
