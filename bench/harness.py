"""``bench/run``: throughput, latency, Redis cost and page weight of the waiting room, in one table.

Starts its own redis-server and the app (1 then 2 uvicorn workers) on free loopback ports, drives each
route in short alternating runs so the shared cores' noise hits every route alike, and prints ratios
against a framework hello route served by the same process. ``POST /join (no limit)`` is served by a
second app, started alongside with ``JOIN_RATE_LIMIT=0`` and measured in the same alternating rounds,
so the table shows what the per-client join limit costs.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urljoin

import redis

from bench.client import HttpConnection
from bench.measure import (
    CommandCount,
    LoadResult,
    Runs,
    command_count,
    python_load,
    route_requests,
    run_wrk,
    wrk_available,
)
from bench.servers import bench_app, bench_redis, run_directory
from tests.support import AppProcess, RedisServer
from webapp.passkeys import PassKeys
from webapp.tokens import Ticket, TokenCodec

ROUTES = ("hello", "status", "fragment", "auth", "join", "join-nolimit")
LABELS = {
    "hello": "GET /bench/hello",
    "status": "GET /status",
    "auth": "GET /auth",
    "fragment": "GET /room/status",
    "join": "POST /join",
    "join-nolimit": "POST /join (no limit)",
}
# The wrk script (bench/wrk/<name>.lua) and request shape of each route.
SCRIPTS = {route: route for route in ROUTES} | {"join-nolimit": "join"}
APP_ENV = {
    # Nobody is admitted during a run: every ticket stays waiting, the window never slides.
    "WINDOW_SIZE": "10",
    "WINDOW_INTERVAL": "86400",
    # One client address drives all joins: lift the per-address limit but keep its Redis cost.
    "JOIN_RATE_LIMIT": "1000000",
}
# The same app with the join rate limit switched off (0): no limiter round trip per new place.
NO_LIMIT_ENV = APP_ENV | {"JOIN_RATE_LIMIT": "0"}
# The pass key the apps sign with, known here so the harness can sign the passes GET /auth is driven with.
PASS_KEYS = PassKeys.generate()
PASS_ENV = {"PASS_KEY": PASS_KEYS.signing.pem().decode()}
PASSES = 1000


@dataclass
class RouteTotals(Runs):
    redis: CommandCount = field(default_factory=lambda: CommandCount(0, 0))
    raw_commands: int = 0


@dataclass
class ConfigResult:
    workers: int
    idle_per_second: tuple[float, float]
    routes: dict[str, RouteTotals]
    skipped: dict[str, str]


async def join_many(base_url: str, count: int, connections: int, keep: bool) -> list[str]:
    """``count`` POST /join through ``connections`` keep-alive clients; the tickets if ``keep``."""
    host, port = base_url.removeprefix("http://").split(":")
    tokens: list[str] = []
    remaining = count

    async def client() -> None:
        nonlocal remaining
        connection = HttpConnection(host, int(port))
        try:
            while remaining > 0:
                remaining -= 1
                reply = await connection.request("POST", "/join")
                if reply.status not in (200, 201):
                    raise RuntimeError(f"POST /join answered {reply.status}: {reply.body[:200]!r}")
                if keep:
                    tokens.append(json.loads(reply.body)["token"])
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(min(connections, count))))
    return tokens


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own server
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - our own server
            return int(reply.status), bytes(reply.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def route_missing(base_url: str, route: str, ticket: str) -> str | None:
    """Why ``route`` cannot be measured on this build (it 404s), or None."""
    if route != "fragment":
        return None
    status, _ = http_get(base_url + "/room/status", {"HX-Request": "true", "Cookie": f"sq_ticket={ticket}"})
    return "GET /room/status answered 404: not built yet, skipped" if status == 404 else None


def signed_passes(count: int, now: int) -> list[str]:
    """``count`` passes as the apps sign them (same key, issuer, audience), each for its own position."""
    codec = TokenCodec(b"bench-only-ticket-secret-not-used-here", "main", PASS_KEYS)
    return [
        codec.issue_pass(Ticket(p, f"bench-ticket-{p:06d}", now, now + 3600, 0), now, 3600) for p in range(1, count + 1)
    ]


def verify_costs(rounds: int = 2000) -> dict[str, str]:
    """Microseconds per pass verification (ES256, what an origin or an uncached /auth pays), per ticket
    verification (HS256) and per pass signature, measured in this process on one core."""
    now = int(time.time())
    codec = TokenCodec(b"bench-only-ticket-secret-of-32-bytes!", "main", PASS_KEYS)
    ticket_token = codec.issue_ticket(1, 10, now, 3600)
    ticket = codec.read_ticket(ticket_token, now)
    passes = signed_passes(50, now)

    def per_call(action: Callable[[int], object]) -> float:
        started = time.perf_counter()
        for i in range(rounds):
            action(i)
        return (time.perf_counter() - started) / rounds * 1e6

    verify = per_call(lambda i: codec.read_pass(passes[i % 50], now))
    ticket_verify = per_call(lambda i: codec.read_ticket(ticket_token, now))
    sign = per_call(lambda i: codec.mint_pass(ticket, now, 600))
    print(f"  pass verify {verify:.0f} µs, ticket verify {ticket_verify:.0f} µs, pass sign {sign:.0f} µs", flush=True)
    return {
        "verify_pass_us": f"{verify:.0f}",
        "verify_ticket_us": f"{ticket_verify:.0f}",
        "sign_pass_us": f"{sign:.0f}",
    }


def load(
    app: AppProcess, route: str, args: argparse.Namespace, inputs: dict[str, tuple[Path, list[str]]]
) -> LoadResult:
    script = SCRIPTS[route]
    tokens_file, tokens = inputs.get(script, inputs["status"])
    if wrk_available() and not args.python_load:
        extra = [str(tokens_file)] if script in inputs else []
        return run_wrk(app.base_url, script, args.seconds, args.connections, extra, tokens_file.parent)
    make = route_requests(script, tokens)
    return asyncio.run(python_load("127.0.0.1", app.port, make, args.seconds, args.connections))


def bench_config(
    redis_server: RedisServer, workers: int, args: argparse.Namespace, workdir: Path, extras: dict[str, str]
) -> ConfigResult:
    """All route runs against one app configuration; memory and page weight with the first one.

    With ``join-nolimit`` among the routes, a second app (``JOIN_RATE_LIMIT=0``, same Redis, same queue)
    runs alongside and takes that route's load; the idle baseline is measured with both running.
    """
    with redis_server.client(5.0) as client:
        client.flushall()
    app = bench_app(workdir, redis_server.url, workers, APP_ENV | PASS_ENV)
    _started.append(app)
    app.start()
    unlimited: AppProcess | None = None
    try:
        if "join-nolimit" in args.routes:
            unlimited = bench_app(workdir, redis_server.url, workers, NO_LIMIT_ENV | PASS_ENV)
            _started.append(unlimited)
            unlimited.start()
        tickets = asyncio.run(join_many(app.base_url, args.tickets, 16, keep=True))
        tickets_file = workdir / f"tickets-{workers}w.txt"
        tickets_file.write_text("\n".join(tickets) + "\n")
        passes = signed_passes(PASSES, int(time.time()))
        passes_file = workdir / f"passes-{workers}w.txt"
        passes_file.write_text("\n".join(passes) + "\n")
        inputs = {"status": (tickets_file, tickets), "fragment": (tickets_file, tickets), "auth": (passes_file, passes)}
        skipped = {r: why for r in args.routes if (why := route_missing(app.base_url, r, tickets[-1])) is not None}
        for why in skipped.values():
            print(f"  note: {why}", flush=True)
        routes = [r for r in args.routes if r not in skipped]
        with redis_server.client(5.0) as client:
            # Idle baseline: the watcher's refreshes and the slider's lease renewals, per second.
            before, started = command_count(client), time.perf_counter()
            time.sleep(args.seconds)  # the measurement period itself, not a synchronisation
            idle = command_count(client) - before
            idle_seconds = time.perf_counter() - started
            idle_rate = (idle.commands / idle_seconds, idle.scripts / idle_seconds)
            print(f"  {workers} worker(s): idle Redis traffic {idle_rate[0]:.1f} commands/s", flush=True)
            totals = {r: RouteTotals() for r in routes}
            # Unmeasured warm-up of the routes that remember verified tokens, so every round sees the steady
            # state a real visitor's repeated requests create (otherwise round 1 pays one verify per token).
            warm_up = argparse.Namespace(**{**vars(args), "seconds": min(2.0, args.seconds)})
            for route in (r for r in routes if r in inputs):
                load(app, route, warm_up, inputs)
            for round_number in range(args.rounds):
                order = routes if round_number % 2 == 0 else list(reversed(routes))
                for route in order:
                    before = command_count(client)
                    target = unlimited if route == "join-nolimit" and unlimited is not None else app
                    result = load(target, route, args, inputs)
                    used = command_count(client) - before
                    background = CommandCount(
                        round(idle_rate[0] * result.seconds), round(idle_rate[1] * result.seconds)
                    )
                    totals[route].runs.append(result)
                    totals[route].raw_commands += used.commands
                    totals[route].redis = CommandCount(
                        totals[route].redis.commands + used.commands - background.commands,
                        totals[route].redis.scripts + used.scripts - background.scripts,
                    )
                    print(
                        f"  {workers}w round {round_number + 1} {LABELS[route]:<21} {result.rate:9.0f} req/s "
                        f"p99 {result.p99_ms:6.1f} ms  non-2xx {result.bad}",
                        flush=True,
                    )
            if workers == args.workers[0]:
                extras.update(memory_per_visitor(app, client, args.joins))
                extras.update(page_weight(app.base_url))
    finally:
        if unlimited is not None:
            unlimited.stop()
            _started.remove(unlimited)
        app.stop()
        _started.remove(app)
    return ConfigResult(workers, idle_rate, totals, skipped)


def memory_per_visitor(app: AppProcess, client: redis.Redis, joins: int) -> dict[str, str]:
    """Redis memory before/after ``joins`` waiting joins, once the app's connection pool is warm.

    Every Redis connection the app opens costs Redis its client buffers (~20 KB): a warm-up burst at
    the same concurrency opens them first, so the difference is what the waiting visitors cost.
    """
    asyncio.run(join_many(app.base_url, max(64, joins // 20), 64, keep=False))
    before = client.info("memory")
    clients_before = int(client.info("clients")["connected_clients"])
    keys_before = int(client.dbsize())
    started = time.perf_counter()
    asyncio.run(join_many(app.base_url, joins, 64, keep=False))
    elapsed = time.perf_counter() - started
    after = client.info("memory")
    clients_after = int(client.info("clients")["connected_clients"])
    keys_after = int(client.dbsize())
    growth = int(after["used_memory"]) - int(before["used_memory"])
    dataset = int(after["used_memory_dataset"]) - int(before["used_memory_dataset"])
    print(f"  memory: {joins} joins in {elapsed:.1f} s, used_memory grew {growth} B", flush=True)
    return {
        "memory_before": str(before["used_memory"]),
        "memory_after": str(after["used_memory"]),
        "memory_joins": str(joins),
        "memory_per_visitor": f"{growth / joins:.2f}",
        "memory_detail": (
            f"keys {keys_before} -> {keys_after}, used_memory_dataset {dataset:+d} B, "
            f"Redis clients {clients_before} -> {clients_after}"
        ),
    }


def page_weight(base_url: str) -> dict[str, str]:
    status, html = http_get(base_url + "/")
    if status != 200:
        print(f"  note: GET / answered {status}: page weight skipped", flush=True)
        return {}
    text = html.decode("utf-8", "replace")
    assets = re.findall(r'<link[^>]+href="([^"]+\.css[^"]*)"', text) + re.findall(
        r'<script[^>]+src="([^"]+\.js[^"]*)"', text
    )
    parts = [("GET /", len(html), len(gzip.compress(html)))]
    for href in assets:
        code, body = http_get(urljoin(base_url + "/", href))
        if code == 200:
            parts.append((href, len(body), len(gzip.compress(body))))
        else:
            print(f"  note: {href} answered {code}", flush=True)
    total = sum(p[2] for p in parts)
    detail = ", ".join(f"{name} {raw} B -> {packed} B" for name, raw, packed in parts)
    return {"page_gzip_total": str(total), "page_detail": detail}


def print_table(results: list[ConfigResult], extras: dict[str, str], args: argparse.Namespace) -> None:
    header = (
        f"{'workers':>7}  {'route':<21} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'÷hello':>7} "
        f"{'redis cmds/req':>14} {'(raw)':>7} {'scripts/req':>11} {'non-2xx':>7}"
    )
    print()
    generator = "wrk -t1" if wrk_available() and not args.python_load else "python asyncio generator"
    print(
        f"session-queue benchmark: {generator}, {args.connections} connections, {args.rounds} x {args.seconds:g} s "
        "per route (alternating order)"
    )
    print(header)
    print("-" * len(header))
    for config in results:
        hello = config.routes["hello"].rate if "hello" in config.routes else 0.0
        for route, totals in config.routes.items():
            served = max(1, totals.requests)
            ratio = totals.rate / hello if hello else 0.0
            bad = sum(r.bad + r.socket_errors for r in totals.runs)
            print(
                f"{config.workers:>7}  {LABELS[route]:<21} {totals.rate:>8.0f} {totals.mean('p50_ms'):>7.2f} "
                f"{totals.mean('p99_ms'):>7.2f} {ratio:>7.2f} "
                f"{totals.redis.commands / served:>14.4f} {totals.raw_commands / served:>7.4f} "
                f"{totals.redis.scripts / served:>11.4f} {bad:>7}"
            )
        for route in config.skipped:
            print(f"{config.workers:>7}  {LABELS[route]:<21} skipped (404)")
        print(
            f"{'':>7}  idle background: {config.idle_per_second[0]:.1f} Redis commands/s "
            f"({config.idle_per_second[1]:.1f} scripts/s), subtracted above; (raw) = before subtraction"
        )
    if "join-nolimit" in args.routes:
        print(
            f"{'':>7}  POST /join (no limit): a second app with JOIN_RATE_LIMIT=0, same Redis, same rounds; "
            "÷hello against the first app's hello"
        )
    print()
    if "verify_pass_us" in extras:
        print(
            f"Pass verification (ES256, uncached; what an origin pays per pass it has not seen): "
            f"{extras['verify_pass_us']} µs; ticket (HS256) {extras['verify_ticket_us']} µs; "
            f"pass signature {extras['sign_pass_us']} µs. GET /auth remembers verified passes."
        )
    if "memory_per_visitor" in extras:
        print(
            f"Redis used_memory: {extras['memory_before']} B -> {extras['memory_after']} B after "
            f"{extras['memory_joins']} waiting joins = {extras['memory_per_visitor']} B per waiting visitor "
            f"({extras['memory_detail']})"
        )
    if "page_gzip_total" in extras:
        total = int(extras["page_gzip_total"])
        print(f"Waiting page weight (gzip -9): {total} B = {total / 1024:.1f} KiB [{extras['page_detail']}]")


_started: list[AppProcess | RedisServer] = []


def _stop_everything(signum: int, frame: FrameType | None) -> None:
    for server in reversed(_started):
        server.stop()
    sys.exit(128 + signum)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark session-queue: req/s, latency, Redis commands per request, Redis memory per "
        "waiting visitor and page weight. Starts and stops its own redis-server and app.",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per route (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to run, comma-separated (default 1,2)")
    parser.add_argument("--tickets", type=int, default=1000, help="tickets cycled by the status runs (default 1000)")
    parser.add_argument("--joins", type=int, default=100_000, help="joins for the memory measurement (default 100000)")
    parser.add_argument(
        "--routes",
        default=",".join(ROUTES),
        help=f"routes to measure, comma-separated, hello always included (default {','.join(ROUTES)})",
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python generator even if wrk exists")
    parser.add_argument("--simulate", action="store_true", help="then run bench/simulate_sale.py (its defaults)")
    parser.add_argument("--visitors", type=int, default=None, help="visitors for --simulate (default 100000)")
    parser.add_argument(
        "--peer",
        metavar="BIN",
        default=None,
        help="instead: our app (first of --workers) against the peer server binary BIN (seed API), each with its "
        "own Redis, in CPU µs per request; bench/peer.py (also: python -m bench.peer --peer-bin BIN)",
    )
    parser.add_argument(
        "--granian",
        action="store_true",
        help="with --peer: also run our app under granian (not offered: docs/performance.md)",
    )
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    chosen = {r.strip() for r in str(args.routes).split(",") if r.strip()} | {"hello"}
    unknown = chosen - set(ROUTES)
    if unknown:
        parser.error(f"unknown route(s) {', '.join(sorted(unknown))}; choose from {', '.join(ROUTES)}")
    args.routes = [r for r in ROUTES if r in chosen]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.peer is not None:
        from bench import peer

        return peer.run(peer.options_from(args))
    if not wrk_available() and not args.python_load:
        print("note: wrk not found (apt-get install -y wrk); using the Python asyncio generator", flush=True)
    signal.signal(signal.SIGTERM, _stop_everything)
    signal.signal(signal.SIGINT, _stop_everything)
    workdir = run_directory()
    print(f"bench: logs and tickets in {workdir}", flush=True)
    redis_server = bench_redis(workdir)
    _started.append(redis_server)
    redis_server.start()
    extras: dict[str, str] = verify_costs()
    results: list[ConfigResult] = []
    try:
        for workers in args.workers:
            results.append(bench_config(redis_server, workers, args, workdir, extras))
    finally:
        redis_server.stop()
        _started.remove(redis_server)
    print_table(results, extras, args)
    if args.simulate:
        from bench import simulate_sale

        sale_args = [] if args.visitors is None else ["--visitors", str(args.visitors)]
        return simulate_sale.main(sale_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
