"""Real Redis HA topologies on free loopback ports: Sentinel (master, replica, three sentinels) and Cluster.

Every process runs in its own temporary directory, logs to a file there, and is killed by pid at
teardown. Readiness is polled for (PING, sentinel views, CLUSTER INFO), never slept for.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

SERVICE = "sq-master"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 3000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found on PATH: the HA tests need the real Redis server tools")
    return found


def poll(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> float:
    """Wait until ``condition()`` holds; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except redis.RedisError:
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(every)


@dataclass
class Node:
    """One ``redis-server`` process (data node or sentinel) in its own directory."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def ping(self) -> bool:
        with self.client(0.3) as client:
            return bool(client.ping())

    def start(self, args: list[str]) -> None:
        log = self.directory / "server.log"
        self.process = subprocess.Popen(
            [binary("redis-server"), *args, "--logfile", str(log)],
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        poll(self.ping_or_fail, 10, f"redis-server on port {self.port}")

    def ping_or_fail(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"redis-server on port {self.port} exited with {self.process.returncode}:\n{log}")
        return self.ping()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to replicas or sentinels."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Topology:
    root: Path
    nodes: list[Node] = field(default_factory=list)

    def node(self, name: str) -> Node:
        directory = self.root / name
        directory.mkdir()
        node = Node(free_port(), directory)
        self.nodes.append(node)
        return node

    def teardown(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _data_args(node: Node) -> list[str]:
    return ["--port", str(node.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(node.directory)]  # fmt: skip


@dataclass
class SentinelSetup:
    master: Node
    replica: Node
    sentinels: list[Node]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def master_port_seen_by(self, sentinel: Node) -> int:
        with sentinel.client() as client:
            _host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(port)

    def fully_meshed(self) -> bool:
        """Every sentinel knows the replica and both other sentinels: a failover can be voted."""
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                state = client.sentinel_master(SERVICE)
            if int(state["num-other-sentinels"]) != len(self.sentinels) - 1 or int(state["num-slaves"]) != 1:
                return False
        return True


@pytest.fixture
def sentinel_setup() -> Iterator[SentinelSetup]:
    """A fresh master + replica watched by three sentinels (quorum 2); a test may kill the master."""
    topology = Topology(Path(tempfile.mkdtemp(prefix="sq-test-sentinel-")))
    try:
        master, replica = topology.node("master"), topology.node("replica")
        master.start(_data_args(master))
        replica.start([*_data_args(replica), "--replicaof", "127.0.0.1", str(master.port)])
        sentinels = []
        for index in range(3):
            sentinel = topology.node(f"sentinel{index}")
            conf = sentinel.directory / "sentinel.conf"
            conf.write_text(
                f"port {sentinel.port}\n"
                "bind 127.0.0.1\n"
                f"dir {sentinel.directory}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            sentinel.start([str(conf), "--sentinel"])
            sentinels.append(sentinel)
        setup = SentinelSetup(master, replica, sentinels)
        with replica.client() as client:
            poll(lambda: client.info("replication")["master_link_status"] == "up", 10, "replica link up")
        poll(setup.fully_meshed, 15, "sentinels discovering each other and the replica")
        yield setup
    finally:
        topology.teardown()


@dataclass
class ClusterSetup:
    nodes: list[Node]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def all_ok(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
        return True


@pytest.fixture(scope="module")
def cluster_setup() -> Iterator[ClusterSetup]:
    """Three primaries sharing the 16384 slots (no replicas), ready when every node says cluster_state:ok."""
    topology = Topology(Path(tempfile.mkdtemp(prefix="sq-test-cluster-")))
    try:
        nodes = [topology.node(f"node{index}") for index in range(3)]
        for node in nodes:
            # The cluster bus gets its own free port instead of the default port + 10000.
            node.start(
                [*_data_args(node), "--cluster-enabled", "yes", "--cluster-config-file", str(node.directory / "nodes.conf"),
                 "--cluster-port", str(free_port()), "--cluster-node-timeout", "2000"]
            )  # fmt: skip
        created = subprocess.run(
            [binary("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        setup = ClusterSetup(nodes)
        poll(setup.all_ok, 15, "cluster_state:ok on every node")
        yield setup
    finally:
        topology.teardown()
