"""What the harness reads from Redis and from the load generator, as plain numbers."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.client import HttpConnection, HttpError

WRK_DIR = Path(__file__).resolve().parent / "wrk"
SCRIPT_COMMANDS = ("cmdstat_eval", "cmdstat_evalsha", "cmdstat_eval_ro", "cmdstat_evalsha_ro", "cmdstat_fcall")
OWN_COMMANDS = ("cmdstat_info",)  # the harness's own reads


@dataclass(frozen=True)
class CommandCount:
    """Commands Redis executed so far (including those run inside Lua scripts), and script calls."""

    commands: int
    scripts: int

    def __sub__(self, other: CommandCount) -> CommandCount:
        return CommandCount(self.commands - other.commands, self.scripts - other.scripts)


def command_count(client: redis.Redis) -> CommandCount:
    stats = client.info("commandstats")
    calls = {name: int(value["calls"]) for name, value in stats.items()}
    commands = sum(n for name, n in calls.items() if name not in OWN_COMMANDS)
    scripts = sum(calls.get(name, 0) for name in SCRIPT_COMMANDS)
    return CommandCount(commands, scripts)


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int
    socket_errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Runs:
    """Load runs of one route (on one server), summed over the rounds."""

    runs: list[LoadResult] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def rate(self) -> float:
        seconds = sum(r.seconds for r in self.runs)
        return self.requests / seconds if seconds else 0.0

    def mean(self, attribute: str) -> float:
        """The mean over the runs of a per-run figure (``p50_ms``, ``p99_ms``)."""
        return sum(float(getattr(r, attribute)) for r in self.runs) / len(self.runs) if self.runs else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base_url: str, script: str, seconds: float, connections: int, args: list[str], workdir: Path) -> LoadResult:
    """One ``wrk -t1`` run of ``bench/wrk/<script>.lua`` (with the shared reporter appended)."""
    combined = workdir / f"{script}.lua"
    combined.write_text((WRK_DIR / f"{script}.lua").read_text() + "\n" + (WRK_DIR / "report.lua").read_text())
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(combined)]
    command += [base_url, "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            raw = json.loads(line.removeprefix("BENCH_RESULT "))
            return LoadResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                bad=raw["bad"],
                socket_errors=raw["socket_errors"],
            )
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


Request = tuple[str, str, dict[str, str]]


def route_requests(route: str, tickets: list[str]) -> Callable[[], Request]:
    """What each route's load looks like, for the Python fallback generator (mirrors bench/wrk/*.lua)."""
    cycle = itertools.cycle(tickets or [""])
    if route == "hello":
        return lambda: ("GET", "/bench/hello", {})
    if route == "join":
        return lambda: ("POST", "/join", {})
    if route == "status":
        return lambda: ("GET", "/status", {"Authorization": f"Bearer {next(cycle)}"})
    if route == "auth":
        return lambda: ("GET", "/auth", {"Authorization": f"Bearer {next(cycle)}"})
    if route == "fragment":
        return lambda: ("GET", "/room/status", {"HX-Request": "true", "Cookie": f"sq_ticket={next(cycle)}"})
    raise ValueError(route)


async def python_load(
    host: str, port: int, make: Callable[[], Request], seconds: float, connections: int
) -> LoadResult:
    """The fallback when wrk is missing: ``connections`` keep-alive clients for ``seconds``."""
    latencies: list[float] = []
    bad = errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal bad, errors
        connection = HttpConnection(host, port)
        try:
            while time.perf_counter() < deadline:
                method, path, headers = make()
                sent = time.perf_counter()
                try:
                    reply = await connection.request(method, path, headers)
                except (HttpError, OSError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                bad += reply.status > 399
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        bad=bad,
        socket_errors=errors,
    )


def percentile(ordered: list[float], pct: float) -> float:
    """The nearest-rank percentile of an already sorted list (0.0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
