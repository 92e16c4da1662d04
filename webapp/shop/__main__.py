"""``python -m webapp.shop``: validate the shop's settings, then serve it with uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

import uvicorn

from webapp.shop.app import create_app
from webapp.shop.settings import ShopSettings, ShopSettingsError

log = logging.getLogger("webapp.shop")


def main(environ: Mapping[str, str] = os.environ) -> int:
    try:
        settings = ShopSettings.from_env(environ)
    except ShopSettingsError as exc:
        print(f"webapp.shop: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.info(
        "demo shop on http://%s:%d/ — visitors wait at %s; passes verified with the keys at %s",
        "localhost" if settings.host == "127.0.0.1" else settings.host,
        settings.port,
        settings.room_url,
        settings.jwks_url,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
