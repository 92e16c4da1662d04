"""``create_app(settings)``: routes, lifespan (Redis client, window watcher, slider), templates."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from redis.exceptions import RedisError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from webapp.embedded import follow_supervisor
from webapp.logs import AccessLog, RequestIdMiddleware
from webapp.metrics import LatencyMiddleware
from webapp.queue.activity import Activity
from webapp.queue.controls import Pace
from webapp.queue.events import EventLog
from webapp.queue.joinlimit import JoinLimited, JoinRateLimit
from webapp.queue.keys import queue_keys
from webapp.queue.leader import Lease, new_instance_id
from webapp.queue.operator import Operator
from webapp.queue.slider import Slider
from webapp.queue.store import DrawPlan, QueueStore
from webapp.queue.watcher import WindowWatcher
from webapp.redis_client import RedisClient, connect
from webapp.room import WaitingRoom, WindowUnknownError
from webapp.settings import Settings, SettingsError
from webapp.tokens import TokenCodec
from webapp.web import admin, api, metrics_route, origin, pages, probes
from webapp.web.admin_auth import AdminAuth
from webapp.web.assets import STATIC_MAX_AGE, VENDOR_MAX_AGE, asset_router
from webapp.web.caching import NoStoreByDefault
from webapp.web.cookies import CSRF_COOKIE, SecureCookiesMiddleware, room_cookie_path
from webapp.web.errors import http_error, internal_error, join_limited, unavailable
from webapp.web.filters import FILTERS
from webapp.web.head import HeadAsGet
from webapp.web.lane import Lane
from webapp.web.paths import PrefixMount, template_url_for
from webapp.web.schema_page import PlainSchemaPage
from webapp.web.sizes import MAX_BODY_BYTES, RequestSizeMiddleware

log = logging.getLogger("webapp")


CSRF_EXEMPT_PATHS = [
    "^/join$",
    "^/status$",
    "^/draw$",
    "^/livez$",
    "^/readyz$",
    "^/servez$",
    "^/schema",
    "^/static/",
    "^/vendor/",
    # Bearer-token only (no cookie is accepted there), so a forged cross-site request carries no credential.
    "^/admin/api/",
    "^/metrics$",
    # Origins' calls: a public key set, forward-auth subrequests and Bearer-only pass exchange (no cookie set).
    "^/\\.well-known/",
    "^/auth$",
    "^/pass$",
]


def project_root() -> Path:
    """Where templates/, static/ and node_modules/ live: beside the package, else the working directory."""
    beside = Path(__file__).resolve().parent.parent
    return beside if (beside / "templates").is_dir() else Path.cwd()


def _directories(settings: Settings, name: str) -> list[Path | os.PathLike[Any] | str]:
    """The operator's theme directory first (if any), then ours: a theme may override any file."""
    ours = project_root() / name
    return [settings.theme_dir / name, ours] if settings.theme_dir is not None else [ours]


def _template_config(settings: Settings) -> TemplateConfig[JinjaTemplateEngine]:
    def register_filters(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(FILTERS)
        # Litestar's url_for ignores the ASGI root_path: ours writes every URL under ROOT_PATH.
        engine.register_template_callable(key="url_for", template_callable=template_url_for)

    return TemplateConfig(
        directory=_directories(settings, "templates"), engine=JinjaTemplateEngine, engine_callback=register_filters
    )


def build_room(
    settings: Settings, redis: RedisClient, clock: Callable[[], float] = time.time
) -> tuple[WaitingRoom, Slider]:
    """Wire one replica's queue: store, window watcher, waiting room, and the slider that may lead."""
    keys = queue_keys(settings.queue_name)
    plan = None if settings.sale_opens_at is None else DrawPlan(round(settings.sale_opens_at * 1000))
    store = QueueStore(redis, keys, settings.window_size, settings.window_interval, Pace.of(settings), plan)
    watcher = WindowWatcher(
        store, refresh=settings.snapshot_refresh, stale_after=max(1.0, 10 * settings.snapshot_refresh)
    )
    slider = Slider(
        store, Lease(redis, keys.leader, new_instance_id(), settings.lease_ttl), events=EventLog(redis, keys)
    )
    codec = TokenCodec(
        settings.jwt_secret, settings.queue_name, settings.pass_keys, settings.pass_issuer, settings.pass_aud
    )
    limit = JoinRateLimit(settings.join_rate_limit)
    room = WaitingRoom(settings, codec, store, watcher, limit, clock)
    room.activity = Activity(redis, keys, slider.lease.instance_id)
    return room, slider


def _log_pace_difference(room: WaitingRoom, settings: Settings) -> None:
    """Say so when this replica's environment asks for another pace than the queue's stored one."""
    view = room.watcher.view()
    if view is None:
        return
    stored, own = view.controls.pace, Pace.of(settings)
    if stored != own:
        log.warning(
            "this replica's WINDOW_SIZE/WINDOW_INTERVAL/ACTIVE_WINDOW_COUNT (%d/%g/%d) differ from the queue's stored "
            "pace (%d/%g/%d): the stored pace is in effect on every replica; change it with PUT /admin/api/pace",
            own.window_size,
            own.window_interval,
            own.active_window_count,
            stored.window_size,
            stored.window_interval,
            stored.active_window_count,
        )


def _log_draw(room: WaitingRoom, settings: Settings) -> None:
    """Say what a scheduled sale will do: its commitment, or why SALE_OPENS_AT has no effect here."""
    view = room.watcher.view()
    if settings.sale_opens_at is None or view is None:
        return
    if view.draw is None:
        log.warning(
            "SALE_OPENS_AT is set but queue %r already existed without a draw: no pre-queue (use a new QUEUE_NAME)",
            settings.queue_name,
        )
        return
    if view.draw.opens_at_ms != round(settings.sale_opens_at * 1000):
        log.warning("this replica's SALE_OPENS_AT differs from the queue's stored opening: the stored one is in effect")
    log.info("scheduled sale: the draw's commitment is sha256(seed) = %s", view.draw.commitment)


def create_app(settings: Settings | None = None, clock: Callable[[], float] = time.time) -> Litestar:
    """Build the application; settings default to the process environment (for ``uvicorn --factory``)."""
    if settings is None:
        settings = Settings.from_env(os.environ)
        follow_supervisor(os.environ)
    redis_url = settings.redis_url
    if redis_url is None:
        raise SettingsError(
            "REDIS_URL",
            "no Redis configured: set REDIS_URL or REDIS_ADDR (python -m webapp starts one for development)",
        )
    if settings.secret_generated:
        log.warning(
            "JWT_SECRET is unset: this process signs with a secret of its own, so other workers and replicas "
            "refuse its tickets; set JWT_SECRET (python -m webapp shares one generated secret with its workers)"
        )
    if settings.pass_keys_generated:
        log.warning(
            "PASS_KEYS_DIR is unset: this process signs passes with a key of its own (kid %s), so other workers "
            "and replicas refuse its passes; set PASS_KEYS_DIR (python -m webapp shares one generated key with "
            "its workers)",
            settings.pass_keys.signing.kid,
        )
    else:
        log.info(
            "passes signed by key %s (%s); %d key(s) published on /.well-known/jwks.json",
            settings.pass_keys.signing.kid,
            settings.pass_keys.source,
            len(settings.pass_keys.published),
        )
    if settings.admin_token is None:
        log.info("ADMIN_TOKEN is unset: the operator console (/admin) and its API are off and answer 404")
    else:
        log.info(
            "operator console on %s/admin (log in with ADMIN_TOKEN); JSON API on %s/admin/api/",
            settings.root_path,
            settings.root_path,
        )
    if settings.root_path:
        log.info(
            "serving under ROOT_PATH %s/ (the proxy passes the prefix through); /livez, /readyz and /servez "
            "also answer at the root for probes",
            settings.root_path,
        )
    if settings.cliff_edge:
        log.warning("ACTIVE_WINDOW_COUNT is 1: a visitor may turn active and expire on the same slide (the cliff edge)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = connect(redis_url, settings.redis_timeout)
        room, slider = build_room(settings, redis, clock)
        watcher = room.watcher
        app.state.room = room
        keys = room.store.keys
        app.state.admin_auth = AdminAuth(redis, keys, settings.admin_token, settings.metrics_token)
        app.state.operator = Operator(room.store, EventLog(redis, keys), settings.queue_name)
        try:
            await watcher.refresh_once()
        except RedisError as exc:
            log.warning("Redis is not reachable at start-up (%s); serving 503 until it is", exc)
        _log_pace_difference(room, settings)
        _log_draw(room, settings)
        # What is built by now lives as long as the process: keep it out of every later full collection,
        # whose pause grew with the app's size and held up every poll in flight (docs/performance.md).
        gc.freeze()
        tasks = [asyncio.create_task(watcher.run()), asyncio.create_task(slider.run())]
        if room.activity is not None:
            tasks.append(asyncio.create_task(room.activity.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: shutdown must finish well inside Kubernetes' grace period whatever happens.
            # (asyncio.wait, not gather: gather was seen never to return under anyio's lifespan.)
            await asyncio.wait(tasks, timeout=2)
            await slider.stop()
            await redis.aclose()

    htmx_dist = project_root() / "node_modules" / "htmx.org" / "dist"
    if not (htmx_dist / "htmx.min.js").is_file():
        log.error("htmx is not installed at %s (run scripts/setup); pages will work without JavaScript", htmx_dist)
    app = Litestar(
        route_handlers=[
            api.join,
            api.status,
            api.draw,
            probes.livez,
            probes.readyz,
            probes.servez,
            pages.room_page,
            pages.room_status,
            pages.room_join,
            pages.room_rejoin,
            pages.checkout,
            pages.buy,
            origin.jwks,
            origin.forward_auth,
            origin.exchange_ticket,
            *admin.API_HANDLERS,
            *admin.CONSOLE_HANDLERS,
            metrics_route.metrics_endpoint,
            asset_router("/static", "static", _directories(settings, "static"), STATIC_MAX_AGE),
            asset_router("/vendor", "vendor", [htmx_dist], VENDOR_MAX_AGE),
        ],
        lifespan=[lifespan],
        # Logging is configured once by the entry point (webapp.logs): Litestar must not re-configure the root logger.
        logging_config=None,
        middleware=[
            RequestIdMiddleware,
            LatencyMiddleware,
            RequestSizeMiddleware(),
            SecureCookiesMiddleware(settings.cookie_secure),
        ],
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[HTMXPlugin()],
        template_config=_template_config(settings),
        csrf_config=CSRFConfig(
            secret=hashlib.sha256(b"csrf:" + settings.jwt_secret).hexdigest(),
            cookie_name=CSRF_COOKIE,
            cookie_path=room_cookie_path(settings.root_path),
            cookie_httponly=True,
            cookie_secure=settings.cookie_secure is True,
            cookie_samesite="lax",
            header_name="x-csrftoken",
            # The JSON API sets no cookie, so a forged cross-site POST /join gains nothing; API clients have
            # no CSRF token to send. Probes, the API and assets skip the per-request token cookie too.
            # With the console off every /admin route is a 404, also for a POST without a token.
            exclude=CSRF_EXEMPT_PATHS if settings.admin_token is not None else [*CSRF_EXEMPT_PATHS, "^/admin"],
        ),
        exception_handlers={
            RedisError: unavailable,
            WindowUnknownError: unavailable,
            JoinLimited: join_limited,
            HTTPException: http_error,
            Exception: internal_error,
        },
        openapi_config=OpenAPIConfig(
            title="session-queue",
            version="0.1.0",
            path="/schema",
            servers=[Server(url=settings.root_path or "/")],
            render_plugins=[PlainSchemaPage("/schema"), JsonRenderPlugin(), YamlRenderPlugin()],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
    )
    # Outside Litestar's router (which answers HEAD with 405 before any middleware runs).
    app.asgi_handler = NoStoreByDefault(HeadAsGet(app.asgi_handler))
    # In front of the layers above (inside the prefix): repeated polls and plain joins, answered as they would be.
    app.asgi_handler = Lane(app.asgi_handler)
    if settings.root_path:
        app.asgi_handler = PrefixMount(app.asgi_handler, settings.root_path)
    app.asgi_handler = AccessLog(app.asgi_handler, settings.access_log, settings.root_path)
    if settings.trusted_proxies:
        # X-Forwarded-For/-Proto from TRUSTED_PROXIES only, before anything reads the client or scheme:
        # the app's own, not the server's, so it holds however the app is served.
        proxied = ProxyHeadersMiddleware(cast(Any, app.asgi_handler), trusted_hosts=list(settings.trusted_proxies))
        app.asgi_handler = cast(Any, proxied)  # uvicorn's ASGI types and Litestar's differ only in name
    return app
