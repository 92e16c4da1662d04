"""The processes a benchmark starts for itself: a throwaway Redis server and the app under uvicorn.

Both are the test suite's launchers (:mod:`tests.support`), so there is one way to start, wait for and
stop each: 127.0.0.1 on free ports, logs in files (not pipes), stopped by process id. Only the choices
that belong to a benchmark live here: uvicorn with N workers and the hello route, a fresh random secret.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tests.support import AppProcess, RedisServer, free_port


def run_directory(prefix: str = "sq-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def bench_redis(directory: Path) -> RedisServer:
    """A server without persistence on a free loopback port, in ``directory/redis``; call ``start()``."""
    return RedisServer(directory=directory / "redis")


def bench_app(
    directory: Path, redis_url: str, workers: int, env: Mapping[str, str], server: str = "uvicorn"
) -> AppProcess:
    """The app (with the hello route) under uvicorn or granian, ``workers`` processes in their own process group.

    Call ``start()``; ``stop()`` sends SIGTERM by pid, then kills the group (orphaned workers included).
    Neither server writes access lines: the app does (``ACCESS_LOG``), as under ``python -m webapp``.
    """
    port = free_port()
    if server == "granian":
        command = [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log", "bench.hello_app:create_app",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "uvicorn", "bench.hello_app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    app_env = {"REDIS_URL": redis_url, "JWT_SECRET": secrets.token_urlsafe(48), "WEB_CONCURRENCY": str(workers)}
    return AppProcess(
        {**app_env, **env},
        directory / f"app-{workers}w-{port}.log",
        command=command,
        port=port,
        new_session=True,
    )
