"""``GET /metrics``: Prometheus text, for the admin token or METRICS_TOKEN only."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from redis.exceptions import RedisError

from webapp import metrics
from webapp.queue.activity import ALIVE_SECONDS
from webapp.queue.operator import Operator
from webapp.web.admin import operator_of
from webapp.web.admin_auth import require_metrics_token


async def queue_gauges(operator: Operator) -> metrics.QueueGauges | None:
    """The queue-wide values, read from Redis now (two round trips); None when Redis does not answer."""
    store = operator.store
    try:
        snap = await store.snapshot()
        if not snap.seeded or snap.controls is None:
            return None
        alive = await store.redis.zcount(store.keys.replicas, snap.redis_now_ms - ALIVE_SECONDS * 1000, "+inf")
    except RedisError:
        return None
    c = snap.controls
    return metrics.QueueGauges(
        waiting=max(0, snap.last_position - snap.window_end),
        window_end=snap.window_end,
        last_position=snap.last_position,
        paused=c.paused,
        window_size=c.pace.window_size,
        window_interval=c.pace.window_interval,
        epoch=c.epoch,
        replicas_alive=int(alive),
    )


@get("/metrics", tags=["operations"], security=[{"bearer": []}], include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, State]) -> Response[bytes]:
    await require_metrics_token(request)
    body = metrics.render(await queue_gauges(operator_of(request)))
    return Response(body, media_type=metrics.CONTENT_TYPE)
