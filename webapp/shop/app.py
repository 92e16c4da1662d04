"""``create_app(settings)``: the demo sale site, every page behind the origin gate.

The gate is the Litestar way of using ``webapp.gate``: one :class:`~webapp.gate.KeySet` shared by the gate
instances Litestar builds for each route, so the key set is fetched once for the whole shop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Response, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from webapp.gate import STATE_KEY, Clock, KeySet, QueueGate, QueuePass
from webapp.shop.settings import ShopSettings

ALLOWED = ("/static/", "/healthz", "/readyz", "/favicon.ico")


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    price: str
    blurb: str


PRODUCTS = (
    Product("tour-tee", "Tour T-shirt", "€25", "Organic cotton, printed with this year's dates."),
    Product("vinyl", "Limited vinyl", "€39", "Numbered, 180 g, one per order."),
    Product("poster", "Signed poster", "€15", "A2, signed by the whole band."),
)


def _home() -> Path:
    """Where templates/ and static/ live: beside the package (a checkout), else the working directory."""
    beside = Path(__file__).resolve().parents[2]
    return beside if (beside / "templates" / "shop").is_dir() else Path.cwd()


def _view(request: Request[Any, Any, Any], clock: Clock, event_name: str, **context: Any) -> dict[str, Any]:
    queue_pass: QueuePass = request.scope["state"][STATE_KEY]
    expires = datetime.fromtimestamp(queue_pass.expires_at, tz=UTC)
    minutes_left = max(0, math.ceil((queue_pass.expires_at - clock()) / 60))
    return {
        "queue_pass": queue_pass,
        "expires_iso": expires.isoformat(),
        "expires_clock": expires.strftime("%H:%M:%S UTC"),
        "minutes_left": minutes_left,
        "products": PRODUCTS,
        "event_name": event_name,
        **context,
    }


def create_app(settings: ShopSettings | None = None, clock: Clock = time.time) -> Litestar:
    """The shop; settings default to the defaults (``python -m webapp.shop`` reads them from the environment)."""
    settings = settings or ShopSettings()
    keys = KeySet(settings.jwks_url, clock=clock)

    @get("/", sync_to_thread=False)
    def sale(request: Request[Any, Any, Any]) -> Template:
        return Template("shop/sale.html", context=_view(request, clock, settings.event_name))

    @get("/products/{slug:str}", sync_to_thread=False)
    def product(request: Request[Any, Any, Any], slug: FromPath[str]) -> Template:
        found = next((item for item in PRODUCTS if item.slug == slug), None)
        if found is None:
            raise NotFoundException("no such product")
        return Template("shop/product.html", context=_view(request, clock, settings.event_name, product=found))

    @get(["/healthz", "/readyz"], sync_to_thread=False)
    def healthz() -> Response[str]:
        """Open to probes (and tests' launchers): the shop runs; whether the room does is the gate's business."""
        return Response("ok", media_type="text/plain")

    def not_found(request: Request[Any, Any, Any], exc: Exception) -> Template:
        return Template("shop/not_found.html", status_code=404, context={"event_name": settings.event_name})

    async def close_keys() -> None:
        await keys.aclose()

    home = _home()
    return Litestar(
        route_handlers=[
            sale,
            product,
            healthz,
            create_static_files_router(path="/static", directories=[home / "static" / "shop"]),
        ],
        middleware=[
            DefineMiddleware(
                QueueGate,
                room_url=settings.room_url,
                audience=settings.pass_audience,
                issuer=settings.pass_issuer,
                allow=ALLOWED,
                site_name=settings.event_name,
                clock=clock,
                keys=keys,
            )
        ],
        template_config=TemplateConfig(directory=home / "templates", engine=JinjaTemplateEngine),
        exception_handlers={NotFoundException: not_found},
        on_shutdown=[close_keys],
        openapi_config=None,
    )
