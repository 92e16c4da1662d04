"""The processes a benchmark starts for itself: a throwaway redis-server and the app under uvicorn.

Both bind 127.0.0.1 on free ports, log to files (not pipes), and are stopped by their process id.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import redis

from webapp.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_directory(prefix: str = "sq-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM by pid, then SIGKILL to the process group it leads (its own workers) if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


class RedisServer:
    """A server without persistence on a free loopback port (the app's own ``EmbeddedRedis`` starts it)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory / "redis"
        self.server: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.server = EmbeddedRedis.start(timeout=timeout, port=self.port, directory=self.directory)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(keep_directory=True)


class AppServer:
    """The app (with the hello route) under uvicorn, ``workers`` processes, on a free loopback port."""

    def __init__(self, directory: Path, redis_url: str, workers: int, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = directory / f"app-{workers}w-{self.port}.log"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        args = [
            sys.executable, "-m", "uvicorn", "bench.hello_app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode}; see {self.log_path}")
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the app did not become ready on port {self.port}; see {self.log_path}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/readyz", timeout=1) as reply:  # noqa: S310 - our own URL
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        _stop(self.process)
