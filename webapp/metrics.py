"""Prometheus metrics: per-process counters and latencies, and queue-wide gauges read from Redis at scrape time.

With several uvicorn workers, ``python -m webapp`` points ``PROMETHEUS_MULTIPROC_DIR`` at a directory it
creates and wipes; each worker's counters then go to files there and every scrape, whichever worker
answers it, adds them up. Queue-wide values (people waiting, window end, paused) are not per worker:
they are read from Redis by the scrape itself and reported once, never summed across workers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_OWN = CollectorRegistry()

JOINS = Counter("session_queue_joins", "Places given in the queue.", registry=_OWN)
ADMISSIONS = Counter("session_queue_admissions", "Access passes given (visitors admitted to the sale).", registry=_OWN)
STATUS_POLLS = Counter(
    "session_queue_status_polls", "Status polls answered (JSON API and page fragments).", registry=_OWN
)
SLIDES = Counter("session_queue_slides", "Window slides made by this process while it led.", registry=_OWN)
REDIS_ERRORS = Counter("session_queue_redis_errors", "Requests answered 503 because Redis failed.", registry=_OWN)
REQUEST_SECONDS = Histogram(
    "session_queue_request_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    registry=_OWN,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


@dataclass(frozen=True)
class QueueGauges:
    """The queue as Redis holds it at scrape time."""

    waiting: int
    window_end: int
    last_position: int
    paused: bool
    window_size: int
    window_interval: float
    epoch: int
    replicas_alive: int


class _QueueCollector(Collector):
    def __init__(self, gauges: QueueGauges | None) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("session_queue_redis_up", "1 when this scrape could read the queue from Redis.")
        up.add_metric([], 0.0 if self.gauges is None else 1.0)
        yield up
        g = self.gauges
        if g is None:
            return
        for name, doc, value in (
            ("waiting", "People waiting beyond the window.", g.waiting),
            ("window_end", "The last position the window lets in.", g.window_end),
            ("last_position", "The last position issued.", g.last_position),
            ("paused", "1 while admission is paused.", int(g.paused)),
            ("window_size", "Places let in per slide (the pace in effect).", g.window_size),
            ("window_interval_seconds", "Seconds between slides (the pace in effect).", g.window_interval),
            ("epoch", "The queue's epoch (grows by one with each reset).", g.epoch),
            ("replicas_alive", "Replicas that reported in the last 15 s.", g.replicas_alive),
        ):
            yield GaugeMetricFamily(f"session_queue_{name}", doc, value=float(value))


def render(gauges: QueueGauges | None) -> bytes:
    """The text exposition: every worker's counters (added up in multi-process mode), then the queue gauges."""
    if os.environ.get(MULTIPROC_VAR):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)  # type: ignore[no-untyped-call]
    else:
        process_registry = _OWN
    queue_registry = CollectorRegistry()
    queue_registry.register(_QueueCollector(gauges))
    return generate_latest(process_registry) + generate_latest(queue_registry)


SLOW_REQUEST_SECONDS = 1.0
"""A request slower than this is logged as a warning, whatever ``ACCESS_LOG`` says."""

slow_log = logging.getLogger("webapp.slow")


class LatencyMiddleware:
    """Times each HTTP request by its route template (bounded label values, never the raw path).

    Also the one place slow requests are logged: the access log is quiet for polls by default, and a
    slow poll is exactly what an operator must still hear about.
    """

    def __init__(self, app: ASGIApp, slow_after: float = SLOW_REQUEST_SECONDS) -> None:
        self.app = app
        self.slow_after = slow_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            observe_request(route, scope.get("method", "GET"), time.perf_counter() - start, self.slow_after)


def observe_request(route: str, method: str, elapsed: float, slow_after: float = SLOW_REQUEST_SECONDS) -> None:
    """Record one request's time under its route template; warn when it was slow."""
    REQUEST_SECONDS.labels(route, method).observe(elapsed)
    if elapsed >= slow_after:
        slow_log.warning("slow request: %s %s took %.3f s", method, route, elapsed)
