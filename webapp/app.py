"""``create_app(settings)``: routes, lifespan (Redis client, window watcher, slider), templates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from redis.exceptions import RedisError

from webapp.queue.keys import queue_keys
from webapp.queue.leader import Lease, new_instance_id
from webapp.queue.slider import Slider
from webapp.queue.store import QueueStore
from webapp.queue.watcher import WindowWatcher
from webapp.redis_client import connect
from webapp.room import WaitingRoom, WindowUnknownError
from webapp.settings import Settings, SettingsError
from webapp.tokens import TokenCodec
from webapp.web import api, probes
from webapp.web.errors import unavailable

log = logging.getLogger("webapp")


def _room(state: State) -> WaitingRoom:
    room: WaitingRoom = state.room
    return room


def create_app(settings: Settings | None = None, clock: Callable[[], float] = time.time) -> Litestar:
    """Build the application; settings default to the process environment (for ``uvicorn --factory``)."""
    if settings is None:
        settings = Settings.from_env(os.environ)
    redis_url = settings.redis_url
    if redis_url is None:
        raise SettingsError(
            "REDIS_URL",
            "no Redis configured: set REDIS_URL or REDIS_ADDR (python -m webapp starts one for development)",
        )
    if settings.cliff_edge:
        log.warning("ACTIVE_WINDOW_COUNT is 1: a visitor may turn active and expire on the same slide (the cliff edge)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = connect(redis_url, settings.redis_timeout)
        keys = queue_keys(settings.queue_name)
        store = QueueStore(redis, keys, settings.window_size, settings.window_interval)
        watcher = WindowWatcher(
            store, refresh=settings.snapshot_refresh, stale_after=max(1.0, 10 * settings.snapshot_refresh)
        )
        slider = Slider(store, Lease(redis, keys.leader, new_instance_id(), settings.lease_ttl))
        app.state.room = WaitingRoom(
            settings, TokenCodec(settings.jwt_secret, settings.queue_name), store, watcher, clock
        )
        try:
            await watcher.refresh_once()
        except RedisError as exc:
            log.warning("Redis is not reachable at start-up (%s); serving 503 until it is", exc)
        tasks = [asyncio.create_task(watcher.run()), asyncio.create_task(slider.run())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await slider.stop()
            await redis.aclose()

    return Litestar(
        route_handlers=[api.join, api.status, probes.livez, probes.readyz],
        dependencies={"room": Provide(_room, sync_to_thread=False)},
        lifespan=[lifespan],
        exception_handlers={RedisError: unavailable, WindowUnknownError: unavailable},
        openapi_config=OpenAPIConfig(title="session-queue", version="0.1.0", path="/schema"),
    )
