"""Fixtures shared by tests/ and e2e/: a real Redis-compatible server started for the test session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from litestar import Litestar
from litestar.testing import TestClient

from webapp.app import create_app
from webapp.embedded import EmbeddedRedis, find_server_binary
from webapp.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A real server on a free loopback port, which tests may stop and start again (empty) on that port."""

    def __init__(self, binary: str, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="sq-test-redis-"))
        self.server: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.server.process if self.server is not None else None

    def start(self, timeout: float = 10.0) -> None:
        self.server = EmbeddedRedis.start(self.binary, timeout, port=self.port, directory=self.directory)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(keep_directory=True)
        self.server = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = find_server_binary()
    if binary is None:
        pytest.fail("no redis-server or valkey-server found: run the README's test command, which installs one")
    server = RedisServer(binary)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A flushed database on the session's server (restarted first if a test stopped it)."""
    if redis_server.process is None:
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def make_client(redis_url: str) -> Iterator[Callable[..., TestClient[Litestar]]]:
    """Start apps (lifespan included) on the flushed Redis with extra environment; closed after the test."""
    opened: list[TestClient[Litestar]] = []

    def make(**env: str) -> TestClient[Litestar]:
        base = {"REDIS_URL": redis_url, "JWT_SECRET": TEST_SECRET, "WINDOW_SIZE": "1", "WINDOW_INTERVAL": "3600"}
        client = TestClient(create_app(Settings.from_env({**base, **env})), base_url="http://room.test")
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
