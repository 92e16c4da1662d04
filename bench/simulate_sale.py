"""A simulated sale: a burst of visitors joins, then each polls ``GET /status`` at the pace the server asks.

For every visitor it records the estimated wait the join reply promised and when the visitor was first
seen active; a watcher reads the window from Redis every 20 ms and records when each slide happened
(``last_slide``, Redis's own clock). Then it checks the queue's promises: positions unique and
contiguous, every reply consistent with the window arithmetic, nobody seen active before Redis slid the
window to them nor while a lower position was still seen waiting (strict FIFO), and how far the
estimates were from the waits that happened: the *turn* is the slide that made the position active;
the visitor's poll lag (turn to noticing it) is reported on its own line.

One event loop, a bounded pool of keep-alive connections and a heap of next-poll times: 100k visitors
cost 100k small records, not 100k sockets. Run ``python -m bench.simulate_sale --help``.

``--browsers`` is the capacity mode instead (:mod:`bench.room_capacity`): how many waiting browsers one core
holds, polling the htmx route at the server's pace (``--browsers --help`` lists its options).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import heapq
import itertools
import json
import math
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bench.client import HttpConnection, HttpError
from bench.measure import percentile
from bench.servers import bench_app, bench_redis, run_directory
from tests.support import AppProcess, RedisServer
from webapp.queue.keys import queue_keys

SLIDE_WATCH_SECONDS = 0.02


class Visitor:
    __slots__ = (
        "active_window_end",
        "estimate",
        "first_active",
        "join_rtt",
        "joined_at",
        "last_waiting",
        "missed",
        "polls",
        "position",
        "token",
    )

    def __init__(self, token: str, position: int, estimate: float, joined_at: float, join_rtt: float) -> None:
        self.token = token
        self.position = position
        self.estimate = estimate
        self.joined_at = joined_at  # midway through the join request: when the server made the estimate
        self.join_rtt = join_rtt
        self.first_active: float | None = None
        self.active_window_end = 0
        self.last_waiting: float | None = None
        self.missed = False
        self.polls = 0


@dataclass
class Sale:
    """Everything observed during one simulated sale (times in seconds since its start)."""

    visitors: list[Visitor] = field(default_factory=list)
    slides: list[tuple[float, int]] = field(default_factory=list)  # (first seen, window_end), increasing
    # What Redis says: window_end -> when that slide happened (Redis TIME, as seconds since the start).
    redis_slides: dict[int, float] = field(default_factory=dict)
    redis_start_window_end: int | None = None
    redis_skipped: int = 0  # slides the watcher missed (window_end jumped by more than one window)
    redis_errors: int = 0
    inconsistent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    status_replies: int = 0


def status_of(position: int, window_end: int, size: int, count: int) -> str:
    """The product contract's classification, restated independently of webapp.queue.window."""
    if position <= window_end - size * count:
        return "expired"
    return "waiting" if position > window_end else "active"


class Simulation:
    def __init__(self, host: str, port: int, args: argparse.Namespace) -> None:
        self.host, self.port = host, port
        self.redis_url: str | None = args.redis_url
        self.window_key = queue_keys(args.queue).window
        self.total = args.visitors
        self.size = args.window_size
        self.count = args.active_window_count
        self.connections = args.connections
        self.sale = Sale()
        self.start = time.monotonic()
        self.wall_start = time.time()  # Redis TIME is the same machine's wall clock
        self.heap: list[tuple[float, int]] = []
        self.ready: deque[int] = deque()
        self.wakeup = asyncio.Event()
        self.joins_left = self.total
        self.resolved = 0
        self.finished = asyncio.Event()

    def now(self) -> float:
        return time.monotonic() - self.start

    def schedule(self, index: int, due: float) -> None:
        heapq.heappush(self.heap, (due, index))
        self.wakeup.set()

    def resolve(self) -> None:
        self.resolved += 1
        if self.resolved == self.total:
            self.finished.set()
            self.wakeup.set()

    def seen(self, window_end: int) -> None:
        if not self.sale.slides or window_end > self.sale.slides[-1][1]:
            self.sale.slides.append((self.now(), window_end))

    async def scheduler(self) -> None:
        """Move visitors whose poll is due from the heap to the ready queue."""
        while not self.finished.is_set():
            now = self.now()
            while self.heap and self.heap[0][0] <= now:
                self.ready.append(heapq.heappop(self.heap)[1])
            if self.ready:
                self.wakeup.set()
            timeout = self.heap[0][0] - now if self.heap else None
            self.wakeup.clear()
            if self.ready:
                await asyncio.sleep(0)  # let the workers take what is ready
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)

    async def slide_watcher(self) -> None:
        """Record every slide with the time Redis made it (``last_slide``), not when a visitor saw it."""
        if self.redis_url is None:
            return
        client = aioredis.Redis.from_url(self.redis_url, socket_timeout=5)
        sale = self.sale
        try:
            while not self.finished.is_set():
                try:
                    end_raw, at_raw = await client.hmget(self.window_key, ["window_end", "last_slide"])
                except RedisError:
                    sale.redis_errors += 1
                    await asyncio.sleep(0.2)
                    continue
                if end_raw is not None:
                    end = int(end_raw)
                    known = max(sale.redis_slides, default=sale.redis_start_window_end)
                    if known is None:
                        sale.redis_start_window_end = end
                    elif end > known and at_raw is not None:
                        sale.redis_slides[end] = int(at_raw) / 1000 - self.wall_start
                        sale.redis_skipped += (end - known) // self.size - 1
                await asyncio.sleep(SLIDE_WATCH_SECONDS)
        finally:
            await client.aclose()

    async def worker(self) -> None:
        connection = HttpConnection(self.host, self.port)
        try:
            while not self.finished.is_set():
                if self.ready:
                    await self.poll(connection, self.ready.popleft())
                elif self.joins_left > 0:
                    self.joins_left -= 1
                    await self.join(connection)
                else:
                    self.wakeup.clear()
                    await self.wakeup.wait()
        finally:
            await connection.close()

    async def join(self, connection: HttpConnection) -> None:
        while True:
            sent = self.now()
            try:
                reply = await connection.request("POST", "/join")
            except (HttpError, OSError, TimeoutError) as exc:
                self.sale.errors[f"join {type(exc).__name__}: {exc}"] += 1
                continue
            if reply.status in (200, 201):
                break
            self.sale.errors[f"join {reply.status}"] += 1
            await asyncio.sleep(1.0)  # the server asked us to back off (429/503)
        body = json.loads(reply.body)
        now = self.now()
        visitor = Visitor(
            body["token"], int(body["position"]), float(body["estimated_wait_seconds"]), (sent + now) / 2, now - sent
        )
        self.sale.visitors.append(visitor)
        index = len(self.sale.visitors) - 1
        if body["status"] == "active":
            visitor.first_active = visitor.joined_at
            self.resolve()
        else:
            self.schedule(index, now)

    async def poll(self, connection: HttpConnection, index: int) -> None:
        visitor = self.sale.visitors[index]
        visitor.polls += 1
        try:
            reply = await connection.request("GET", "/status", {"Authorization": f"Bearer {visitor.token}"})
        except (HttpError, OSError, TimeoutError) as exc:
            self.sale.errors[f"status {type(exc).__name__}: {exc}"] += 1
            self.schedule(index, self.now() + 1.0)
            return
        now = self.now()
        if reply.status != 200:
            self.sale.errors[f"status {reply.status}"] += 1
            self.schedule(index, now + 1.0)
            return
        self.sale.status_replies += 1
        body = json.loads(reply.body)
        window_end, status = int(body["window_end"]), body["status"]
        self.seen(window_end)
        if status != status_of(visitor.position, window_end, self.size, self.count):
            self.sale.inconsistent += 1
        if status == "waiting":
            visitor.last_waiting = now
            self.schedule(index, now + float(body["poll_after_seconds"]))
            return
        if status == "active":
            visitor.first_active = now
            visitor.active_window_end = window_end
        else:
            visitor.missed = True
        self.resolve()

    async def run(self) -> Sale:
        tasks = [asyncio.create_task(self.worker()) for _ in range(self.connections)]
        tasks.append(asyncio.create_task(self.scheduler()))
        tasks.append(asyncio.create_task(self.slide_watcher()))
        await self.finished.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.sale


@dataclass(frozen=True)
class Report:
    lines: list[str]
    ok: bool


def fifo_violations(visitors: list[Visitor], tolerance: float) -> int:
    """Visitors seen waiting after a higher position had already been seen active (beyond ``tolerance``)."""
    violations = 0
    earliest_active_above = math.inf
    for visitor in sorted(visitors, key=lambda v: v.position, reverse=True):
        if visitor.last_waiting is not None and visitor.last_waiting > earliest_active_above + tolerance:
            violations += 1
        if visitor.first_active is not None:
            earliest_active_above = min(earliest_active_above, visitor.first_active)
    return violations


def slide_order_inversions(visitors: list[Visitor]) -> int:
    """Positions first seen active in a later slide (window_end) than some higher position: poll lag."""
    inversions = 0
    earliest_slide_above = math.inf
    for visitor in sorted(visitors, key=lambda v: v.position, reverse=True):
        if visitor.first_active is None or visitor.active_window_end == 0:
            continue
        if visitor.active_window_end > earliest_slide_above:
            inversions += 1
        earliest_slide_above = min(earliest_slide_above, visitor.active_window_end)
    return inversions


def slide_time(slides: list[tuple[float, int]], position: int) -> float | None:
    """When any visitor first saw a window_end reaching ``position`` (the fallback without Redis)."""
    ends = [end for _, end in slides]
    at = bisect.bisect_left(ends, position)
    return slides[at][0] if at < len(slides) else None


class Turns:
    """When each position's turn came: the slide that made it active, as Redis recorded it."""

    def __init__(self, sale: Sale, size: int) -> None:
        self.ends = sorted(sale.redis_slides)
        self.times = [sale.redis_slides[end] for end in self.ends]
        self.size = size
        self.start = sale.redis_start_window_end

    def of(self, position: int) -> float | None:
        """The slide's time; None if the position was active from the start or the watcher missed it."""
        if self.start is not None and position <= self.start:
            return None
        at = bisect.bisect_left(self.ends, position)
        if at == len(self.ends) or self.ends[at] - self.size >= position:
            return None  # the slide that admitted it was not recorded
        return self.times[at]


def errors_of(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """p50 and p90 of |estimate - actual| / actual, and the share within 10% (0 vs 0 counts as exact)."""
    relative = sorted(
        0.0 if actual <= 0 and estimate <= 0 else abs(estimate - actual) / max(actual, 1e-9)
        for estimate, actual in pairs
    )
    if not relative:
        return 0.0, 0.0, 0.0
    within = sum(r <= 0.10 for r in relative) / len(relative)
    return percentile(relative, 50), percentile(relative, 90), within


def report(sale: Sale, args: argparse.Namespace, elapsed: float) -> Report:
    visitors = sale.visitors
    positions = [v.position for v in visitors]
    duplicates = len(positions) - len(set(positions))
    contiguous = bool(positions) and max(positions) - min(positions) + 1 == len(set(positions))
    seen_active = [v for v in visitors if v.first_active is not None]
    missed = sum(v.missed for v in visitors)
    violations = fifo_violations(visitors, args.tolerance)
    first_seen = [(v.estimate, v.first_active - v.joined_at) for v in seen_active if v.first_active is not None]
    from_redis = bool(sale.redis_slides) or sale.redis_start_window_end is not None
    turns = Turns(sale, args.window_size)
    by_slide: list[tuple[float, float]] = []
    lags: list[float] = []
    early = unknown = 0
    for v in visitors:
        if v.first_active is not None and v.first_active == v.joined_at:
            by_slide.append((v.estimate, 0.0))  # active in the join reply: no wait, no lag
            continue
        at = turns.of(v.position) if from_redis else slide_time(sale.slides, v.position)
        if at is None:
            unknown += 1
            continue
        by_slide.append((v.estimate, max(0.0, at - v.joined_at)))
        if v.first_active is not None:
            lags.append(v.first_active - at)
            early += from_redis and v.first_active < at - args.tolerance
    lags.sort()
    p50, p90, within = errors_of(first_seen)
    s50, s90, s_within = errors_of(by_slide)
    waits = sorted(actual for _, actual in first_seen)
    turn_waits = sorted(actual for _, actual in by_slide)
    rtts = sorted(v.join_rtt for v in visitors)
    times = turns.times if len(turns.times) > 1 else [t for t, _ in sale.slides]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    bias = sorted((estimate - actual) / actual for estimate, actual in by_slide if actual > 0)
    polls = sum(v.polls for v in visitors)
    ok = duplicates == 0 and contiguous and violations == 0 and sale.inconsistent == 0 and early == 0
    turn_source = (
        f"Redis last_slide, watched every {SLIDE_WATCH_SECONDS * 1000:.0f} ms; slides missed by the watcher: "
        f"{sale.redis_skipped}, Redis errors: {sale.redis_errors}"
        if from_redis
        else "no Redis to watch (--url without --redis-url): the slide as first seen by any visitor"
    )
    lines = [
        f"simulated sale: {args.visitors} visitors, WINDOW_SIZE={args.window_size}, "
        f"WINDOW_INTERVAL={args.window_interval:g}, ACTIVE_WINDOW_COUNT={args.active_window_count}, "
        f"{args.workers} worker(s), {args.connections} client connections; {elapsed:.1f} s",
        f"  positions: {len(positions)} issued, {duplicates} duplicates, contiguous: {'yes' if contiguous else 'NO'}",
        f"  status replies: {sale.status_replies} ({polls / max(1, len(visitors)):.1f} polls per visitor, "
        f"{sale.status_replies / max(elapsed, 1e-9):.0f}/s); inconsistent with the window arithmetic: "
        f"{sale.inconsistent}; errors (retried): {sum(sale.errors.values())} {dict(sale.errors.most_common(3))}",
        f"  slide pace ({'Redis' if len(turns.times) > 1 else 'first seen'}): median {percentile(gaps, 50):.3f} s, mean "
        f"{sum(gaps) / max(1, len(gaps)):.3f} s between slides (WINDOW_INTERVAL={args.window_interval:g}); "
        f"median signed estimate error {percentile(bias, 50):+.1%} (negative: estimates too short)",
        f"  slides observed: {len(sale.slides)} by visitors, {len(sale.redis_slides)} in Redis; "
        f"seen active: {len(seen_active)}; missed their turn (first seen expired): {missed}",
        f"  turn = the slide that made a position active ({turn_source}); visitors without a known turn: "
        f"{unknown}; seen active more than {args.tolerance:g} s before their turn: {early}",
        f"  join round trip (the estimate is timed from its midpoint): p50 {percentile(rtts, 50) * 1000:.0f} ms, "
        f"p90 {percentile(rtts, 90) * 1000:.0f} ms",
        f"  strict FIFO: {violations} visitors seen waiting more than {args.tolerance:g} s after a higher "
        f"position was seen active; first-seen order inversions across slides (poll lag): "
        f"{slide_order_inversions(visitors)}",
        f"  actual wait (join -> turn): p50 {percentile(turn_waits, 50):.1f} s, "
        f"p90 {percentile(turn_waits, 90):.1f} s, max {turn_waits[-1] if turn_waits else 0:.1f} s; "
        f"(join -> first seen active): p50 {percentile(waits, 50):.1f} s, p90 {percentile(waits, 90):.1f} s, "
        f"max {waits[-1] if waits else 0:.1f} s",
        f"  time from turn to noticing it (poll lag): p50 {percentile(lags, 50):.2f} s, "
        f"p90 {percentile(lags, 90):.2f} s, max {lags[-1] if lags else 0:.2f} s",
        f"  estimate error vs the turn (the goal's measure): p50 {s50:.1%}, p90 {s90:.1%}, within 10%: {s_within:.1%}",
        f"  estimate error vs first seen active (turn + poll lag): p50 {p50:.1%}, p90 {p90:.1%}, "
        f"within 10%: {within:.1%}",
        f"  checks: {'PASS' if ok else 'FAIL'} (unique, contiguous, consistent, strict FIFO, none early); "
        f"estimate goal (90% within 10% of the turn): {'met' if s_within >= 0.9 else 'not met'}",
    ]
    return Report(lines, ok)


def scaled(args: argparse.Namespace) -> None:
    """Unless given, a window that admits about 200 per slide (20..500 slides): a queue must build.

    One machine joins about 500 visitors/s, so admitting 200 per 1 s slide lets the queue grow during
    the burst (100k visitors: a queue of ~60k at the end of the joins, a sale of ~500 s).
    """
    if args.window_size is None:
        slides = min(500, max(20, args.visitors // 200))
        args.window_size = max(1, math.ceil(args.visitors / slides))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate_sale", description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=100_000, help="visitors in the burst (default 100000)")
    parser.add_argument("--window-size", type=int, default=None, help="WINDOW_SIZE (default: visitors/slides)")
    parser.add_argument("--window-interval", type=float, default=1.0, help="WINDOW_INTERVAL seconds (default 1)")
    parser.add_argument("--active-window-count", type=int, default=2, help="ACTIVE_WINDOW_COUNT (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the app (default 1)")
    parser.add_argument("--connections", type=int, default=64, help="client connection pool (default 64)")
    parser.add_argument("--tolerance", type=float, default=0.25, help="FIFO check clock tolerance, s (0.25)")
    parser.add_argument("--url", default=None, help="use a running app (its settings must match the flags)")
    parser.add_argument("--redis-url", default=None, help="with --url: its Redis, to record when slides happen")
    parser.add_argument("--queue", default="main", help="with --url: the app's QUEUE_NAME (default main)")
    parser.add_argument(
        "--browsers",
        action="store_true",
        help="instead: how many waiting browsers one core holds (bench/room_capacity.py; its options follow)",
    )
    args = parser.parse_args(argv)
    scaled(args)
    return args


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if "--browsers" in raw:
        from bench import room_capacity

        return room_capacity.main([arg for arg in raw if arg != "--browsers"])
    args = parse(raw)
    redis_server: RedisServer | None = None
    app: AppProcess | None = None
    try:
        if args.url is None:
            workdir = run_directory("sq-sale-")
            redis_server = bench_redis(workdir)
            redis_server.start()
            env = {
                "WINDOW_SIZE": str(args.window_size),
                "WINDOW_INTERVAL": f"{args.window_interval:g}",
                "ACTIVE_WINDOW_COUNT": str(args.active_window_count),
                "JOIN_RATE_LIMIT": "1000000",
            }
            args.redis_url = redis_server.url
            app = bench_app(workdir, redis_server.url, args.workers, env)
            app.start()
            host, port = "127.0.0.1", app.port
            print(f"simulate_sale: app on {app.base_url} (logs in {workdir})", flush=True)
        else:
            parts = urlsplit(args.url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
        started = time.monotonic()
        sale = asyncio.run(Simulation(host, port, args).run())
        result = report(sale, args, time.monotonic() - started)
    finally:
        if app is not None:
            app.stop()
        if redis_server is not None:
            redis_server.stop()
    print("\n".join(result.lines))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
