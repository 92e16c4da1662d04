"""How many waiting browsers one core holds: a ramp of browsers polling ``GET /room/status`` like htmx.

The app (``python -m webapp``, one uvicorn worker, its default settings and ACCESS_LOG) runs pinned to one
core; its Redis and this client share the other. Every browser is a visitor far back in a long queue
(a small window that slides once a day), holding its ticket in the ``sq_ticket`` cookie, and polls the
fragment with htmx's headers, scheduling its next poll from the fragment's own ``hx-trigger="load
delay:Nms"``: the server's pace (``MAX_POLL_SECONDS`` = 20 s that far back). Each step adds browsers
whose first polls are spread over one poll period, waits that period out, then measures a steady
stretch (1.5 periods by default). The ramp stops at the first step whose p99 reaches the limit or that
sees an error, and prints the headline.

Tickets: a few visitors join as the page does (``GET /``, then htmx's ``POST /room/join``); the rest take
their positions the way a join does (one ``INCRBY`` of the queue's counter through
:class:`webapp.queue.store.QueueStore`, so positions are issued, unique and behind the window) and their
tickets are signed with the app's own codec and secret.
200k joins through the route would take minutes here; the poll is what this measures.

One event loop (uvloop when installed), a bounded pool of keep-alive connections driven by callbacks
(:class:`bench.client.HttpProtocol`, never pipelined; ``--fresh-connections`` opens one per poll instead, as
a browser must once uvicorn's 5 s keep-alive has lapsed) and a heap of next-poll times. Before the ramp the
client's own ceiling is measured against a canned server on the app's core. Exit 1 when a reply is not
200 or not the waiting fragment of that visitor's position. Run ``python -m bench.room_capacity --help``
(or ``python -m bench.simulate_sale --browsers ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import heapq
import itertools
import math
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import FrameType
from typing import Any, cast

import redis.asyncio as aioredis

from bench.client import HttpProtocol
from bench.measure import percentile
from bench.servers import bench_redis, run_directory
from tests.support import AppProcess, RedisServer, free_port, inherited_environ, wait_until_sync
from webapp.queue.keys import queue_keys
from webapp.queue.store import QueueStore
from webapp.tokens import TokenCodec
from webapp.web.cookies import CSRF_COOKIE, TICKET_COOKIE

P99_LIMIT_MS = 100.0
clock = time.perf_counter
"""The client's clock for due, sent and reply times (uvloop's ``loop.time()`` moves in whole milliseconds)."""
RETRY_SECONDS = 2.0  # the fragment's own "sq:retry delay:2s": what the page does after a failed poll
REQUEST_TIMEOUT = 10.0
PROBE_SECONDS = 3.0
CLIENT_SATURATED = 90.0  # % of its core above which the client, not the server, may be the limit
SHARED_CORE = 10.0  # % of the server's core used by other processes above which a step is flagged noisy
TICKET_TTL = 6 * 3600
QUEUE = "main"
APP_ENV = {
    # A long queue that stays put: one slide a day, ten places each; every browser is far back.
    "WINDOW_SIZE": "10",
    "WINDOW_INTERVAL": "86400",
    "JOIN_RATE_LIMIT": "0",  # the sample joins all come from 127.0.0.1
    "TICKET_TTL": str(TICKET_TTL),
    "WEB_CONCURRENCY": "1",
}

_DELAY = re.compile(rb'hx-trigger="load delay:(\d+(?:\.\d+)?)(ms|s)\b')
_POSITION = re.compile(rb'data-testid="queue-position">(\d+)<')
_PAUSED = b'data-testid="queue-paused"'
_RECONNECTING = b'class="reconnecting"'


# -- pure parts ---------------------------------------------------------------------------------------


def poll_delay(fragment: bytes) -> float | None:
    """Seconds until htmx polls again, from the fragment's ``hx-trigger="load delay:..."``; None without one."""
    found = _DELAY.search(fragment)
    if found is None:
        return None
    value = float(found[1])
    return value / 1000 if found[2] == b"ms" else value


def waiting_delay(
    status: int, head: bytes, body: bytes, position: int, paused: bool = False
) -> tuple[str, float | None]:
    """Classify one poll's reply for a visitor still waiting at ``position``: (outcome, next poll delay).

    ``ok`` only for a 200 that polls on and shows this visitor's own position in the waiting state (with
    ``paused``, the paused state: still waiting); ``non-200`` or ``not-waiting`` otherwise, e.g. an
    admission (``HX-Redirect``), "reconnecting" (the app lost its Redis), or a ticket it refused.
    """
    if status != 200:
        return "non-200", None
    delay = poll_delay(body)
    shown = _POSITION.search(body)
    if (
        delay is None
        or shown is None
        or int(shown[1]) != position
        or b"\r\nhx-redirect:" in head.lower()
        or _RECONNECTING in body
        or (_PAUSED in body) != paused
    ):
        return "not-waiting", delay
    return "ok", delay


def shown(head: bytes, body: bytes, limit: int = 600) -> str:
    """A reply as printed in a failure report: the header block and the body without the poller line."""
    text = body.decode("utf-8", "replace")
    text = re.sub(r"<div class=\"poller\"[^>]*></div>", "", text)
    return (head.decode("latin-1") + "\n\n" + re.sub(r"\s+", " ", text).strip())[:limit]


def parse_count(text: str) -> int:
    """``25000``, ``25k`` or ``1.5m`` as a whole number of browsers."""
    raw = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    number = float(raw[:-1] if scale > 1 else raw)
    count = round(number * scale)
    if count < 1 or not math.isclose(count, number * scale):
        raise ValueError(f"not a whole positive number of browsers: {text!r}")
    return count


def parse_steps(text: str) -> list[int]:
    """The ramp's browser counts, strictly increasing: ``25k,50k,100k``."""
    steps = [parse_count(part) for part in text.split(",") if part.strip()]
    if not steps:
        raise ValueError("no steps")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError(f"steps must increase: {text!r}")
    return steps


def first_polls(start: float, period: float, count: int, rng: random.Random) -> list[float]:
    """When ``count`` newly arrived browsers first poll: uniformly over one poll period from ``start``."""
    return [start + rng.random() * period for _ in range(count)]


def measured_stretch(start: float, period: float, hold: float) -> tuple[float, float]:
    """The steady part of a step that starts at ``start``: after one period (every new browser has polled
    once and is on the server's pace), for ``hold`` seconds."""
    return start + period, start + period + hold


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU time as a share of one core over a wall-clock stretch."""
    return 100.0 * cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0


@dataclass
class Step:
    """What one step of the ramp measured (its steady stretch; failures over the whole step)."""

    browsers: int
    period: float
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """Due -> reply: what the page waits, from when htmx would fire the poll (includes any client lag)."""
    wire: list[float] = field(default_factory=list)
    """Sent -> reply."""
    late: list[float] = field(default_factory=list)
    """Due -> sent: the client's own lag (or a full connection pool)."""
    errors: Counter[str] = field(default_factory=Counter)
    non_200: int = 0
    not_waiting: int = 0
    first_wrong: str = ""
    """The first reply that was not the waiting fragment (status, headers and the start of the body), to show."""
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    redis_cpu: float = 0.0
    others_cpu: float | None = None
    """What else ran on the server's core (its busy share minus the server's), when the server is pinned."""

    def ordered(self) -> None:
        self.latencies.sort()
        self.wire.sort()
        self.late.sort()

    def ms(self, pct: float, values: list[float] | None = None) -> float:
        ordered = self.latencies if values is None else values
        return percentile(ordered, pct) * 1000

    @property
    def max_ms(self) -> float:
        return self.latencies[-1] * 1000 if self.latencies else 0.0

    @property
    def polls(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.polls / self.seconds if self.seconds > 0 else 0.0

    @property
    def expected_rate(self) -> float:
        return self.browsers / self.period if self.period > 0 else 0.0

    @property
    def incorrect(self) -> int:
        return self.non_200 + self.not_waiting

    @property
    def failures(self) -> int:
        return sum(self.errors.values()) + self.incorrect

    @property
    def client_limited(self) -> bool:
        """The client may be the limit: its own core is saturated."""
        return self.client_cpu >= CLIENT_SATURATED

    @property
    def behind_pace(self) -> bool:
        """Clearly fewer polls answered than were due: the server (or, if saturated, the client) fell behind."""
        return self.polls > 0 and self.rate < 0.9 * self.expected_rate

    @property
    def core_shared(self) -> bool:
        """Other processes used a noticeable share of the server's core: the step's figures are noisy."""
        return self.others_cpu is not None and self.others_cpu >= SHARED_CORE


def stop_reason(step: Step, limit_ms: float = P99_LIMIT_MS) -> str | None:
    """Why the ramp stops at this step (p99 at or over the limit, any error, no replies), or None."""
    if step.failures:
        parts = [f"{n} {what}" for what, n in (("non-200", step.non_200), ("not waiting", step.not_waiting)) if n]
        parts += [f"{n} x {what}" for what, n in step.errors.most_common(3)]
        return "errors: " + ", ".join(parts)
    if step.polls == 0:
        return "no replies in the measured stretch"
    if step.ms(99) >= limit_ms:
        return f"p99 {step.ms(99):.1f} ms ≥ {limit_ms:g} ms"
    return None


def headline(steps: Sequence[Step], limit_ms: float = P99_LIMIT_MS) -> str:
    """The one sentence: the largest step that passed (steps stop at the first that does not)."""
    if not steps:
        return "no step ran"
    passed = [s for s in steps if stop_reason(s, limit_ms) is None]
    last = steps[-1]
    if not passed:
        return (
            f"one core holds fewer than {steps[0].browsers} waiting browsers "
            f"(the first step stopped: {stop_reason(steps[0], limit_ms)})"
        )
    best = passed[-1]
    line = f"one core holds {best.browsers} waiting browsers (p99 {best.ms(99):.0f} ms, 0 errors)"
    if best is last:
        line += "; the ramp ended before the server's limit (add larger --steps)"
    if any(s.client_limited for s in steps):
        line += "; CLIENT-LIMITED at some step (the client's core saturated): the server's limit may be higher"
    if any(s.core_shared for s in steps):
        line += "; other processes shared the server's core (see 'others'): a noisy machine, measure again"
    return line


def step_line(step: Step) -> str:
    errors = sum(step.errors.values())
    flags = [
        ("client-limited", step.client_limited),
        ("behind pace", step.behind_pace),
        ("core shared", step.core_shared),
    ]
    flag = "".join(f"  {name}" for name, on in flags if on)
    others = "-" if step.others_cpu is None else f"{step.others_cpu:.0f}%"
    return (
        f"{step.browsers:>9} {step.rate:>8.0f} {step.expected_rate:>8.0f} {step.ms(50):>7.1f} {step.ms(90):>7.1f} "
        f"{step.ms(99):>7.1f} {step.max_ms:>7.1f} {step.ms(99, step.wire):>7.1f} {step.ms(99, step.late):>7.1f} "
        f"{errors:>6} {step.non_200:>7} {step.not_waiting:>7} {step.server_cpu:>6.0f}% {step.client_cpu:>6.0f}% "
        f"{step.redis_cpu:>5.0f}% {others:>6}{flag}"
    )


TABLE_HEADER = (
    f"{'browsers':>9} {'polls/s':>8} {'due/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
    f"{'wire99':>7} {'late99':>7} {'errors':>6} {'non-200':>7} {'not-wtg':>7} {'server':>7} {'client':>7} "
    f"{'redis':>6} {'others':>6}"
)


# -- processes and CPU ------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy_seconds(core: int) -> float:
    """CPU seconds one core spent on anything but idling, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name == f"cpu{core}":
            values = [int(t) for t in ticks[:8]]  # user nice system idle iowait irq softirq steal
            return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    raise ValueError(f"no cpu{core} in /proc/stat")


class CpuMeter:
    """CPU use of the server, this client and Redis over a stretch of wall time, each in % of one core, and
    what else ran on the server's core when it is pinned."""

    def __init__(self, server_pid: int | None, redis_pid: int | None, server_core: int | None = None) -> None:
        self.pids = (server_pid, redis_pid)
        self.server_core = server_core
        self._start: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def _read(self) -> tuple[float, float, float, float, float]:
        server, redis_ = (process_cpu_seconds(p) if p is not None else 0.0 for p in self.pids)
        core = core_busy_seconds(self.server_core) if self.server_core is not None else 0.0
        return time.monotonic(), time.process_time(), server, redis_, core

    def start(self) -> None:
        self._start = self._read()

    def stop(self, step: Step) -> None:
        wall, client, server, redis_, core = (b - a for a, b in zip(self._start, self._read(), strict=True))
        step.seconds = wall
        step.client_cpu = cpu_percent(client, wall)
        step.server_cpu = cpu_percent(server, wall)
        step.redis_cpu = cpu_percent(redis_, wall)
        if self.server_core is not None:
            step.others_cpu = max(0.0, cpu_percent(core, wall) - step.server_cpu)


def pinned(command: list[str], core: int | None) -> list[str]:
    return command if core is None else ["taskset", "-c", str(core), *command]


def room_app(directory: Path, redis_url: str, secret: str, core: int | None, env: dict[str, str]) -> AppProcess:
    """``python -m webapp`` as shipped (one worker, default ACCESS_LOG), pinned to ``core``; call ``start()``."""
    base = {k: v for k, v in inherited_environ().items() if k not in ("ACCESS_LOG", "LOG_FORMAT")}
    port = free_port()
    return AppProcess(
        {**APP_ENV, **env, "REDIS_URL": redis_url, "JWT_SECRET": secret},
        directory / f"app-{port}.log",
        command=pinned([sys.executable, "-m", "webapp"], core),
        base_environ=base,
        port=port,
        new_session=True,
    )


class CannedServer:
    """A server that answers every request with one fixed reply: the floor for measuring the client."""

    def __init__(self, reply: bytes, core: int | None, directory: Path) -> None:
        self.port = free_port()
        body = directory / "canned-reply.bin"
        body.write_bytes(reply)
        command = [sys.executable, "-m", "bench.room_capacity", "--canned-server", f"{self.port}:{body}"]
        self.log = directory / "canned.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(pinned(command, core), stdout=log, stderr=subprocess.STDOUT)
        wait_until_sync(self._answers, 15.0, what=f"the canned server on port {self.port}")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the canned server exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class _Canned(asyncio.Protocol):
    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self.pending += data
        count = self.pending.count(b"\r\n\r\n")
        if count and self.transport is not None:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(self.reply * count)


def serve_canned(spec: str) -> None:
    port, _, path = spec.partition(":")
    reply = Path(path).read_bytes()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Canned(reply), "127.0.0.1", int(port), backlog=4096)
        async with server:
            await server.serve_forever()

    run_loop(serve())


def run_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run on uvloop when it is installed (it comes with uvicorn[standard]), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# -- the browsers -----------------------------------------------------------------------------------------


class _Poller(HttpProtocol):
    index = -1
    due = 0.0
    replies = 0
    callback: Callable[[int, bytes, bytes, Exception | None, bool], None]


class Browsers:
    """Waiting browsers polling one server, multiplexed over a bounded pool of keep-alive connections."""

    def __init__(
        self,
        host: str,
        port: int,
        csrf: str,
        connections: int,
        *,
        paused: bool = False,
        fresh: bool = False,
        fixed_delay: float | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.paused = paused  # the queue is paused on purpose (a smoke run): the paused fragment is expected
        # Each poll on a new connection, as a browser polling every 20 s finds uvicorn closed its idle one
        # (keep-alive timeout 5 s); ``connections`` then bounds the polls in flight.
        self.fresh = fresh
        self.in_flight = 0
        self.host, self.port = host, port
        self.size = connections
        self.fixed_delay = fixed_delay  # the ceiling run: poll again at once, whatever the fragment says
        origin = f"http://{host}:{port}"
        self.prefix = (
            f"GET /room/status HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) session-queue-room-capacity\r\n"
            "Accept: */*\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n"
            f"HX-Request: true\r\nHX-Target: queue-status\r\nHX-Current-URL: {origin}/\r\nReferer: {origin}/\r\n"
            f"Cookie: {CSRF_COOKIE}={csrf}; {TICKET_COOKIE}="
        ).encode("latin-1")
        self.suffix = b"\r\n\r\n"
        self.tokens: list[bytes] = []
        self.positions: list[int] = []
        self.heap: list[tuple[float, int]] = []
        self.idle: deque[_Poller] = deque()
        self.pool: set[_Poller] = set()
        self.opening = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = math.inf
        self.step: Step | None = None
        self.window = (math.inf, math.inf)
        self.reconnects = 0
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.TimerHandle | None = None

    # connections

    async def open(self) -> None:
        if not self.fresh:
            await asyncio.gather(*(self._connect() for _ in range(self.size)))
        self._watchdog = self.loop.call_later(1.0, self._watch)

    async def _dial(self) -> _Poller:
        connecting = self.loop.create_connection(_Poller, self.host, self.port)
        _, protocol = await asyncio.wait_for(connecting, REQUEST_TIMEOUT)
        assert isinstance(protocol, _Poller)
        protocol.callback = functools.partial(self._replied, protocol)
        return protocol

    async def _fresh_poll(self, index: int, due: float) -> None:
        try:
            protocol = await self._dial()
        except (OSError, TimeoutError) as exc:
            self.in_flight -= 1
            self._record_error(f"connect {type(exc).__name__}")
            heapq.heappush(self.heap, (clock() + RETRY_SECONDS, index))
            self.pump()
            return
        if self.closed:
            protocol.abort(ConnectionAbortedError("closed"))
            return
        self.pool.add(protocol)
        protocol.index, protocol.due = index, due
        protocol.send(self.prefix + self.tokens[index] + self.suffix, protocol.callback, clock())

    async def _connect(self) -> None:
        self.opening += 1
        try:
            protocol = await self._dial()
        except (OSError, TimeoutError) as exc:
            self._record_error(f"connect {type(exc).__name__}")
            if not self.closed:
                self.loop.call_later(RETRY_SECONDS, self._replace)
            return
        finally:
            self.opening -= 1
        self.pool.add(protocol)
        if self.closed:
            protocol.abort(ConnectionAbortedError("closed"))
            return
        self.idle.append(protocol)
        self.pump()

    def _replace(self) -> None:
        if self.closed or len(self.pool) + self.opening >= self.size:
            return
        task = self.loop.create_task(self._connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop(self, connection: _Poller) -> None:
        self.pool.discard(connection)
        self._replace()

    def _watch(self) -> None:
        now = clock()
        for connection in list(self.pool):
            if connection.busy and now - connection.sent_at > REQUEST_TIMEOUT:
                connection.abort(TimeoutError(f"no reply within {REQUEST_TIMEOUT:g} s"))
        if not self.closed:
            self._watchdog = self.loop.call_later(1.0, self._watch)

    async def close(self) -> None:
        self.closed = True
        for handle in (self.timer, self._watchdog):
            if handle is not None:
                handle.cancel()
        for connection in list(self.pool):
            if connection.transport is not None:
                connection.transport.close()
        self.pool.clear()
        self.idle.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports finish closing

    # visitors and the poll loop

    def add(self, tokens: Sequence[str], positions: Sequence[int], due: Sequence[float]) -> None:
        first = len(self.tokens)
        self.tokens.extend(t.encode("ascii") for t in tokens)
        self.positions.extend(positions)
        for offset, at in enumerate(due):
            heapq.heappush(self.heap, (at, first + offset))
        self.pump()

    def pump(self) -> None:
        """Send every poll that is due on an idle connection; wake again when the next one is due."""
        if self.closed:
            return
        now = clock()
        heap, idle = self.heap, self.idle
        if self.fresh:
            while heap and self.in_flight < self.size and heap[0][0] <= now:
                due, index = heapq.heappop(heap)
                self.in_flight += 1
                task = self.loop.create_task(self._fresh_poll(index, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if heap and self.in_flight < self.size and heap[0][0] < self.timer_at:
                self._arm(heap[0][0], now)
            return
        while heap and idle and heap[0][0] <= now:
            connection = idle.popleft()
            if connection.lost:
                self._drop(connection)
                continue
            due, index = heapq.heappop(heap)
            connection.index, connection.due = index, due
            connection.send(self.prefix + self.tokens[index] + self.suffix, connection.callback, now)
        if heap and idle and heap[0][0] < self.timer_at:
            self._arm(heap[0][0], now)

    def _arm(self, at: float, now: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = at
        self.timer = self.loop.call_later(max(0.0, at - now), self._wake)

    def _wake(self) -> None:
        self.timer, self.timer_at = None, math.inf
        self.pump()

    def _replied(
        self, connection: _Poller, status: int, head: bytes, body: bytes, error: Exception | None, answered: bool
    ) -> None:
        now = clock()
        index, due = connection.index, connection.due
        if self.closed:
            return
        if self.fresh:
            self.in_flight -= 1
            self.pool.discard(connection)
        if error is not None:
            if not answered and connection.replies > 0:
                # The server closed a reused keep-alive connection as we wrote: nothing was processed, and
                # a browser retries such a request on a new connection, as we do.
                self.reconnects += 1
                heapq.heappush(self.heap, (due, index))
            else:
                self._record_error(f"{type(error).__name__}: {error}"[:120])
                heapq.heappush(self.heap, (now + RETRY_SECONDS, index))
            if not self.fresh:
                self._drop(connection)
            self.pump()
            return
        connection.replies += 1
        outcome, delay = waiting_delay(status, head, body, self.positions[index], self.paused)
        step = self.step
        if step is not None:
            if outcome == "non-200":
                step.non_200 += 1
            elif outcome == "not-waiting":
                step.not_waiting += 1
            if outcome != "ok" and not step.first_wrong:
                step.first_wrong = f"position {self.positions[index]}: {shown(head, body)}"
            low, high = self.window
            if low <= now < high:
                step.latencies.append(now - due)
                step.wire.append(now - connection.sent_at)
                step.late.append(connection.sent_at - due)
        if self.fixed_delay is not None:
            delay = self.fixed_delay
        heapq.heappush(self.heap, (now + (RETRY_SECONDS if delay is None else delay), index))
        if self.fresh:
            if connection.transport is not None:
                connection.transport.close()
        elif connection.lost:
            self._drop(connection)
        else:
            self.idle.append(connection)
        self.pump()

    def _record_error(self, what: str) -> None:
        if self.step is not None:
            self.step.errors[what] += 1

    def measure(self, step: Step, low: float, high: float) -> None:
        self.step, self.window = step, (low, high)


# -- the run ------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """The tickets of every browser of the ramp, in position order."""

    tokens: list[str]
    positions: list[int]
    real_joins: int
    minted: int
    padding: int
    window_end: int


async def take_tickets(
    base_url: str, redis_url: str, secret: str, total: int, real_joins: int, window_size: int, interval: float
) -> Fleet:
    """``real_joins`` joins through the room's page, then positions for the rest in one INCRBY, signed here."""
    client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        store = QueueStore(client, queue_keys(QUEUE), window_size, interval)
        snapshot = await store.snapshot()
        padding = max(0, snapshot.window_end - snapshot.last_position)
        if padding:  # the front of the queue, inside the window: taken, not simulated
            await store.join(padding)
        tokens: list[str] = []
        positions: list[int] = []
        for _ in range(min(real_joins, total)):
            token, position = await asyncio.to_thread(browser_join, base_url)
            tokens.append(token)
            positions.append(position)
        minted = total - len(tokens)
        codec = TokenCodec(secret.encode(), QUEUE)
        if minted:
            issued = await store.join(minted)
            now = int(time.time())
            for position in range(issued.first, issued.last + 1):
                tokens.append(codec.mint_ticket(position, issued.window_end, now, TICKET_TTL, issued.epoch)[0])
                positions.append(position)
        return Fleet(tokens, positions, len(tokens) - minted, minted, padding, snapshot.window_end)
    finally:
        await client.aclose()


async def pause_queue(redis_url: str, window_size: int, interval: float) -> None:
    """Pause admission: nobody moves, and waiting pages poll every half interval (a short period for smoke runs)."""
    client = aioredis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        store = QueueStore(client, queue_keys(QUEUE), window_size, interval)
        await store.snapshot()
        await store.control("pause", "bench.room_capacity", "127.0.0.1", "short poll period for a smoke run")
    finally:
        await client.aclose()


def cookie_set(headers: Message, name: str) -> str | None:
    """The value a reply's ``Set-Cookie`` headers give the cookie ``name``, or None."""
    for value in headers.get_all("set-cookie") or []:
        key, _, rest = str(value).partition("=")
        if key.strip() == name:
            return str(rest.split(";", 1)[0])
    return None


def room_page(base_url: str) -> tuple[str, str]:
    """A browser's first ``GET /``: the CSRF cookie it is given and the token its join form carries."""
    with urllib.request.urlopen(base_url + "/", timeout=10) as reply:  # noqa: S310 - our own loopback server
        cookie = cookie_set(reply.headers, CSRF_COOKIE)
        page = reply.read().decode("utf-8", "replace")
    form = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    if cookie is None or form is None:
        raise RuntimeError(f"GET / gave no {CSRF_COOKIE} cookie or no join form token")
    return cookie, form[1]


def csrf_cookie(base_url: str) -> str:
    """The CSRF cookie a browser gets with its first ``GET /`` (the middleware checks it on unsafe methods only)."""
    return room_page(base_url)[0]


def browser_join(base_url: str) -> tuple[str, int]:
    """A join as the waiting page makes it: ``GET /``, then htmx's ``POST /room/join`` with the form's CSRF
    token. Returns the ticket the reply's cookie holds and the position its fragment shows."""
    cookie, form_token = room_page(base_url)
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        base_url + "/room/join",
        data=urllib.parse.urlencode({"_csrf_token": form_token}).encode(),
        method="POST",
        headers={
            "HX-Request": "true",
            "HX-Target": "queue-status",
            "HX-Current-URL": base_url + "/",
            "Origin": base_url,
            "Referer": base_url + "/",
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{CSRF_COOKIE}={cookie}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - our own loopback server
        ticket = cookie_set(reply.headers, TICKET_COOKIE)
        fragment = reply.read()
    shown_position = _POSITION.search(fragment)
    if ticket is None or shown_position is None:
        raise RuntimeError(f"POST /room/join gave no ticket cookie or no position: {fragment[:300]!r}")
    return ticket, int(shown_position[1])


def probe(base_url: str, csrf: str, token: str, position: int, paused: bool) -> tuple[bytes, float]:
    """One real poll of one waiting visitor: the whole reply (for the canned server) and the server's period."""
    headers = {
        "HX-Request": "true",
        "HX-Target": "queue-status",
        "Cookie": f"{CSRF_COOKIE}={csrf}; {TICKET_COOKIE}={token}",
    }
    request = urllib.request.Request(base_url + "/room/status", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - our own loopback server
            body, status, headers_seen = reply.read(), int(reply.status), reply.headers
    except urllib.error.HTTPError as refused:
        raise RuntimeError(f"a waiting visitor's first poll answered {refused.code}") from None
    head = "\r\n".join([f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in headers_seen.items()]).encode("latin-1")
    outcome, delay = waiting_delay(status, head, body, position, paused)
    if outcome != "ok" or delay is None:
        raise RuntimeError(f"a waiting visitor's first poll was {outcome}: {body[:300]!r}")
    canned_head = "\r\n".join(
        [f"HTTP/1.1 {status} OK", "content-type: text/html; charset=utf-8", f"content-length: {len(body)}"]
    )
    return canned_head.encode() + b"\r\n\r\n" + body, delay


def settled_probe(
    base_url: str, csrf: str, token: str, position: int, paused: bool, within: float = PROBE_SECONDS
) -> tuple[bytes, float]:
    """:func:`probe`, again until it passes for ``within`` seconds: the app's copy of the window (a pause
    just made, say) may be a refresh behind Redis."""
    deadline = time.monotonic() + within
    while True:
        try:
            return probe(base_url, csrf, token, position, paused)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # the app re-reads the window every 100 ms (SNAPSHOT_REFRESH)


async def client_ceiling(
    port: int, csrf: str, token: str, position: int, connections: int, seconds: float, paused: bool
) -> tuple[float, float]:
    """Replies/s and client CPU % of a closed loop against the canned server: what this client can drive."""
    browsers = Browsers("127.0.0.1", port, csrf, connections, paused=paused, fixed_delay=0.0)
    await browsers.open()
    step = Step(browsers=connections * 2, period=1.0)
    now = clock()
    browsers.measure(step, now + 0.5, now + 0.5 + seconds)
    browsers.add([token] * step.browsers, [position] * step.browsers, [now] * step.browsers)
    await asyncio.sleep(0.5)
    meter = CpuMeter(None, None)
    meter.start()
    await asyncio.sleep(seconds)
    meter.stop(step)
    await browsers.close()
    return step.polls / seconds, step.client_cpu


async def ramp(
    base_url: str, csrf: str, fleet: Fleet, args: argparse.Namespace, period: float, meter: CpuMeter
) -> list[Step]:
    host, _, port = base_url.removeprefix("http://").partition(":")
    browsers = Browsers(host, int(port), csrf, args.connections, paused=args.pause is not None, fresh=args.fresh)
    await browsers.open()
    rng = random.Random(args.seed)
    hold = args.hold if args.hold is not None else 1.5 * period
    steps: list[Step] = []
    try:
        for target in args.steps:
            step = Step(browsers=target, period=period)
            have = len(browsers.tokens)
            start = clock()
            browsers.measure(step, math.inf, math.inf)  # failures count from the start of the step
            due = first_polls(start, period, target - have, rng)
            browsers.add(fleet.tokens[have:target], fleet.positions[have:target], due)
            low, high = measured_stretch(start, period, hold)
            await asyncio.sleep(max(0.0, low - clock()))
            browsers.measure(step, low, high)
            meter.start()
            await asyncio.sleep(max(0.0, high - clock()))
            meter.stop(step)
            browsers.measure(step, math.inf, math.inf)
            step.ordered()
            steps.append(step)
            print(step_line(step), flush=True)
            if step.first_wrong:
                print(f"  first reply that was not the waiting fragment ({step.incorrect} in all): {step.first_wrong}")
            if stop_reason(step, args.p99_limit) is not None:
                break
    finally:
        browsers.step = None
        await browsers.close()
    if browsers.reconnects:
        print(f"  (re-sent on a fresh connection after the server closed an idle one: {browsers.reconnects})")
    return steps


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.room_capacity", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", default="25k,50k,100k,150k,200k,250k,300k", help="browsers per step (default 25k,...,300k)"
    )
    parser.add_argument("--hold", type=float, default=None, help="measured seconds per step (default 1.5 periods)")
    parser.add_argument("--connections", type=int, default=128, help="keep-alive connection pool (default 128)")
    parser.add_argument(
        "--real-joins", type=int, default=100, help="browsers that join as the page does: GET /, POST /room/join (100)"
    )
    parser.add_argument("--p99-limit", type=float, default=P99_LIMIT_MS, help="p99 ms that stops the ramp (100)")
    parser.add_argument("--ceiling-seconds", type=float, default=3.0, help="client ceiling run, 0 skips (3)")
    parser.add_argument("--server-core", type=int, default=1, help="the app's core (default 1)")
    parser.add_argument("--client-core", type=int, default=0, help="this client's and Redis's core (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="pin nothing (tests, or a machine with one core)")
    parser.add_argument("--redis-url", default=None, help="use this (flushed) Redis instead of starting one")
    parser.add_argument(
        "--pause",
        type=float,
        default=None,
        metavar="INTERVAL",
        help="smoke runs: WINDOW_INTERVAL=INTERVAL and admission paused, so pages poll every INTERVAL/2 s",
    )
    parser.add_argument(
        "--fresh-connections",
        dest="fresh",
        action="store_true",
        help="each poll on a new connection (a browser polling every 20 s outlives uvicorn's 5 s keep-alive); "
        "--connections then bounds the polls in flight",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the first-poll spread (1)")
    args = parser.parse_args(argv)
    try:
        args.steps = parse_steps(args.steps)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["--canned-server"]:
        serve_canned(raw[1])
        return 0
    args = parse(raw)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server_core = args.server_core if pin else None
    if pin:
        os.sched_setaffinity(0, {args.client_core})  # Redis, started below, inherits this core
    workdir = run_directory("sq-capacity-")
    main_thread = threading.current_thread() is threading.main_thread()
    # A SIGTERM unwinds like Ctrl-C, so the servers started here are stopped by their pids on the way out.
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    redis_server: RedisServer | None = None
    app: AppProcess | None = None
    canned: CannedServer | None = None
    env = dict(APP_ENV)
    if args.pause is not None:
        env["WINDOW_INTERVAL"] = f"{args.pause:g}"
    window_size, interval = int(env["WINDOW_SIZE"]), float(env["WINDOW_INTERVAL"])
    secret = secrets.token_urlsafe(48)
    try:
        redis_url = args.redis_url
        if redis_url is None:
            redis_server = bench_redis(workdir)
            redis_server.start()
            redis_url = redis_server.url
        app = room_app(workdir, redis_url, secret, server_core, env)
        app.start()
        assert app.process is not None
        where = f"pinned to core {server_core}, client and Redis on core {args.client_core}" if pin else "not pinned"
        print(f"room_capacity: python -m webapp (1 worker, ACCESS_LOG default) on {app.base_url}, {where}")
        print(f"  logs in {workdir}; WINDOW_SIZE={window_size}, WINDOW_INTERVAL={interval:g}", flush=True)
        if args.pause is not None:
            run_loop(pause_queue(redis_url, window_size, interval))
            print(f"  admission PAUSED (smoke mode): the server asks for a poll every {interval / 2:g} s")
        started = time.monotonic()
        fleet = run_loop(
            take_tickets(app.base_url, redis_url, secret, args.steps[-1], args.real_joins, window_size, interval)
        )
        unique = len(set(fleet.positions)) == len(fleet.positions)
        behind = min(fleet.positions) > fleet.window_end
        print(
            f"  tickets: {fleet.real_joins} real joins (GET /, then htmx's POST /room/join); {fleet.minted} positions taken with one "
            f"INCRBY through QueueStore.join and signed with the app's TokenCodec and JWT_SECRET "
            f"({time.monotonic() - started:.1f} s); {fleet.padding} positions inside the window taken first; "
            f"positions {min(fleet.positions)}..{max(fleet.positions)}, unique: {'yes' if unique else 'NO'}, "
            f"all behind window_end {fleet.window_end}: {'yes' if behind else 'NO'}",
            flush=True,
        )
        if not (unique and behind):
            print("room_capacity: FAIL: the positions are not unique, or not all waiting")
            return 1
        csrf = csrf_cookie(app.base_url)
        paused = args.pause is not None
        try:
            canned_reply, period = settled_probe(app.base_url, csrf, fleet.tokens[0], fleet.positions[0], paused)
        except RuntimeError as failed:
            print(f"room_capacity: FAIL: {failed}")
            return 1
        print(f"  the server's pace for these visitors: hx-trigger load delay {period:g} s", flush=True)
        if args.ceiling_seconds > 0:
            canned = CannedServer(canned_reply, server_core, workdir)
            rate, cpu = run_loop(
                client_ceiling(
                    canned.port,
                    csrf,
                    fleet.tokens[0],
                    fleet.positions[0],
                    args.connections,
                    args.ceiling_seconds,
                    paused,
                )
            )
            canned.stop()
            canned = None
            print(
                f"  client ceiling (closed loop against a canned reply of {len(canned_reply)} B on the app's core): "
                f"{rate:.0f} polls/s at {cpu:.0f}% of the client's core"
            )
        redis_pid = redis_server.process.pid if redis_server is not None and redis_server.process else None
        meter = CpuMeter(app.process.pid, redis_pid, server_core)
        hold = args.hold if args.hold is not None else 1.5 * period
        connections = (
            f"a new connection per poll (at most {args.connections} in flight; late99 includes the connect)"
            if args.fresh
            else f"{args.connections} keep-alive connections"
        )
        if hold < 1.5 * period:
            print(f"  note: hold {hold:g} s is shorter than 1.5 poll periods ({1.5 * period:g} s): not steady state")
        print(
            f"  each step: first polls of the new browsers spread over {period:g} s, then {hold:g} s measured; "
            f"{connections}; at most {len(args.steps)} steps, {len(args.steps) * (period + hold):.0f} s; "
            "latency = due -> reply (wire99 = sent -> reply, late99 = due -> sent); CPU in % of one core "
            "(others: the rest of the server core's use)",
            flush=True,
        )
        print(TABLE_HEADER, flush=True)
        steps = run_loop(ramp(app.base_url, csrf, fleet, args, period, meter))
    finally:
        if canned is not None:
            canned.stop()
        if app is not None:
            app.stop()
        if redis_server is not None:
            redis_server.stop()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(headline(steps, args.p99_limit))
    if any(s.incorrect for s in steps):
        print("room_capacity: FAIL: a reply was not 200, or not the waiting fragment of that visitor")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
