"""``python -m webapp``: validate settings, start an embedded Redis if none is configured, serve."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import MutableMapping

import uvicorn

from webapp.embedded import SUPERVISOR_PID_VAR, EmbeddedRedis
from webapp.settings import Settings, SettingsError

log = logging.getLogger("webapp")


def main(environ: MutableMapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        print(f"session-queue: invalid configuration: {exc}", file=sys.stderr)
        return 2
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        try:
            embedded = EmbeddedRedis.start()
        except RuntimeError as exc:
            print(f"session-queue: {exc}", file=sys.stderr)
            return 2
        log.warning(
            "no REDIS_URL or REDIS_ADDR: started an embedded %s at %s — for development only, "
            "its data is gone when this process stops",
            os.path.basename(embedded.binary),
            embedded.url,
        )
        environ["REDIS_URL"] = embedded.url
    if settings.secret_generated:
        log.warning("no JWT_SECRET: generated one for this run; tickets will not survive a restart")
        environ["JWT_SECRET"] = settings.jwt_secret.decode()
    # Workers re-read the environment in create_app(); share the generated values with them.
    os.environ.update({k: environ[k] for k in ("REDIS_URL", "JWT_SECRET") if k in environ})
    if settings.workers > 1:
        os.environ[SUPERVISOR_PID_VAR] = str(os.getpid())
    log.info(
        "waiting room on http://%s:%d/",
        "localhost" if settings.host in ("127.0.0.1", "0.0.0.0") else settings.host,  # noqa: S104
        settings.port,
    )
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully; with this handler
    # in place that returns here instead of killing us (exit 0, embedded server stopped, logs flushed).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn.run(
            "webapp.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
            timeout_graceful_shutdown=10,
            log_level="info",
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
