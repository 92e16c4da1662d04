"""Real Redis server processes on free loopback ports: one plain server class, and the HA topologies built of it.

Every process runs in its own directory, logs to a file there, dies with the test session (even a
SIGKILLed one), and is stopped by its pid with a bounded wait. Readiness is polled for, never slept for.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.waiting import wait_until_sync
from webapp.embedded import _die_with_parent, find_server_binary


def require_binary(name: str | None = None) -> str:
    """``name`` from PATH (or, without a name, any Redis-compatible server); fail with a hint when missing."""
    found = shutil.which(name) if name else find_server_binary()
    if found is None:
        raise AssertionError(
            f"{name or 'redis-server (or valkey-server)'} not found: run `scripts/setup --test`, which installs it"
        )
    return found


class RedisServer:
    """One server process on a free (or given) 127.0.0.1 port, in its own directory, without persistence.

    A test may ``stop()`` it (SIGTERM) or ``kill()`` it (SIGKILL, no goodbye to replicas or sentinels) and
    ``start()`` it again, empty, on the same port. With ``sentinel_conf`` it runs as a Sentinel instead.
    """

    def __init__(
        self,
        port: int | None = None,
        directory: Path | None = None,
        binary: str | None = None,
        args: Sequence[str] = (),
        sentinel_conf: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="sq-test-redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.binary = binary or require_binary("redis-server" if sentinel_conf else None)
        self.args = list(args)
        self.sentinel_conf = sentinel_conf
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def command(self) -> list[str]:
        listen = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        logging = ["--logfile", str(self.log_path)]
        if self.sentinel_conf is not None:
            return [self.binary, str(self.sentinel_conf), "--sentinel", *listen, *logging, *self.args]
        storage = ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        return [self.binary, *listen, *storage, *logging, *self.args]

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the process and wait until it answers PING; fail with its log if it exits or stays silent."""
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # a killed test session leaves no server behind
        )
        try:
            wait_until_sync(self._answers, timeout, what=f"{Path(self.binary).name} answering on port {self.port}")
        except AssertionError as missing:
            self.kill()
            raise AssertionError(f"{missing}\n{self.log()}") from None
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.binary} on port {self.port} exited with {self.process.returncode}:\n{self.log()}"
            )
        return self.ping()

    def ping(self) -> bool:
        """A raw ``PING`` over TCP (no client library), true on ``+PONG``."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A synchronous client; use it in a ``with`` block."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by pid, SIGKILL if it lingers past ``timeout``; the directory (and its log) stay."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to replicas or sentinels."""
        self._end(signal.SIGKILL, 5.0)

    def _end(self, how: signal.Signals, timeout: float) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """The last lines of the server's log file."""
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Topology:
    """Servers started under one temporary directory, all killed and removed together."""

    def __init__(self, prefix: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.servers: list[RedisServer] = []

    def server(self, name: str, args: Sequence[str] = (), sentinel_conf: Path | None = None) -> RedisServer:
        server = RedisServer(
            directory=self.root / name, binary=require_binary("redis-server"), args=args, sentinel_conf=sentinel_conf
        )
        self.servers.append(server)
        return server

    def teardown(self) -> None:
        for server in self.servers:
            server.kill()
        shutil.rmtree(self.root, ignore_errors=True)


SENTINEL_SERVICE = "sq-master"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 3000


@dataclass
class SentinelSetup:
    """A master and a replica watched by three sentinels (quorum 2)."""

    master: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SENTINEL_SERVICE}"

    def master_port_seen_by(self, sentinel: RedisServer) -> int:
        with sentinel.client(1.0) as client:
            _host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE)
            return int(port)

    def fully_meshed(self) -> bool:
        """Every sentinel knows the replica and both other sentinels: a failover can be voted."""
        for sentinel in self.sentinels:
            with sentinel.client(1.0) as client:
                state = client.sentinel_master(SENTINEL_SERVICE)
            if int(state["num-other-sentinels"]) != len(self.sentinels) - 1 or int(state["num-slaves"]) != 1:
                return False
        return True


@contextlib.contextmanager
def sentinel_setup() -> Iterator[SentinelSetup]:
    """Start a fresh :class:`SentinelSetup`, ready when the replica is linked and the sentinels fully meshed."""
    topology = Topology("sq-test-sentinel-")
    try:
        master = topology.server("master").start()
        replica = topology.server("replica", ["--replicaof", "127.0.0.1", str(master.port)]).start()
        sentinels = []
        for index in range(3):
            directory = topology.root / f"sentinel{index}"
            directory.mkdir()
            conf = directory / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
            conf.write_text(
                f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SENTINEL_SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SENTINEL_SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SENTINEL_SERVICE} 1\n"
            )
            sentinels.append(topology.server(f"sentinel{index}", sentinel_conf=conf).start())
        setup = SentinelSetup(master, replica, sentinels)

        def replica_linked() -> bool:
            with replica.client(1.0) as client:
                return bool(client.info("replication")["master_link_status"] == "up")

        wait_until_sync(replica_linked, 10, what="replica link up", ignore=(redis.RedisError,))
        wait_until_sync(setup.fully_meshed, 15, what="sentinels discovering each other and the replica", ignore=(redis.RedisError,))  # fmt: skip
        yield setup
    finally:
        topology.teardown()


@dataclass
class ClusterSetup:
    """Three primaries sharing the 16384 slots, no replicas."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def all_ok(self) -> bool:
        for node in self.nodes:
            with node.client(1.0) as client:
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
        return True

    def flushall(self) -> None:
        for node in self.nodes:
            with node.client() as client:
                client.flushall()


@contextlib.contextmanager
def cluster_setup() -> Iterator[ClusterSetup]:
    """Start a fresh :class:`ClusterSetup`, ready when every node says ``cluster_state:ok``."""
    topology = Topology("sq-test-cluster-")
    try:
        nodes = []
        for index in range(3):
            directory = topology.root / f"node{index}"
            # The cluster bus gets its own free port instead of the default port + 10000.
            args = ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                    "--cluster-port", str(free_port()), "--cluster-node-timeout", "2000"]  # fmt: skip
            nodes.append(topology.server(f"node{index}", args).start())
        created = subprocess.run(
            [
                require_binary("redis-cli"),
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        setup = ClusterSetup(nodes)
        wait_until_sync(setup.all_ok, 15, what="cluster_state:ok on every node", ignore=(redis.RedisError,))
        yield setup
    finally:
        topology.teardown()
